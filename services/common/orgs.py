"""Organisation configuration: `data/{org}/config.json`, validated.

Every service that takes an `org_id` resolves it here, so an unknown org, a
path-traversal attempt or a broken config file is reported the same way
everywhere, naming the file and the field.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.common.handoff import HandoffConfig, validate_timezone
from services.common.logs import clip

ORG_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}\Z")
E164_PATTERN = re.compile(r"^\+[1-9]\d{6,14}\Z")
# Characters per chunk an org (or an ingest request) may ask for.
CHUNK_SIZE_BOUNDS = (100, 10_000)
# An org's event signing secret is this plus its id in capitals ("acme" -> VOICEAGENT_EVENTS_SECRET_ACME).
EVENTS_SECRET_PREFIX = "VOICEAGENT_EVENTS_SECRET_"


class UnknownOrgError(LookupError):
    """No organisation with this id has a config under the data directory."""


class InvalidOrgIdError(ValueError):
    """The org id is not a safe directory name."""


class OrgConfigError(ValueError):
    """config.json exists but is not valid; the message names the file and field.

    `problems` maps each invalid field's dotted path ("handoff.number", "(root)") to what is wrong with it, so a
    form can show each message next to its field.
    """

    def __init__(self, message: str, problems: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.problems = dict(problems or {})


class RecordsPolicy(BaseModel):
    """What the call store keeps of this org's calls (`"records"` in config.json).

    The defaults are the private ones: transcripts with phone numbers, e-mails and card numbers redacted as in
    the logs, and the caller's number only as a keyed hash (repeat callers can still be recognised). An org opts
    in to more, or out of more, here.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # "redacted": as the logs redact; "full": verbatim; "none": what the caller said is not kept (answers are, redacted).
    transcripts: Literal["redacted", "full", "none"] = "redacted"
    # "hashed": HMAC-SHA256 under VOICEAGENT_RECORDS_HASH_KEY; "last4": the last four digits; "full"; "none".
    caller_number: Literal["hashed", "last4", "full", "none"] = "hashed"
    # Calls, turns and callback requests older than this are purged.
    retention_days: int = Field(default=90, ge=1, le=3650)


class OrgConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    org_id: str
    name: str = Field(min_length=1)
    phone_numbers: list[str] = Field(default_factory=list)
    greeting: str = Field(min_length=1)
    persona: str = Field(min_length=1)
    voice: str = ""
    language: str = "en-US"
    top_k: int = Field(default=4, ge=1, le=100)
    fallback_message: str = "I'm not sure about that. Let me have a colleague call you back."
    chunk_size: int = Field(default=500, ge=CHUNK_SIZE_BOUNDS[0], le=CHUNK_SIZE_BOUNDS[1])
    chunk_overlap: int = Field(default=50, ge=0)
    max_turns: int = Field(default=20, ge=1, le=200)
    # How the gateway speaks: "play" our tts audio, or "say" through Twilio's own <Say> (no audio hop).
    speech_mode: Literal["play", "say"] = "play"
    # Voice for <Say> (and the fallback when our tts is down), e.g. Twilio's "Polly.Joanna".
    twilio_voice: str = "Polly.Joanna"
    goodbye_message: str = "Thanks for calling. Goodbye!"
    # "turns": <Record> per turn. "streaming": Twilio Media Streams over a WebSocket, with barge-in.
    conversation_mode: Literal["turns", "streaming"] = "turns"
    records: RecordsPolicy = Field(default_factory=RecordsPolicy)
    # Where signed events about the org's calls are POSTed (call.completed, callback.requested, handoff.started);
    # unset, none are queued. The signing secret is never in this file: see events_secret_variable().
    events_url: str | None = None
    # A person to transfer to, and when (services/common/handoff.py); without it callers can only leave a message.
    handoff: HandoffConfig | None = None
    # The org's local time (IANA name), in which the console shows its calls; unset, the handoff's, else UTC.
    timezone: str | None = None

    @field_validator("org_id")
    @classmethod
    def _org_id_is_safe(cls, value: str) -> str:
        if not ORG_ID_PATTERN.match(value):
            raise ValueError("must be lowercase letters, digits, '-' or '_' (at most 63)")
        return value

    @field_validator("phone_numbers")
    @classmethod
    def _numbers_are_e164(cls, numbers: list[str]) -> list[str]:
        for number in numbers:
            if not E164_PATTERN.match(number):
                raise ValueError(f"{number!r} is not an E.164 number such as +14155550100")
        return numbers

    @field_validator("events_url")
    @classmethod
    def _events_url_is_a_plain_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"{clip(repr(value), 80)} is not an http(s) URL such as https://example.com/voiceagent-events")
        if parts.username or parts.password:
            # Events are authenticated by their signature; a password here would sit in a config file and in logs.
            raise ValueError("must not carry credentials: receivers check the event signature instead")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone_exists(cls, name: str | None) -> str | None:
        return None if name is None else validate_timezone(name)

    @property
    def local_timezone(self) -> str:
        return self.timezone or (self.handoff.timezone if self.handoff else "UTC")

    @model_validator(mode="after")
    def _overlap_smaller_than_chunk(self) -> OrgConfig:
        if self.chunk_overlap > self.chunk_size // 2:
            raise ValueError("chunk_overlap must be at most half of chunk_size")
        return self


def validate_org_id(org_id: str) -> str:
    if not ORG_ID_PATTERN.match(org_id or ""):
        raise InvalidOrgIdError(
            f"invalid org id {clip(repr(org_id), 80)}: use lowercase letters, digits, '-' or '_' (at most 63 characters)"
        )
    return org_id


def events_secret_variable(org_id: str) -> str:
    """The environment variable that holds the org's event signing secret.

    Named after the org so each org's receiver can only verify its own events: "acme" reads
    VOICEAGENT_EVENTS_SECRET_ACME, "acme-west" VOICEAGENT_EVENTS_SECRET_ACME_WEST (a '-' is not allowed in
    a variable name). Several comma-separated secrets sign each event with each, for a rotation.
    """
    return EVENTS_SECRET_PREFIX + validate_org_id(org_id).upper().replace("-", "_")


def org_dir(data_dir: Path, org_id: str) -> Path:
    return Path(data_dir) / validate_org_id(org_id)


def load_org_config(data_dir: Path, org_id: str) -> OrgConfig:
    """Read and validate one org's config; raises UnknownOrgError, InvalidOrgIdError or OrgConfigError."""
    path = org_dir(data_dir, org_id) / "config.json"
    if not path.is_file():
        raise UnknownOrgError(f"unknown organisation {org_id!r} (no {path})")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OrgConfigError(f"{path}: not valid JSON: {exc}") from exc
    return parse_org_config(raw, org_id, str(path))


def parse_org_config(raw: object, org_id: str, source: str) -> OrgConfig:
    """Validate a config document for `org_id`, wherever it came from (a file, the console's form, the
    database); `source` names it in the error."""
    try:
        config = OrgConfig.model_validate(raw)
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for error in exc.errors():
            problems.setdefault(".".join(str(part) for part in error["loc"]) or "(root)", error["msg"])
        raise OrgConfigError(f"{source}: " + "; ".join(f"field {field}: {message}" for field, message in problems.items()), problems) from exc
    if config.org_id != org_id:
        message = f"{config.org_id!r} does not match its directory {org_id!r}"
        raise OrgConfigError(f"{source}: field org_id: {message}", {"org_id": message})
    return config
