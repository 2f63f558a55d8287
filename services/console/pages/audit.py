"""/audit: who did what to the org, newest first (sign-ins, callbacks handled, documents, settings, users)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import or_, select

from services.common.records.models import AuditEntry
from services.common.records.queries import AuditView, as_json
from services.console import auth
from services.console.access import Scope
from services.console.pages.support import org_config
from services.console.state import Console, console
from services.console.views import org_zone, render

router = APIRouter()
SHOWN = 200


def audit_entries(app: Console, scope: Scope, action: str | None) -> list[AuditView]:
    """The shown org's entries; an admin of every org also sees the entries that concern no one org."""
    if scope.org_id is None:
        return []
    orgs = AuditEntry.org_id == scope.org_id
    if scope.principal.org_id is None:
        orgs = or_(orgs, AuditEntry.org_id.is_(None))
    query = select(AuditEntry).where(orgs)
    if action:
        query = query.where(AuditEntry.action == action)
    query = query.order_by(AuditEntry.at.desc(), AuditEntry.id).limit(SHOWN)
    with app.store.session() as session:
        return [AuditView(e.id, e.at, e.actor, e.org_id, e.action, dict(e.detail)) for e in session.scalars(query)]


@router.get("/audit")
def audit_page(request: Request, action: str | None = None, scope: Scope = Depends(auth.scope), app: Console = Depends(console)) -> HTMLResponse:
    entries = audit_entries(app, scope, (action or "").strip()[:64] or None)
    return render(request, "audit.html", entries=entries, action=action or "", as_json=as_json, zone=org_zone(org_config(app, scope)))
