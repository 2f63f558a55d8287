"""The settings form and an org's config document, both ways: the values a form shows, and the document a
submitted form makes (every field the form does not show is kept as it was).

Validation is not done here: the new document goes through parse_org_config like any config.json, and its
per-field problems ("handoff.number", "records.retention_days") are mapped back to the form's fields, so a
message is shown next to the field it is about.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from services.common.handoff import DAYS, opening_span
from services.common.orgs import RecordsPolicy

DAY_NAMES = dict(zip(DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")))
TRANSCRIPTS = ("redacted", "full", "none")
CALLER_NUMBERS = ("hashed", "last4", "full", "none")
# Form field -> the document's dotted path (problems from validation come back under these paths).
PATHS = {
    "greeting": "greeting",
    "fallback_message": "fallback_message",
    "timezone": "timezone",
    "handoff_number": "handoff.number",
    "closed_dates": "handoff.closed_dates",
    "transcripts": "records.transcripts",
    "caller_number": "records.caller_number",
    "retention_days": "records.retention_days",
    "events_url": "events_url",
    **{f"hours_{day}": f"handoff.hours.{day}" for day in DAYS},
}
MAX_FIELD_CHARS = 2000


def form_values(document: Mapping[str, Any]) -> dict[str, str]:
    """What each field of the form shows for this config."""
    handoff = document.get("handoff") or {}
    records = {**RecordsPolicy().model_dump(), **(document.get("records") or {})}
    hours = handoff.get("hours") or {}
    return {
        "greeting": document.get("greeting", ""),
        "fallback_message": document.get("fallback_message", ""),
        "timezone": document.get("timezone") or handoff.get("timezone") or "",
        "handoff_number": handoff.get("number", ""),
        "closed_dates": ", ".join(str(day) for day in handoff.get("closed_dates") or []),
        "transcripts": records["transcripts"],
        "caller_number": records["caller_number"],
        "retention_days": str(records["retention_days"]),
        "events_url": document.get("events_url") or "",
        **{f"hours_{day}": hours.get(day, "") for day in DAYS},
    }


def apply_form(document: Mapping[str, Any], form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The document the form asks for, and problems found before validation (field -> message)."""
    value = {name: str(form.get(name, "")).strip()[:MAX_FIELD_CHARS] for name in PATHS}
    problems: dict[str, str] = {}
    updated = copy.deepcopy(dict(document))
    for name in ("greeting", "fallback_message"):
        updated[name] = value[name]
    _set_or_drop(updated, "timezone", value["timezone"])
    _set_or_drop(updated, "events_url", value["events_url"])
    retention = value["retention_days"]
    records = dict(updated.get("records") or {})
    records.update(transcripts=value["transcripts"], caller_number=value["caller_number"])
    try:
        records["retention_days"] = int(retention)
    except ValueError:
        problems["retention_days"] = "must be a whole number of days"
    updated["records"] = records
    hours = {day: value[f"hours_{day}"] for day in DAYS if value[f"hours_{day}"]}
    for day, span in hours.items():
        try:
            opening_span(span)
        except ValueError as error:
            problems[f"hours_{day}"] = str(error)
    closed = [day.strip() for day in value["closed_dates"].split(",") if day.strip()]
    if value["handoff_number"]:
        handoff = dict(updated.get("handoff") or {})
        handoff.update(number=value["handoff_number"], hours=hours, closed_dates=closed)
        if value["timezone"]:
            # One time zone per org in the console: the handoff's hours are read in it too.
            handoff["timezone"] = value["timezone"]
        updated["handoff"] = handoff
    elif hours or closed:
        problems["handoff_number"] = "opening hours need a number to transfer callers to"
    else:
        updated.pop("handoff", None)
    return updated, problems


def _set_or_drop(document: dict[str, Any], key: str, value: str) -> None:
    if value:
        document[key] = value
    else:
        document.pop(key, None)


def problems_by_field(problems: Mapping[str, str]) -> dict[str, str]:
    """Validation problems keyed by document path, as form fields ("form" for those no field shows)."""
    by_path = {path: name for name, path in PATHS.items()}
    shown: dict[str, str] = {}
    for path, message in problems.items():
        name = by_path.get(path)
        if name is None and path.startswith("handoff.closed_dates"):
            name = "closed_dates"  # "handoff.closed_dates.2": the third date
        shown.setdefault(name or "form", message if name else f"{path}: {message}")
    return shown
