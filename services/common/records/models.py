"""The call store's tables, as typed SQLAlchemy 2 models.

The schema covers all of issue 12, so later work (callback dialogue, handoff, knowledge gaps, signed events,
audit, purge) adds code, not tables:
- `calls` and `turns` are written by the recorder, keyed so a replayed record overwrites itself (call_sid;
  call_sid + turn index) instead of duplicating.
- `callbacks`, `handoffs`, `audit` and `events` rows get their id (a UUID) where the fact happened, for the
  same reason.
- Knowledge gaps are read from `turns` (fallback turns and what was asked), so they need no table of their own.
- Purge deletes `calls` older than the org's retention (turns and handoffs go with them); callbacks outlive
  their call's purge (`call_sid` set to NULL) and are purged by their own age.
Timestamps are UTC and come back timezone-aware on both databases; JSON columns are JSONB on PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names, so a migration can name what it alters on either database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ORG_ID_LENGTH = 63
CALL_SID_LENGTH = 64
# E.164 is at most 16 characters; a hashed number is "hmac-sha256:" and 64 hex digits.
NUMBER_LENGTH = 80


class UTCDateTime(TypeDecorator[datetime]):
    """A UTC timestamp that is timezone-aware in Python on every database.

    SQLite has no time zones: it would hand back naive datetimes that cannot be compared with aware ones.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("call store timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JsonDocument = JSON().with_variant(JSONB(), "postgresql")


def utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Call(Base):
    """One phone call, from the inbound webhook (or stream start) to its final status."""

    __tablename__ = "calls"

    call_sid: Mapped[str] = mapped_column(String(CALL_SID_LENGTH), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(ORG_ID_LENGTH))
    # Null only while a record written out of order (a turn before its call) waits for the call's own record.
    dialled_number: Mapped[str | None] = mapped_column(String(NUMBER_LENGTH))
    # As the org's records.caller_number setting allows: full, "…1234", "hmac-sha256:…", or null.
    caller_number: Mapped[str | None] = mapped_column(String(NUMBER_LENGTH))
    # "turns" or "streaming", the org's conversation_mode.
    mode: Mapped[str | None] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    # Null while the call is in progress; see record_types.CallOutcome for the values the gateway uses.
    outcome: Mapped[str | None] = mapped_column(String(32))
    turns_count: Mapped[int] = mapped_column(Integer, default=0)
    # Estimated USD keyed "service:provider", as in services.common.providers' price table.
    cost_usd: Mapped[dict[str, float]] = mapped_column(JsonDocument, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now, onupdate=utc_now)

    __table_args__ = (
        # Listing an org's calls newest first, and purging by age.
        Index("ix_calls_org_id_started_at", "org_id", "started_at"),
        Index("ix_calls_started_at", "started_at"),
    )


class Turn(Base):
    """One exchange: what the caller said, what the agent answered, and how it went."""

    __tablename__ = "turns"

    call_sid: Mapped[str] = mapped_column(ForeignKey("calls.call_sid", ondelete="CASCADE"), primary_key=True)
    turn_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Null when the org keeps no transcripts; redacted unless it asked for them in full.
    caller_text: Mapped[str | None] = mapped_column(Text)
    answer_text: Mapped[str | None] = mapped_column(Text)
    # The documents (and chunks) the answer came from.
    sources: Mapped[list[Any]] = mapped_column(JsonDocument, default=list)
    # The answer was the org's fallback message (a knowledge gap), and why: ["no_hits", "llm_unavailable", ...].
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    fallback_reasons: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    # Milliseconds per stage: download, stt, retrieval, llm, tts, turn (streaming adds its own).
    latency_ms: Mapped[dict[str, float]] = mapped_column(JsonDocument, default=dict)
    # The caller spoke over the answer (streaming).
    barge_in: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)

    __table_args__ = (
        # Knowledge gaps: an org's fallback turns, newest first.
        Index("ix_turns_fallback_created_at", "fallback", "created_at"),
        # Whether a call fell back (the console's call list and overview ask it per call).
        Index("ix_turns_call_sid_fallback", "call_sid", "fallback"),
    )


