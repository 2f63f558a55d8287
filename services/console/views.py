"""Rendering pages: the Jinja2 environment, its filters (times in the org's zone, durations, money) and the
context every page gets (who is signed in, the org shown, the CSRF token, the notice after a change).

Autoescaping is on for every template: transcripts, callers' messages and document names are text from
outside and must never become markup.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from services.common.orgs import OrgConfig
from services.common.records.privacy import HASH_PREFIX
from services.console.access import Scope

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"

# What a page says after a change it redirected from (`?notice=...`): fixed texts, so a link cannot make the
# console say something else.
NOTICES = {
    "callback-done": "Marked done.",
    "settings-saved": "Settings saved. Every service uses them within a minute.",
    "deleted": "Document deleted.",
    "signed-out": "You are signed out.",
}
NAVIGATION = [
    ("/", "Overview"),
    ("/calls", "Calls"),
    ("/callbacks", "Callbacks"),
    ("/gaps", "Knowledge gaps"),
    ("/documents", "Documents"),
    ("/settings", "Settings"),
    ("/audit", "Audit"),
]


def local_time(value: datetime | None, zone: str = "UTC", style: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "–"
    return value.astimezone(ZoneInfo(zone)).strftime(style)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def caller(number: str | None) -> str:
    """The caller as stored, short enough for a table: a hashed number as its first eight hex digits (still the
    same for a repeat caller), a withheld or unkept one as "withheld"."""
    if not number:
        return "withheld"
    if number.startswith(HASH_PREFIX):
        return f"#{number[len(HASH_PREFIX):][:8]}"
    return number


def usd(costs: dict[str, float] | float | None) -> str:
    total = sum(costs.values()) if isinstance(costs, dict) else (costs or 0.0)
    return f"${total:.4f}" if total < 1 else f"${total:,.2f}"


def milliseconds(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms"


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.autoescape = True
    templates.env.filters.update(local_time=local_time, duration=duration, usd=usd, ms=milliseconds, caller=caller)
    templates.env.globals.update(navigation=NAVIGATION)
    return templates


templates = _templates()


def org_zone(config: OrgConfig | None) -> str:
    return config.local_timezone if config else "UTC"


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    current: Scope | None = getattr(request.state, "scope", None)
    principal = current.principal if current else getattr(request.state, "principal", None)
    context.setdefault("zone", "UTC")
    return templates.TemplateResponse(
        request,
        template,
        {
            "principal": principal,
            "scope": current,
            "csrf_token": principal.csrf_token if principal else "",
            "notice": NOTICES.get(request.query_params.get("notice", "")),
            "path": request.url.path,
            "now": datetime.now(UTC),
            **context,
        },
        status_code=status_code,
    )
