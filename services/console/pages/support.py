"""What several pages need: the shown org's config (for its time zone), and redirects after a change."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi.responses import RedirectResponse

from services.common.logs import get_logger
from services.common.orgs import OrgConfig
from services.console.access import Scope
from services.console.state import Console

log = get_logger(__name__)


def org_config(app: Console, scope: Scope) -> OrgConfig | None:
    """The shown org's config, or None when it has none that is valid (its records are still shown, in UTC)."""
    if scope.org_id is None:
        return None
    try:
        return app.orgs.read(scope.org_id).config
    except (LookupError, ValueError) as error:
        log.warning("console.org_config_unreadable", org_id=scope.org_id, error=str(error))
        return None


def after_change(path: str, notice: str, **query: str) -> RedirectResponse:
    """303 to `path` with a fixed notice (views.NOTICES), so reloading the page does not repeat the change."""
    return RedirectResponse(f"{path}?{urlencode({**query, 'notice': notice})}", status_code=303)
