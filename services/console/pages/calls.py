"""/calls (the org's calls, newest first, filtered and searched) and /calls/{call_sid} (one conversation)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.records import queries
from services.common.records.models import Call
from services.console import auth
from services.console.access import Scope
from services.console.pages.support import org_config
from services.console.state import Console, console
from services.console.views import org_zone, render

router = APIRouter()
MAX_SEARCH_CHARS = 200
MAX_OUTCOME_CHARS = 32


def recorded_outcomes(session: Session, org_id: str) -> list[str]:
    """The outcomes the org's calls have (the gateway's outcomes are open-ended strings), for the filter."""
    return sorted(session.scalars(select(Call.outcome).where(Call.org_id == org_id, Call.outcome.is_not(None)).distinct()))


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _midnight(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(), ZoneInfo(zone))


@router.get("/calls")
def calls_page(
    request: Request,
    scope: Scope = Depends(auth.scope),
    app: Console = Depends(console),
    since: str | None = None,
    until: str | None = None,
    outcome: str | None = None,
    fallback: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
) -> HTMLResponse:
    """Dates are days in the org's time zone (from `since` through `until`, inclusive)."""
    zone = org_zone(org_config(app, scope))
    first, last = _day(since), _day(until)
    text = (q or "").strip()[:MAX_SEARCH_CHARS] or None
    had_fallback = {"yes": True, "no": False}.get(fallback or "")
    chosen_outcome = (outcome or "").strip()[:MAX_OUTCOME_CHARS] or None
    page, outcomes = queries.CallPage([], None), []
    if scope.org_id is not None:
        with app.store.session() as session:
            outcomes = recorded_outcomes(session, scope.org_id)
            try:
                page = queries.list_calls(
                    session, org_id=scope.org_id, since=_midnight(first, zone) if first else None,
                    before=_midnight(last + timedelta(days=1), zone) if last else None, outcome=chosen_outcome,
                    had_fallback=had_fallback, text=text, limit=app.settings.calls_per_page, cursor=cursor,
                )  # fmt: skip
            except ValueError:
                page = queries.CallPage([], None)
    filters = {"since": first.isoformat() if first else "", "until": last.isoformat() if last else "", "outcome": chosen_outcome or "",
               "fallback": fallback if had_fallback is not None else "", "q": text or ""}  # fmt: skip
    return render(request, "calls.html", page=page, filters=filters, outcomes=outcomes, zone=zone, paged=bool(cursor))


def _events(app: Console, org_id: str, call_sid: str) -> list[queries.EventView]:
    """The signed events about this call, oldest first (call.completed and the others carry its sid)."""
    with app.store.session() as session:
        return list(reversed(queries.list_events(session, org_id=org_id, call_sid=call_sid)))


@router.get("/calls/{call_sid}")
def call_page(call_sid: str, request: Request, scope: Scope = Depends(auth.scope), app: Console = Depends(console)) -> HTMLResponse:
    with app.store.session() as session:
        detail = queries.get_call(session, call_sid[:64])
    if detail is None or not scope.principal.may_see(detail.call.org_id):
        raise auth.NotFound()
    if detail.call.org_id != scope.org_id:
        # An admin of several orgs opened another of their orgs' calls: show that org.
        scope = Scope(scope.principal, detail.call.org_id, scope.org_ids)
        request.state.scope = scope
    zone = org_zone(org_config(app, scope))
    stages = sorted({stage for turn in detail.turns for stage in turn.latency_ms}, key=_stage_order)
    return render(request, "call.html", detail=detail, events=_events(app, detail.call.org_id, detail.call.call_sid), stages=stages, zone=zone)


STAGE_ORDER = ("download", "stt", "retrieval", "llm", "tts", "turn")


def _stage_order(stage: str) -> tuple[int, str]:
    return (STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER), stage)
