"""/: the org's day and week at a glance, with what needs doing (callbacks waiting) first."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from services.common.records.models import utc_now
from services.console import auth
from services.console.access import Scope
from services.console.overview import overview
from services.console.pages.support import org_config
from services.console.state import Console, console
from services.console.views import org_zone, render

router = APIRouter()


@router.get("/")
def overview_page(request: Request, scope: Scope = Depends(auth.scope), app: Console = Depends(console)) -> HTMLResponse:
    zone = org_zone(org_config(app, scope))
    figures = None
    if scope.org_id is not None:
        with app.store.session() as session:
            figures = overview(session, scope.org_id, utc_now(), zone)
    return render(request, "overview.html", figures=figures, zone=zone)
