"""Reading the call store (and the few writes an operator makes): what the CLI and the console call.

Results are plain frozen dataclasses, not ORM objects, so they outlive their session and print as JSON
(`as_json`) without touching the database again. Lists are newest first; calls page by a cursor (the last
call's start and sid) rather than an offset, so a page is stable while new calls arrive.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, exists, func, or_, select
from sqlalchemy.orm import Session

from services.common.records.models import AuditEntry, Call, CallbackRequest, Handoff, OutboxEvent, Turn, utc_now

CALLBACK_STATUSES = ("new", "done")
# Shortest id prefix `callbacks done` accepts (the list shows eight characters).
MIN_ID_PREFIX = 6
MAX_PAGE = 500


class NotFoundError(LookupError):
    """No record with that id."""


class AmbiguousIdError(LookupError):
    """An id prefix matches more than one record."""


@dataclass(frozen=True)
class CallSummary:
    call_sid: str
    org_id: str
    dialled_number: str | None
    caller_number: str | None
    mode: str | None
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: float | None
    outcome: str | None
    turns_count: int
    cost_usd: dict[str, float]
    had_fallback: bool


@dataclass(frozen=True)
class TurnView:
    turn_index: int
    caller_text: str | None
    answer_text: str | None
    sources: list[Any]
    fallback: bool
    fallback_reasons: list[str]
    latency_ms: dict[str, float]
    barge_in: bool
    created_at: datetime


@dataclass(frozen=True)
class CallbackView:
    id: uuid.UUID
    org_id: str
    call_sid: str | None
    name: str
    number: str
    message: str | None
    reason: str | None
    status: str
    created_at: datetime
    handled_at: datetime | None
    handled_by: str | None


@dataclass(frozen=True)
class HandoffView:
    id: uuid.UUID
    number: str
    trigger: str | None
    started_at: datetime
    outcome: str | None
    ended_at: datetime | None


@dataclass(frozen=True)
class CallDetail:
    call: CallSummary
    turns: list[TurnView]
    callbacks: list[CallbackView]
    handoffs: list[HandoffView]


@dataclass(frozen=True)
class CallPage:
    calls: list[CallSummary]
    # Pass to list_calls(cursor=...) for the next (older) page; None on the last page.
    next_cursor: str | None


@dataclass(frozen=True)
class AuditView:
    id: uuid.UUID
    at: datetime
    actor: str
    org_id: str | None
    action: str
    detail: dict[str, Any]


def as_json(view: Any) -> Any:
    """A view (or list of views) as JSON-ready values: ISO timestamps, ids as strings."""
    if dataclasses.is_dataclass(view) and not isinstance(view, type):
        return {item.name: as_json(getattr(view, item.name)) for item in dataclasses.fields(view)}
    if isinstance(view, list):
        return [as_json(item) for item in view]
    if isinstance(view, dict):
        return {key: as_json(value) for key, value in view.items()}
    if isinstance(view, datetime):
        return view.isoformat()
    if isinstance(view, uuid.UUID):
        return str(view)
    return view


def _view(view_type: type, row: Any, **extra: Any) -> Any:
    names = [item.name for item in dataclasses.fields(view_type) if item.name not in extra]
    return view_type(**{name: getattr(row, name) for name in names}, **extra)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _cursor(call: CallSummary) -> str:
    return f"{call.started_at.isoformat()}|{call.call_sid}"


def _parse_cursor(cursor: str) -> tuple[datetime, str]:
    at, _, call_sid = cursor.partition("|")
    try:
        return datetime.fromisoformat(at), call_sid
    except ValueError as error:
        raise ValueError(f"not a call list cursor: {cursor!r}") from error


def list_calls(
    session: Session,
    org_id: str | None = None,
    since: datetime | None = None,
    outcome: str | None = None,
    had_fallback: bool | None = None,
    text: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    before: datetime | None = None,
) -> CallPage:
    """Calls newest first, filtered by org, start time (at or after `since`, before `before`), outcome, whether
    any turn fell back, and words said by the caller or the agent (case-insensitive substring)."""
    fallback_turn = exists().where(Turn.call_sid == Call.call_sid, Turn.fallback.is_(True))
    query = select(Call, fallback_turn.label("had_fallback"))
    if org_id:
        query = query.where(Call.org_id == org_id)
    if since is not None:
        query = query.where(Call.started_at >= since)
    if before is not None:
        query = query.where(Call.started_at < before)
    if outcome:
        query = query.where(Call.outcome == outcome)
    if had_fallback is not None:
        query = query.where(fallback_turn if had_fallback else ~fallback_turn)
    if text:
        pattern = f"%{_escape_like(text)}%"
        said = or_(Turn.caller_text.ilike(pattern, escape="\\"), Turn.answer_text.ilike(pattern, escape="\\"))
        query = query.where(exists().where(Turn.call_sid == Call.call_sid, said))
    if cursor:
        at, call_sid = _parse_cursor(cursor)
        query = query.where(or_(Call.started_at < at, and_(Call.started_at == at, Call.call_sid < call_sid)))
    limit = max(1, min(limit, MAX_PAGE))
    rows = session.execute(query.order_by(Call.started_at.desc(), Call.call_sid.desc()).limit(limit + 1)).all()
    calls = [_view(CallSummary, call, had_fallback=bool(fell_back)) for call, fell_back in rows[:limit]]
    return CallPage(calls, _cursor(calls[-1]) if len(rows) > limit else None)


def get_call(session: Session, call_sid: str) -> CallDetail | None:
    """One call with every turn in order, and any callback requests and handoffs it led to."""
    call = session.get(Call, call_sid)
    if call is None:
        return None
    turns = session.scalars(select(Turn).where(Turn.call_sid == call_sid).order_by(Turn.turn_index)).all()
    callbacks = session.scalars(
        select(CallbackRequest).where(CallbackRequest.call_sid == call_sid).order_by(CallbackRequest.created_at)
    ).all()
    handoffs = session.scalars(select(Handoff).where(Handoff.call_sid == call_sid).order_by(Handoff.started_at)).all()
    return CallDetail(
        call=_view(CallSummary, call, had_fallback=any(turn.fallback for turn in turns)),
        turns=[_view(TurnView, turn) for turn in turns],
        callbacks=[_view(CallbackView, callback) for callback in callbacks],
        handoffs=[_view(HandoffView, handoff) for handoff in handoffs],
    )


def list_callbacks(session: Session, org_id: str | None = None, status: str | None = None, limit: int = 100) -> list[CallbackView]:
    """Callback requests newest first; `status` is "new" or "done"."""
    if status is not None and status not in CALLBACK_STATUSES:
        raise ValueError(f"status must be one of {', '.join(CALLBACK_STATUSES)}")
    query = select(CallbackRequest)
    if org_id:
        query = query.where(CallbackRequest.org_id == org_id)
    if status:
        query = query.where(CallbackRequest.status == status)
    query = query.order_by(CallbackRequest.created_at.desc(), CallbackRequest.id).limit(max(1, min(limit, MAX_PAGE)))
    return [_view(CallbackView, callback) for callback in session.scalars(query)]


def _find_by_id(session: Session, model: type[CallbackRequest] | type[OutboxEvent], identifier: str | uuid.UUID, noun: str) -> Any:
    """The row with this id, or the only one whose id starts with this prefix (at least six hex digits)."""
    try:
        exact = identifier if isinstance(identifier, uuid.UUID) else uuid.UUID(identifier)
    except ValueError:
        exact = None
    if exact is not None:
        found = session.get(model, exact)
        if found is None:
            raise NotFoundError(f"no {noun} {exact}")
        return found
    prefix = str(identifier).strip().lower().replace("-", "")
    if len(prefix) < MIN_ID_PREFIX or any(ch not in "0123456789abcdef" for ch in prefix):
        raise NotFoundError(f"{str(identifier)!r} is not a {noun} id (or a prefix of at least {MIN_ID_PREFIX} hex digits)")
    plain_id = func.replace(cast(model.id, String), "-", "")
    matches = session.scalars(select(model).where(plain_id.like(f"{prefix}%")).limit(2)).all()
    if not matches:
        raise NotFoundError(f"no {noun} starting {prefix}")
    if len(matches) > 1:
        raise AmbiguousIdError(f"more than one {noun} starts {prefix}: give more of the id")
    return matches[0]


def find_callback(session: Session, callback_id: str | uuid.UUID) -> CallbackRequest:
    """The callback with this id, or the only one whose id starts with this prefix (at least six characters)."""
    return _find_by_id(session, CallbackRequest, callback_id, "callback request")


def record_audit(session: Session, actor: str, action: str, org_id: str | None = None, detail: dict[str, Any] | None = None) -> AuditView:
    """Write an audit row in the caller's transaction: entry points that change things (the CLI, the
    console) record the change and its audit entry together or not at all."""
    entry = AuditEntry(id=uuid.uuid4(), at=utc_now(), actor=actor, org_id=org_id, action=action, detail=dict(detail or {}))
    session.add(entry)
    session.flush()
    return _view(AuditView, entry)


def mark_callback_done(session: Session, callback_id: str | uuid.UUID, actor: str) -> CallbackView:
    """Mark a callback request handled by `actor`, with an audit entry; a request already done is left as it was."""
    callback = find_callback(session, callback_id)
    if callback.status != "done":
        callback.status = "done"
        callback.handled_at = utc_now()
        callback.handled_by = actor
        record_audit(session, actor, "callback.done", callback.org_id, {"callback_id": str(callback.id), "call_sid": callback.call_sid})
        session.flush()
    return _view(CallbackView, callback)


def list_audit(
    session: Session, org_id: str | None = None, since: datetime | None = None, action: str | None = None, limit: int = 100
) -> list[AuditView]:
    """Audit entries newest first."""
    query = select(AuditEntry)
    if org_id:
        query = query.where(AuditEntry.org_id == org_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if action:
        query = query.where(AuditEntry.action == action)
    query = query.order_by(AuditEntry.at.desc(), AuditEntry.id).limit(max(1, min(limit, MAX_PAGE)))
    return [_view(AuditView, entry) for entry in session.scalars(query)]


EVENT_STATES = ("pending", "retrying", "delivered", "abandoned")


@dataclass(frozen=True)
class EventView:
    id: uuid.UUID
    org_id: str
    type: str
    # pending: not failed yet (queued, or being sent); retrying: an attempt failed, another is due at
    # next_attempt_at; delivered: the receiver answered 2xx; abandoned: still failing after the retry window.
    state: str
    created_at: datetime
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    abandoned_at: datetime | None
    last_error: str | None
    payload: dict[str, Any]


def _event_state(event: OutboxEvent) -> str:
    if event.delivered_at is not None:
        return "delivered"
    if event.abandoned_at is not None:
        return "abandoned"
    return "retrying" if event.last_error else "pending"


def _event_view(event: OutboxEvent) -> EventView:
    waiting = event.delivered_at is None and event.abandoned_at is None
    return _view(EventView, event, state=_event_state(event), next_attempt_at=event.next_attempt_at if waiting else None)


def list_events(
    session: Session, org_id: str | None = None, state: str | None = None, event_type: str | None = None, limit: int = 100,
    call_sid: str | None = None,
) -> list[EventView]:
    """Signed events newest first, with their delivery state; `call_sid` keeps those about one call."""
    if state is not None and state not in EVENT_STATES:
        raise ValueError(f"state must be one of {', '.join(EVENT_STATES)}")
    query = select(OutboxEvent)
    if org_id:
        query = query.where(OutboxEvent.org_id == org_id)
    if call_sid:
        query = query.where(OutboxEvent.payload["call_sid"].as_string() == call_sid)
    if event_type:
        query = query.where(OutboxEvent.type == event_type)
    waiting = and_(OutboxEvent.delivered_at.is_(None), OutboxEvent.abandoned_at.is_(None))
    if state == "delivered":
        query = query.where(OutboxEvent.delivered_at.is_not(None))
    elif state == "abandoned":
        query = query.where(OutboxEvent.abandoned_at.is_not(None))
    elif state == "retrying":
        query = query.where(waiting, OutboxEvent.last_error.is_not(None))
    elif state == "pending":
        query = query.where(waiting, OutboxEvent.last_error.is_(None))
    query = query.order_by(OutboxEvent.created_at.desc(), OutboxEvent.id).limit(max(1, min(limit, MAX_PAGE)))
    return [_event_view(event) for event in session.scalars(query)]


def retry_event(session: Session, event_id: str | uuid.UUID, actor: str) -> EventView:
    """Send an abandoned (or waiting) event again now; audited. Past its retry window, one failed attempt
    abandons it again: after an outage, retry once the receiver is back. A delivered event is left as it was."""
    event = _find_by_id(session, OutboxEvent, event_id, "event")
    if event.delivered_at is None:
        previous = _event_state(event)
        now = utc_now()
        event.abandoned_at = None
        event.next_attempt_at = now
        record_audit(session, actor, "event.retry", event.org_id, {"event_id": str(event.id), "type": event.type, "was": previous})
        session.flush()
    return _event_view(event)
