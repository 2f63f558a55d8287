"""Writing records into the store as upserts, so the order they arrive in and how often do not matter.

A record can arrive twice (the spool is replayed after a crash) or before the record it belongs to (a turn
spooled while its call's record waits in the queue), so:
- every write is keyed (call_sid; call_sid + turn index; a UUID) and repeats overwrite themselves;
- a record that belongs to a call first makes sure the call's row exists (a stub, completed when the call's
  own record arrives), so foreign keys never reject it;
- the call's start and its end touch different columns, so either may come first.

A record that causes a signed event (a call's end, a callback request, a handoff) queues it in the outbox in
the same transaction, for orgs that have an events_url (outbox.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.common.records.models import AuditEntry, Base, Call, CallbackRequest, Handoff, Turn, utc_now
from services.common.records.outbox import add_event, causes_event
from services.common.records.record_types import (
    AuditRecorded,
    CallbackRequested,
    CallEnded,
    CallStarted,
    HandoffStarted,
    Record,
    TurnRecorded,
)


def _insert(session: Session, model: type[Base]) -> Any:
    """INSERT with ON CONFLICT for the session's database (both dialects spell it the same way)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"upserts on {dialect}")


def _ensure_call(session: Session, call_sid: str, org_id: str, at: Any) -> None:
    stub = _insert(session, Call).values(call_sid=call_sid, org_id=org_id, started_at=at, turns_count=0, cost_usd={}, updated_at=utc_now())
    session.execute(stub.on_conflict_do_nothing(index_elements=["call_sid"]))


def _write_call_started(session: Session, record: CallStarted) -> None:
    start = {
        "org_id": record.org_id,
        "dialled_number": record.dialled_number,
        "caller_number": record.caller_number,
        "mode": record.mode,
        "started_at": record.started_at,
        "updated_at": utc_now(),
    }
    statement = _insert(session, Call).values(call_sid=record.call_sid, turns_count=0, cost_usd={}, **start)
    session.execute(statement.on_conflict_do_update(index_elements=["call_sid"], set_=start))
    # The call's end was written first, before its start was known: its duration can be computed now.
    ended_at = session.scalar(
        select(Call.ended_at).where(Call.call_sid == record.call_sid, Call.ended_at.is_not(None), Call.duration_seconds == 0)
    )
    if ended_at is not None:
        duration = max(0.0, (ended_at - record.started_at).total_seconds())
        session.execute(update(Call).where(Call.call_sid == record.call_sid).values(duration_seconds=duration))


def _write_turn(session: Session, record: TurnRecorded) -> None:
    _ensure_call(session, record.call_sid, record.org_id, record.created_at)
    values = {
        "caller_text": record.caller_text,
        "answer_text": record.answer_text,
        "sources": record.sources,
        "fallback": record.fallback,
        "fallback_reasons": record.fallback_reasons,
        "latency_ms": record.latency_ms,
        "barge_in": record.barge_in,
        "created_at": record.created_at,
    }
    statement = _insert(session, Turn).values(call_sid=record.call_sid, turn_index=record.turn_index, **values)
    session.execute(statement.on_conflict_do_update(index_elements=["call_sid", "turn_index"], set_=values))


def _write_call_ended(session: Session, record: CallEnded) -> None:
    started_guess = record.ended_at - timedelta(seconds=record.duration_seconds or 0)
    _ensure_call(session, record.call_sid, record.org_id, started_guess)
    duration = record.duration_seconds
    if duration is None:
        started_at = session.scalar(select(Call.started_at).where(Call.call_sid == record.call_sid))
        duration = max(0.0, (record.ended_at - started_at).total_seconds()) if started_at else None
    session.execute(
        update(Call)
        .where(Call.call_sid == record.call_sid)
        .values(
            ended_at=record.ended_at,
            duration_seconds=duration,
            outcome=record.outcome,
            turns_count=record.turns_count,
            cost_usd=record.cost_usd,
            updated_at=utc_now(),
        )
    )


def _write_callback(session: Session, record: CallbackRequested) -> None:
    if record.call_sid:
        _ensure_call(session, record.call_sid, record.org_id, record.created_at)
    statement = _insert(session, CallbackRequest).values(
        id=record.id,
        org_id=record.org_id,
        call_sid=record.call_sid,
        name=record.name,
        number=record.number,
        message=record.message,
        reason=record.reason,
        status="new",
        created_at=record.created_at,
    )
    # Never overwrite: a replayed request must not reopen a callback someone has since marked done.
    session.execute(statement.on_conflict_do_nothing(index_elements=["id"]))


def _write_handoff(session: Session, record: HandoffStarted) -> None:
    _ensure_call(session, record.call_sid, record.org_id, record.started_at)
    statement = _insert(session, Handoff).values(
        id=record.id, org_id=record.org_id, call_sid=record.call_sid, number=record.number, trigger=record.trigger, started_at=record.started_at
    )
    session.execute(statement.on_conflict_do_nothing(index_elements=["id"]))


def _write_audit(session: Session, record: AuditRecorded) -> None:
    statement = _insert(session, AuditEntry).values(
        id=record.id, at=record.at, actor=record.actor, org_id=record.org_id, action=record.action, detail=record.detail
    )
    session.execute(statement.on_conflict_do_nothing(index_elements=["id"]))


_WRITERS: dict[type, Any] = {
    CallStarted: _write_call_started,
    TurnRecorded: _write_turn,
    CallEnded: _write_call_ended,
    CallbackRequested: _write_callback,
    HandoffStarted: _write_handoff,
    AuditRecorded: _write_audit,
}


def write_records(session: Session, records: Iterable[Record], wants_events: Callable[[str], bool] | None = None) -> None:
    """Apply `records` in order within the session's transaction (the caller commits), with the events they
    cause for the orgs `wants_events` accepts (none without it)."""
    for record in records:
        _WRITERS[type(record)](session, record)
        if wants_events is not None and causes_event(record) and wants_events(record.org_id):
            add_event(session, record, _insert)
