"""/settings: the org's greeting, fallback, time zone, handoff number and opening hours, records policy and
events URL; shown to everyone in the org, changed only by admins, validated as config.json is, audited."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from services.common.orgs import OrgConfigError
from services.common.records.org_sources import OrgDocument, StaleConfigError
from services.console import auth
from services.console.access import Scope
from services.console.metrics import CHANGES
from services.console.pages.support import after_change
from services.console.settings_form import CALLER_NUMBERS, DAY_NAMES, TRANSCRIPTS, apply_form, form_values, problems_by_field
from services.console.state import Console, console
from services.console.views import render

router = APIRouter()


def _stored(app: Console, scope: Scope) -> tuple[OrgDocument | None, str]:
    if scope.org_id is None:
        return None, ""
    try:
        return app.orgs.read(scope.org_id), ""
    except (LookupError, ValueError) as error:
        return None, str(error)


def _page(request: Request, app: Console, stored: OrgDocument | None, problem: str, values: dict[str, str] | None = None,
          errors: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:  # fmt: skip
    return render(
        request, "settings.html", status_code, stored=stored, problem=problem, errors=errors or {},
        values=values or (form_values(stored.document) if stored else {}), days=DAY_NAMES, transcripts=TRANSCRIPTS,
        caller_numbers=CALLER_NUMBERS, source=app.settings.org_configs, zone=stored.config.local_timezone if stored else "UTC",
    )  # fmt: skip


@router.get("/settings")
def settings_page(request: Request, scope: Scope = Depends(auth.scope), app: Console = Depends(console)) -> HTMLResponse:
    stored, problem = _stored(app, scope)
    return _page(request, app, stored, problem)


@router.post("/settings")
def save_settings(
    request: Request, form: FormData = Depends(auth.checked_form), scope: Scope = Depends(auth.admin_scope), app: Console = Depends(console)
) -> Response:
    stored, problem = _stored(app, scope)
    if stored is None:
        return _page(request, app, None, problem or "This org has no settings to change.", status_code=404)
    submitted = {key: str(value) for key, value in form.items() if isinstance(value, str)}
    document, errors = apply_form(stored.document, submitted)
    if not errors:
        try:
            app.orgs.write(stored.org_id, document, str(form.get("revision", "")), scope.principal.actor)
        except OrgConfigError as error:
            errors = problems_by_field(error.problems) or {"form": str(error)}
        except StaleConfigError:
            fresh, _ = _stored(app, scope)
            return _page(request, app, fresh, "Someone changed these settings while you were editing: here they are now. "
                         "Make your change again.", status_code=409)  # fmt: skip
    if errors:
        return _page(request, app, stored, "", values=form_values(document) | _typed(submitted), errors=errors, status_code=400)
    CHANGES.labels("settings").inc()
    return after_change("/settings", "settings-saved", org=stored.org_id)


def _typed(submitted: dict[str, str]) -> dict[str, str]:
    """What the person typed, shown again as typed (not as the document would store it)."""
    return {key: value for key, value in submitted.items() if key not in ("csrf_token", "revision")}