class CallbackRequest(Base):
    """A message taken for a callback: the promise the org's fallback message makes, kept."""

    __tablename__ = "callbacks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    org_id: Mapped[str] = mapped_column(String(ORG_ID_LENGTH))
    call_sid: Mapped[str | None] = mapped_column(ForeignKey("calls.call_sid", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200), default="")
    # The number to call back, confirmed with the caller: kept in full, it is what the caller asked us to use.
    number: Mapped[str] = mapped_column(String(NUMBER_LENGTH))
    message: Mapped[str | None] = mapped_column(Text)
    # Why the agent offered: "fallback", "caller_asked", "handoff_closed", "handoff_unanswered".
    reason: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="new")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handled_by: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_callbacks_org_id_status_created_at", "org_id", "status", "created_at"),)


class Handoff(Base):
    """A transfer to a person: the number dialled (always one from the org's config) and how it ended."""

    __tablename__ = "handoffs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    org_id: Mapped[str] = mapped_column(String(ORG_ID_LENGTH))
    call_sid: Mapped[str] = mapped_column(ForeignKey("calls.call_sid", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(NUMBER_LENGTH))
    # What asked for it: "phrase", "keypad", "fallback".
    trigger: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    # Null until known: "answered", "no_answer", "busy", "failed".
    outcome: Mapped[str | None] = mapped_column(String(32))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_handoffs_org_id_started_at", "org_id", "started_at"), Index("ix_handoffs_call_sid", "call_sid"))


class OutboxEvent(Base):
    """A signed event waiting for (or done with) delivery to the org's events_url, at least once."""

    __tablename__ = "events"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    org_id: Mapped[str] = mapped_column(String(ORG_ID_LENGTH))
    # "call.completed", "callback.requested", "handoff.started".
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when the deliverer stops retrying (after its 24 h or more of back-off).
    abandoned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # The deliverer's question: what is due now and not yet delivered?
        Index("ix_events_delivered_at_next_attempt_at", "delivered_at", "next_attempt_at"),
        Index("ix_events_org_id_created_at", "org_id", "created_at"),
    )


class AuditEntry(Base):
    """Who did what administrative action, to which org, when (ingest, deletion, callback handled, purge...)."""

    __tablename__ = "audit"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    # "cli:alice", "console:bob@example.com", "system:purge".
    actor: Mapped[str] = mapped_column(String(200))
    # Null for actions that concern no single org.
    org_id: Mapped[str | None] = mapped_column(String(ORG_ID_LENGTH))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)

    __table_args__ = (Index("ix_audit_org_id_at", "org_id", "at"), Index("ix_audit_at", "at"))


class ConsoleUser(Base):
    """Someone who signs in to the operator console (`voiceagent users add`).

    An admin with no org sees and changes every org; an admin with an org, only that one; a viewer always has
    exactly one org and changes nothing. The password is kept only as an argon2id hash.
    """

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Stored lower-cased, so "Ann@Example.com" and "ann@example.com" are one account.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # "admin" or "viewer".
    role: Mapped[str] = mapped_column(String(16))
    org_id: Mapped[str | None] = mapped_column(String(ORG_ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Session cookies carry the epoch they were issued in; signing out raises it, so a copied cookie dies too.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SignInFailures(Base):
    """Failed sign-ins per e-mail address (whether or not an account has it, so a lockout reveals nothing)."""

    __tablename__ = "sign_in_failures"

    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    # Failures since the first one of the current window.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StoredOrgConfig(Base):
    """An org's config.json when the database is the source of truth (VOICEAGENT_ORG_CONFIGS=database).

    The document is validated exactly as config.json is before it is stored; `revision` goes up by one with
    each change, so a form saved over someone else's newer change is refused instead of silently undoing it.
    """

    __tablename__ = "org_configs"

    org_id: Mapped[str] = mapped_column(String(ORG_ID_LENGTH), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_by: Mapped[str] = mapped_column(String(200))
