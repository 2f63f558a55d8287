"""/callbacks: the inbox of messages left for a callback (new first) and marking one done."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from services.common.records import queries
from services.common.records.models import CallbackRequest
from services.console import auth
from services.console.access import Scope
from services.console.metrics import CHANGES
from services.console.pages.support import after_change, org_config
from services.console.state import Console, console
from services.console.views import org_zone, render

router = APIRouter()
SHOWN_DONE = 50


@router.get("/callbacks")
def callbacks_page(request: Request, scope: Scope = Depends(auth.scope), app: Console = Depends(console)) -> HTMLResponse:
    waiting: list[queries.CallbackView] = []
    done: list[queries.CallbackView] = []
    if scope.org_id is not None:
        with app.store.session() as session:
            waiting = queries.list_callbacks(session, org_id=scope.org_id, status="new", limit=queries.MAX_PAGE)
            done = queries.list_callbacks(session, org_id=scope.org_id, status="done", limit=SHOWN_DONE)
    return render(request, "callbacks.html", waiting=waiting, done=done, zone=org_zone(org_config(app, scope)))


@router.post("/callbacks/{callback_id}/done")
def mark_done(
    callback_id: str, form: FormData = Depends(auth.checked_form), scope: Scope = Depends(auth.admin_scope), app: Console = Depends(console)
) -> Response:
    """Only a whole id of a callback in an org the admin may see: a prefix or another org's id is 404."""
    try:
        exact = uuid.UUID(callback_id)
    except ValueError:
        raise auth.NotFound() from None
    with app.store.session() as session:
        found = session.get(CallbackRequest, exact)
        if found is None or not scope.principal.may_see(found.org_id):
            raise auth.NotFound()
        queries.mark_callback_done(session, exact, scope.principal.actor)
        org_id = found.org_id
    CHANGES.labels("callback_done").inc()
    return after_change("/callbacks", "callback-done", org=org_id)
