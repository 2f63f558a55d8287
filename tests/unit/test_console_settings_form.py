"""The settings form and an org's config document: every field both ways, the rest of the document kept."""

from __future__ import annotations

from services.console.settings_form import apply_form, form_values, problems_by_field

DOCUMENT = {
    "org_id": "acme", "name": "Acme", "greeting": "Hi", "persona": "p", "top_k": 4,
    "handoff": {"number": "+14155550123", "timezone": "Europe/Paris", "hours": {"mon": "09:00-17:00"}, "closed_dates": ["2026-12-25"]},
    "records": {"transcripts": "full"},
}  # fmt: skip


def test_the_form_shows_the_documents_values_and_the_policy_defaults():
    values = form_values(DOCUMENT)
    assert values["timezone"] == "Europe/Paris" and values["hours_mon"] == "09:00-17:00" and values["hours_tue"] == ""
    assert values["closed_dates"] == "2026-12-25" and values["transcripts"] == "full" and values["caller_number"] == "hashed"
    assert values["retention_days"] == "90" and values["events_url"] == ""


def test_a_form_submitted_unchanged_keeps_the_document():
    document, problems = apply_form(DOCUMENT, form_values(DOCUMENT))
    assert problems == {}
    assert document["handoff"] == {**DOCUMENT["handoff"]} and document["top_k"] == 4 and document["persona"] == "p"
    assert document["timezone"] == "Europe/Paris"  # the org's one time zone, now stated for the whole org


def test_an_empty_transfer_number_removes_the_handoff_unless_hours_need_it():
    without = {**form_values(DOCUMENT), "handoff_number": "", "hours_mon": "", "closed_dates": ""}
    document, problems = apply_form(DOCUMENT, without)
    assert "handoff" not in document and problems == {}
    _, problems = apply_form(DOCUMENT, {**without, "hours_fri": "09:00-12:00"})
    assert "a number" in problems["handoff_number"]


def test_bad_hours_and_days_are_named_by_field():
    _, problems = apply_form(DOCUMENT, {**form_values(DOCUMENT), "hours_wed": "9-5", "retention_days": "ninety"})
    assert set(problems) == {"hours_wed", "retention_days"}


def test_validation_problems_come_back_to_their_fields():
    shown = problems_by_field({"handoff.number": "bad", "records.retention_days": "too small", "handoff.closed_dates.1": "not a date", "top_k": "x"})
    assert shown == {"handoff_number": "bad", "retention_days": "too small", "closed_dates": "not a date", "form": "top_k: x"}
