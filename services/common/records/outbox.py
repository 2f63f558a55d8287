"""Signed events' outbox: the rows written beside the records that cause them, in the same transaction.

An event exists exactly when its fact is stored: a `call.completed` row is inserted by the same transaction
that writes the call's end, `callback.requested` with the callback request, `handoff.started` with the
handoff. Neither can be committed without the other, so a crash never leaves a fact without its event or an
event about nothing; the deliverer (events.py) then sends what the outbox holds, at least once.

Each event's id is derived from its fact (the call, the callback request, the handoff), so a record replayed
from the spool finds its event already there and adds nothing: receivers see one id per fact, and deduplicate
redelivered attempts by it. Payloads are built from the rows as stored, after the org's privacy policy: an
event never carries more of a call than the store keeps.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.records.models import Call, OutboxEvent, Turn, utc_now
from services.common.records.record_types import CallbackRequested, CallEnded, HandoffStarted, Record

# Fixed, so an event's id can be recomputed from its fact by any process, on any day.
EVENT_ID_NAMESPACE = uuid.UUID("5d7c7e0e-8a61-4d43-9f3c-1b2a64c0e7a5")


class EventType(enum.StrEnum):
    CALL_COMPLETED = "call.completed"
    CALLBACK_REQUESTED = "callback.requested"
    HANDOFF_STARTED = "handoff.started"


def event_id(event_type: EventType, fact_key: str) -> uuid.UUID:
    """The id of the event about one fact (a call sid, a callback or handoff id): the same on every replay."""
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"{event_type.value}:{fact_key}")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _call_completed(session: Session, record: CallEnded) -> tuple[str, dict[str, Any]]:
    """The call and its turns as the store now holds them (this transaction's writes included)."""
    call = session.execute(select(Call.__table__).where(Call.call_sid == record.call_sid)).mappings().one()
    turns = session.execute(select(Turn.__table__).where(Turn.call_sid == record.call_sid).order_by(Turn.turn_index)).mappings().all()
    cost = dict(call["cost_usd"] or {})
    return record.call_sid, {
        "call_sid": call["call_sid"],
        "dialled_number": call["dialled_number"],
        "caller_number": call["caller_number"],
        "mode": call["mode"],
        "started_at": _iso(call["started_at"]),
        "ended_at": _iso(call["ended_at"]),
        "duration_seconds": call["duration_seconds"],
        "outcome": call["outcome"],
        "turns_count": call["turns_count"],
        "cost_usd": cost,
        "cost_usd_total": round(sum(cost.values()), 6),
        "turns": [
            {
                "index": turn["turn_index"],
                "at": _iso(turn["created_at"]),
                "caller_text": turn["caller_text"],
                "answer_text": turn["answer_text"],
                "sources": turn["sources"],
                "fallback": turn["fallback"],
                "fallback_reasons": turn["fallback_reasons"],
                "barge_in": turn["barge_in"],
            }
            for turn in turns
        ],
    }


def _callback_requested(_session: Session, record: CallbackRequested) -> tuple[str, dict[str, Any]]:
    return str(record.id), {
        "callback_id": str(record.id),
        "call_sid": record.call_sid,
        "name": record.name,
        "number": record.number,
        "message": record.message,
        "reason": record.reason,
        "created_at": _iso(record.created_at),
    }


def _handoff_started(_session: Session, record: HandoffStarted) -> tuple[str, dict[str, Any]]:
    return str(record.id), {
        "handoff_id": str(record.id),
        "call_sid": record.call_sid,
        "number": record.number,
        "trigger": record.trigger,
        "started_at": _iso(record.started_at),
    }


_EVENTS: dict[type, tuple[EventType, Callable[[Session, Any], tuple[str, dict[str, Any]]]]] = {
    CallEnded: (EventType.CALL_COMPLETED, _call_completed),
    CallbackRequested: (EventType.CALLBACK_REQUESTED, _callback_requested),
    HandoffStarted: (EventType.HANDOFF_STARTED, _handoff_started),
}


def causes_event(record: Record) -> bool:
    return type(record) in _EVENTS


def add_event(session: Session, record: Record, insert: Callable[[Session, type], Any]) -> uuid.UUID | None:
    """Queue the event `record` causes (if it causes one) in the session's transaction; returns its id.

    Called by the writer right after it wrote `record` (the record's own values, already protected, are what
    the payload is built from). `insert` is the writer's dialect-aware INSERT, so an event already queued by
    an earlier replay of the same record is left as it was.
    """
    known = _EVENTS.get(type(record))
    if known is None:
        return None
    event_type, build = known
    fact_key, payload = build(session, record)
    identifier = event_id(event_type, fact_key)
    # Queued now, due now: its retry window starts when it is stored, however long its record waited in the spool.
    queued_at = utc_now()
    statement = insert(session, OutboxEvent).values(
        id=identifier, org_id=record.org_id, type=event_type.value, payload=payload, created_at=queued_at, attempts=0, next_attempt_at=queued_at
    )
    session.execute(statement.on_conflict_do_nothing(index_elements=["id"]))
    return identifier


def event_body(event: OutboxEvent) -> bytes:
    """The bytes POSTed (and signed) for an event: its id, type, org and time around the payload."""
    envelope = {
        "id": str(event.id),
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "org_id": event.org_id,
        "data": event.payload,
    }
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
