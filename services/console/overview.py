"""The overview's figures for one org, computed in the database (counts, and the p95 by an ordered offset), so
the page costs a few indexed queries however many calls the store holds.

Containment means what the gateway's voiceagent_calls_contained_total means: a call that ended with at least one
turn, no fallback, no message taken for a callback and no handoff to a person (read from those records, not from
the outcome's name: outcomes are open-ended strings such as "caller_done", "no_input" or "transferred").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from services.common.records.models import Call, CallbackRequest, Handoff, Turn


@dataclass(frozen=True)
class Overview:
    today_start: datetime
    week_start: datetime
    calls_today: int
    calls_week: int
    # Calls this week that have ended, and those of them the agent handled alone.
    ended_week: int
    contained_week: int
    turns_week: int
    fallback_turns_week: int
    callbacks_waiting: int
    # Of the turns this week that recorded their whole-turn latency; None when there are none.
    p95_turn_ms: float | None

    @property
    def containment(self) -> float | None:
        return self.contained_week / self.ended_week if self.ended_week else None


def period_starts(now: datetime, zone: str) -> tuple[datetime, datetime]:
    """Midnight today and midnight last Monday in the org's time zone (as aware datetimes)."""
    local = now.astimezone(ZoneInfo(zone))
    today = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return today, today - timedelta(days=local.weekday())


def percentile(session: Session, values: select, count: int, fraction: float) -> float | None:
    """The nearest-rank percentile of a one-column query, read at its offset rather than loading every value."""
    if count == 0:
        return None
    rank = max(1, math.ceil(fraction * count))
    column = values.selected_columns[0]
    return session.scalar(values.order_by(column).offset(rank - 1).limit(1))


def overview(session: Session, org_id: str, now: datetime, zone: str) -> Overview:
    today_start, week_start = period_starts(now, zone)
    org_calls = Call.org_id == org_id
    needed_help = or_(
        exists().where(Turn.call_sid == Call.call_sid, Turn.fallback.is_(True)),
        exists().where(CallbackRequest.call_sid == Call.call_sid),
        exists().where(Handoff.call_sid == Call.call_sid),
    )
    contained = and_(Call.outcome.is_not(None), Call.turns_count > 0, ~needed_help)
    calls_week, calls_today, ended_week, contained_week = session.execute(
        select(
            func.count(),
            func.count().filter(Call.started_at >= today_start),
            func.count().filter(Call.outcome.is_not(None)),
            func.count().filter(contained),
        ).where(org_calls, Call.started_at >= week_start)
    ).one()
    week_turns = and_(Turn.call_sid == Call.call_sid, org_calls, Call.started_at >= week_start)
    turns_week, fallback_turns_week = session.execute(
        select(func.count(), func.count().filter(Turn.fallback.is_(True))).select_from(Turn).join(Call, week_turns)
    ).one()
    turn_ms = Turn.latency_ms["turn"].as_float()
    timed = select(turn_ms).select_from(Turn).join(Call, week_turns).where(turn_ms.is_not(None))
    timed_count = session.scalar(select(func.count()).select_from(timed.subquery())) or 0
    waiting = session.scalar(select(func.count()).where(CallbackRequest.org_id == org_id, CallbackRequest.status == "new")) or 0
    return Overview(
        today_start=today_start,
        week_start=week_start,
        calls_today=calls_today,
        calls_week=calls_week,
        ended_week=ended_week,
        contained_week=contained_week,
        turns_week=turns_week,
        fallback_turns_week=fallback_turns_week,
        callbacks_waiting=waiting,
        p95_turn_ms=percentile(session, timed, timed_count, 0.95),
    )
