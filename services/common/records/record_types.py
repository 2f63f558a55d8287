"""What the gateway tells the recorder, as plain values that travel through the queue and the spool.

Each record names its own key (call_sid, call_sid + turn index, or a UUID made when the fact happened), so
writing it twice has the same effect as writing it once: the spool can be replayed after a crash without
duplicating anything. Records serialise to one JSON line each (no pickle: a spool file is data, never code).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.common.records.models import utc_now

SPOOL_FORMAT_VERSION = 1


class CallOutcome(enum.StrEnum):
    """How a call ended; the column is a plain string, so a new outcome needs no migration."""

    COMPLETED = "completed"  # the caller or the agent said goodbye
    HUNG_UP = "hung_up"  # the caller hung up mid-conversation
    CALLBACK = "callback"  # a message was taken for a callback
    HANDOFF = "handoff"  # transferred to a person
    MAX_TURNS = "max_turns"
    ERROR = "error"  # the call failed on our side
    PROTOCOL_ERROR = "protocol_error"  # a media stream that broke the protocol


@dataclass(frozen=True)
class CallStarted:
    call_sid: str
    org_id: str
    dialled_number: str
    caller_number: str | None
    mode: str
    started_at: datetime = field(default_factory=utc_now)


@dataclass(frozen=True)
class TurnRecorded:
    call_sid: str
    org_id: str
    turn_index: int
    caller_text: str | None
    answer_text: str | None
    sources: list[Any] = field(default_factory=list)
    fallback: bool = False
    fallback_reasons: list[str] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    barge_in: bool = False
    created_at: datetime = field(default_factory=utc_now)


@dataclass(frozen=True)
class CallEnded:
    call_sid: str
    org_id: str
    outcome: str
    turns_count: int
    cost_usd: dict[str, float] = field(default_factory=dict)
    ended_at: datetime = field(default_factory=utc_now)
    # When None, computed from the call's recorded start.
    duration_seconds: float | None = None


@dataclass(frozen=True)
class CallbackRequested:
    org_id: str
    call_sid: str | None
    name: str
    number: str
    message: str | None
    reason: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=utc_now)


@dataclass(frozen=True)
class HandoffStarted:
    org_id: str
    call_sid: str
    number: str
    trigger: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    started_at: datetime = field(default_factory=utc_now)


@dataclass(frozen=True)
class AuditRecorded:
    actor: str
    action: str
    org_id: str | None
    detail: dict[str, Any] = field(default_factory=dict)
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    at: datetime = field(default_factory=utc_now)


Record = CallStarted | TurnRecorded | CallEnded | CallbackRequested | HandoffStarted | AuditRecorded
RECORD_TYPES: dict[str, type[Record]] = {
    "call_started": CallStarted,
    "turn": TurnRecorded,
    "call_ended": CallEnded,
    "callback": CallbackRequested,
    "handoff": HandoffStarted,
    "audit": AuditRecorded,
}
_TYPE_NAMES = {record_type: name for name, record_type in RECORD_TYPES.items()}


class SpoolLineError(ValueError):
    """A spool line that is not a record (a torn write, or a file from a newer version)."""


def record_kind(record: Record) -> str:
    return _TYPE_NAMES[type(record)]


def to_json_line(record: Record) -> str:
    values: dict[str, Any] = {}
    for item in dataclasses.fields(record):
        value = getattr(record, item.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, uuid.UUID):
            value = str(value)
        values[item.name] = value
    document = {"v": SPOOL_FORMAT_VERSION, "kind": record_kind(record), "record": values}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str)


def from_json_line(line: str) -> Record:
    try:
        document = json.loads(line)
        if document.get("v") != SPOOL_FORMAT_VERSION:
            raise SpoolLineError(f"unknown spool format {document.get('v')!r}")
        record_type = RECORD_TYPES[document["kind"]]
        values = dict(document["record"])
        for item in dataclasses.fields(record_type):
            value = values.get(item.name)
            if value is None:
                continue
            if "datetime" in str(item.type):
                values[item.name] = datetime.fromisoformat(value)
            elif "uuid.UUID" in str(item.type):
                values[item.name] = uuid.UUID(value)
        return record_type(**values)
    except SpoolLineError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise SpoolLineError(f"not a record: {error}") from error
