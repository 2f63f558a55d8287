"""/gaps: the questions the documents did not answer, grouped by meaning, each a step from adding the answer."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from services.common.records.models import utc_now
from services.console import auth
from services.console.access import Scope
from services.console.pages.support import org_config
from services.console.state import Console, console
from services.console.views import org_zone, render

router = APIRouter()
PERIODS = {"7": 7, "30": 30, "90": 90}
SHOWN = 100


@router.get("/gaps")
def gaps_page(request: Request, days: str = "30", scope: Scope = Depends(auth.scope), app: Console = Depends(console)) -> HTMLResponse:
    period = days if days in PERIODS else "30"
    report = None
    if scope.org_id is not None:
        report = app.gaps.report(scope.org_id, utc_now() - timedelta(days=PERIODS[period]))
    return render(request, "gaps.html", report=report, shown=SHOWN, period=period, periods=list(PERIODS), zone=org_zone(org_config(app, scope)))
