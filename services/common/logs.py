"""Structured JSON logs, one event per line, with PII redacted.

Callers' phone numbers, e-mail addresses and card-like numbers must never
reach log storage, whoever wrote the log call, so redaction happens in the
formatter rather than at each call site. Because the formatter sees whatever
a request carried (a form field, a query string, an invalid org id), every
string is cut to a bounded length first and every pattern runs in linear
time: a hostile request must never make logging itself the bottleneck.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import re
import sys
import time
from typing import Any

call_sid_var: contextvars.ContextVar[str] = contextvars.ContextVar("call_sid", default="")
org_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("org_id", default="")

# A logged string longer than this is cut (the rest is counted, not kept); tracebacks get more room.
MAX_FIELD_CHARS = 1_000
MAX_EXCEPTION_CHARS = 8_000
MAX_ITEMS = 50
# Characters that can sit inside a phone number, e-mail address or card number.
_TOKEN_PUNCTUATION = frozenset("._+-@()")
_NUMBER_PUNCTUATION = frozenset(" .+-()")

# Order matters: cards are longer digit runs than phone numbers. Every pattern is linear on any input: the
# e-mail pattern may only start where a run of address characters starts (the lookbehind) and never gives
# characters back (possessive quantifiers), so a long run without an "@" is scanned once, not once per
# position; the number patterns have bounded repetitions only.
_REDACTIONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?<![\w.+-])[\w.+-]++@[\w-]++(?:\.[\w-]++)+"), "[email]"),
    (re.compile(r"(?<![\w+])(?:\d[ -]?){12,18}\d(?!\w)"), "[card]"),
    (
        re.compile(
            r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)\s?|\d{2,4}[\s.-]?)\d{3,4}[\s.-]?\d{3,4}(?!\w)"
            # International numbers in any grouping ("+33 6 12 34 56 78"): a plus and 7 to 15 digits.
            r"|\+\d(?:[\s.-]?\d){6,14}(?!\w)"
            # National numbers with a trunk 0 grouped by spaces ("06 12 34 56 78", "0171 1234567"); dashes
            # are left out so dates like 01-02-2026 stay readable.
            r"|(?<![\w+.:/-])0\d(?: ?\d){7,10}(?![\w-])"
        ),
        "[phone]",
    ),
]


def redact(text: str) -> str:
    """Replace phone numbers, e-mail addresses and card-like numbers with placeholders."""
    for pattern, placeholder in _REDACTIONS:
        text = pattern.sub(placeholder, text)
    return text


def clip(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    """`text` cut to about `limit` characters, saying how many were dropped.

    The cut also drops the token it falls in and any groups of digits just
    before it, so half of a phone number or e-mail address is never left
    behind where the redaction patterns cannot recognise it.
    """
    if len(text) <= limit:
        return text
    end = limit
    while end > 0 and (text[end - 1].isalnum() or text[end - 1] in _TOKEN_PUNCTUATION):
        end -= 1
    while end > 0 and (text[end - 1].isdigit() or text[end - 1] in _NUMBER_PUNCTUATION):
        end -= 1
    return f"{text[:end]}…[{len(text) - end} more characters]"


def _redact_value(value: Any, limit: int = MAX_FIELD_CHARS) -> Any:
    if isinstance(value, str):
        return redact(clip(value, limit))
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in itertools.islice(value.items(), MAX_ITEMS)}
    if isinstance(value, (list, tuple)):
        return [_redact_value(item) for item in itertools.islice(value, MAX_ITEMS)]
    return value


def _without_query(value: Any) -> Any:
    """A URL or path argument without its query string: signed /audio URLs carry what the agent says to a
    caller, recording URLs lead to the caller's voice, and neither belongs in a log."""
    text = str(value) if isinstance(value, str) or type(value).__name__ == "URL" else None
    if text is not None and "?" in text and (text.startswith("/") or "://" in text[:16]):
        return text.split("?", 1)[0]
    return value


def _message(record: logging.LogRecord) -> str:
    """The record's message, with URL arguments (access logs, HTTP client logs) cut before their query."""
    if isinstance(record.args, tuple) and record.args:
        return str(record.msg) % tuple(_without_query(arg) for arg in record.args)
    return record.getMessage()


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object carrying the call id, org and event fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "event": _message(record),
        }
        if call_sid := call_sid_var.get():
            entry["call_sid"] = call_sid
        if org_id := org_id_var.get():
            entry["org_id"] = org_id
        entry.update(getattr(record, "fields", {}))
        entry = _redact_value(entry)
        if record.exc_info:
            entry["exception"] = _redact_value(self.formatException(record.exc_info), MAX_EXCEPTION_CHARS)
        return json.dumps(entry, default=lambda value: _redact_value(str(value)), ensure_ascii=False)


class EventLogger:
    """`log.info("shard.swapped", org_id=..., chunks=...)`: an event name plus fields."""

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(name)

    def _log(self, level: int, event: str, fields: dict[str, Any], exc_info: bool = False) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, event, extra={"fields": fields}, exc_info=exc_info)

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields, exc_info=True)


def get_logger(name: str) -> EventLogger:
    return EventLogger(name)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record of the process, ours and libraries', through the JSON formatter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
