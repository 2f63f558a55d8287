"""What each page shows and does, for a signed-in user of acme (the records seeded by conftest)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from services.common.records import queries
from services.console.overview import overview
from tests.console.conftest import ACME_CALL, ACME_GAP_CALL, NOW, SEEDED_AT, csrf_token
from tests.console.seed import SeededCall, add_calls


def text_of(html: str) -> str:
    """A page's text as a person reads it: tags dropped, entities of quotes decoded, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&#39;", "'").replace("&#34;", '"').replace("&amp;", "&").split())


def set_org_timezone(world, zone: str) -> None:
    path = world.data_dir / "acme" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "timezone": zone}))


def test_the_overview_counts_today_the_week_containment_fallbacks_callbacks_and_p95(client_for, world):
    page = text_of(client_for("viewer@acme.test").get("/").text)
    assert "1 callback waiting" in page
    with world.store.session() as session:
        figures = overview(session, "acme", NOW, "UTC")
    # Two calls this week: one answered alone, one that fell back and took a message (not contained).
    assert (figures.calls_week, figures.ended_week, figures.contained_week) == (2, 2, 1)
    assert (figures.turns_week, figures.fallback_turns_week, figures.callbacks_waiting) == (2, 1, 1)
    assert figures.p95_turn_ms == 1200.0
    assert "50%" in page and "1,200 ms" in page


def test_p95_turn_latency_is_the_nearest_rank_over_the_weeks_turns(world):
    turns = [("q", "a", [], None, float(ms)) for ms in range(1, 101)]
    add_calls(world.store, [SeededCall("CA" + "c" * 32, "acme", SEEDED_AT, "completed", turns)])
    with world.store.session() as session:
        assert overview(session, "acme", NOW, "UTC").p95_turn_ms == 97.0  # of 102 turns, the 97th smallest


def test_calls_are_listed_newest_first_with_time_caller_duration_turns_outcome_and_cost(client_for):
    page = client_for("viewer@acme.test").get("/calls").text
    assert page.index(ACME_CALL) < page.index(ACME_GAP_CALL)
    row = text_of(page[page.index(ACME_CALL) : page.index("</tr>", page.index(ACME_CALL))])
    assert "…0123" in row and "20 s" in row and "completed" in row and "$0.0000" in row


@pytest.mark.parametrize("query,shown,hidden", [
    ("fallback=yes", ACME_GAP_CALL, ACME_CALL),
    ("fallback=no", ACME_CALL, ACME_GAP_CALL),
    ("outcome=callback", ACME_GAP_CALL, ACME_CALL),
    ("q=UNICYCLES", ACME_GAP_CALL, ACME_CALL),
    ("q=100%25", None, ACME_CALL),  # LIKE wildcards are plain text
])  # fmt: skip
def test_calls_are_filtered_by_fallback_outcome_and_words_said(client_for, query, shown, hidden):
    page = client_for("viewer@acme.test").get(f"/calls?{query}").text
    assert hidden not in page
    assert shown is None or shown in page
    if shown is None:
        assert "No calls match" in page


def test_date_filters_are_days_in_the_orgs_time_zone(client_for, world):
    late_evening = NOW.replace(hour=4, minute=30) - timedelta(days=3)  # 21:30 the day before in Los Angeles (UTC-7/-8)
    add_calls(world.store, [SeededCall("CA" + "d" * 32, "acme", late_evening, "completed", [])])
    set_org_timezone(world, "America/Los_Angeles")
    client = client_for("viewer@acme.test")
    local_day = (late_evening - timedelta(hours=12)).date().isoformat()
    assert "CA" + "d" * 32 in client.get(f"/calls?since={local_day}&until={local_day}").text
    utc_day = late_evening.date().isoformat()
    assert "CA" + "d" * 32 not in client.get(f"/calls?since={utc_day}&until={utc_day}").text


def test_calls_page_through_older_calls_with_the_filters_kept(client_for, world):
    world.app_state.settings.calls_per_page = 1
    client = client_for("viewer@acme.test")
    first = client.get("/calls?fallback=&q=").text
    older = re.search(r'href="(/calls\?[^"]*cursor=[^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(older).text
    assert ACME_CALL in first and ACME_GAP_CALL not in first
    assert ACME_GAP_CALL in second and ACME_CALL not in second and "Older calls" not in second


def test_a_call_shows_its_transcript_sources_fallbacks_latency_callback_and_events(client_for):
    client = client_for("viewer@acme.test")
    answered = text_of(client.get(f"/calls/{ACME_CALL}").text)
    assert "Caller When are you open on Saturday?" in answered and "Agent We open at nine." in answered
    assert "Sources: hours.md#0" in answered
    assert "stt retrieval llm tts turn" in answered and "200 ms 30 ms 120 ms 90 ms 900 ms" in answered
    assert "call.completed delivered" in answered
    fell_back = text_of(client.get(f"/calls/{ACME_GAP_CALL}").text)
    assert "fallback not_in_documents" in fell_back
    assert "Ann Acme , +15035550101: Please call about unicycles" in fell_back


def test_times_are_shown_in_the_orgs_time_zone(client_for, world):
    set_org_timezone(world, "Asia/Tokyo")
    page = client_for("viewer@acme.test").get("/calls").text
    tokyo = SEEDED_AT.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M")
    assert tokyo in page and "Times in Asia/Tokyo" in page


def test_marking_a_callback_done_records_who_and_when_and_audits_it(client_for, world):
    client = client_for("admin@acme.test")
    page = client.get("/callbacks").text
    assert "Ann Acme" in page and 'href="tel:+15035550101"' in page and f'href="/calls/{ACME_GAP_CALL}"' in page
    response = client.post(f"/callbacks/{world.callbacks['acme']}/done", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 200 and "Marked done." in response.text and "Nothing waiting" in response.text
    done = text_of(response.text[response.text.index('id="callbacks-done"') :])
    assert "Ann Acme" in done and "console:admin@acme.test" in done
    with world.store.session() as session:
        [callback] = queries.list_callbacks(session, org_id="acme")
        [entry] = queries.list_audit(session, action="callback.done")
    assert callback.status == "done" and callback.handled_by == "console:admin@acme.test" and callback.handled_at is not None
    assert entry.detail["callback_id"] == str(callback.id)


def test_knowledge_gaps_are_grouped_with_counts_and_lead_to_adding_a_document(client_for):
    client = client_for("viewer@acme.test")
    page = client.get("/gaps").text
    assert "Do you fix unicycles?" in page
    link = re.search(r'href="(/documents\?gap=[^"]+)"', page).group(1).replace("&amp;", "&")
    documents = text_of(client.get(link).text)
    assert "Callers asked “Do you fix unicycles?”" in documents or "Callers asked Do you fix unicycles?" in documents


def test_documents_are_listed_tried_uploaded_reingested_and_deleted_with_audit(client_for, world):
    client = client_for("admin@acme.test")
    page = client.get("/documents").text
    assert "hours.md" in page
    tried = text_of(client.get("/documents?question=Are+you+open+on+Saturdays").text)
    assert "The agent would say We open at nine on Saturdays." in tried and "hours.md" in tried
    token = csrf_token(page)
    files = [("files", ("unicycles.md", b"We repair unicycles too.", "text/markdown")), ("files", ("notes.exe", b"MZ", "application/octet-stream"))]
    uploaded = client.post("/documents", data={"csrf_token": token}, files=files, headers={"Accept": "application/json"})
    assert uploaded.json() == {"error": "", "results": [{"name": "unicycles.md", "ok": True, "chunks": 1, "error": ""},
                                                        {"name": "notes.exe", "ok": False, "chunks": 0, "error": "unsupported file type"}]}  # fmt: skip
    assert "repair unicycles" in text_of(client.get("/documents?question=do+you+repair+unicycles").text)
    replaced = client.post("/documents", data={"csrf_token": token, "replace": "hours.md"}, files={"files": ("new-hours.txt", b"Closed on Sundays.", "text/plain")})
    assert replaced.status_code == 200 and world.knowledge.documents["acme"]["hours.md"] == "Closed on Sundays."
    deleted = client.post("/documents/delete", data={"csrf_token": token, "document": "unicycles.md"})
    assert "Document deleted." in deleted.text and "unicycles.md" not in world.knowledge.documents["acme"]
    with world.store.session() as session:
        actions = [entry.action for entry in queries.list_audit(session, org_id="acme")]
    assert actions.count("documents.ingest") == 2 and "documents.delete" in actions


def test_a_question_nothing_answers_is_shown_as_the_fallback(client_for):
    page = text_of(client_for("viewer@acme.test").get("/documents?question=gondola+rides").text)
    assert "fallback Nothing in the documents answers this" in page


def test_the_documents_page_says_when_the_knowledge_service_is_down(client_for, world):
    world.knowledge.down = True
    page = client_for("viewer@acme.test").get("/documents")
    assert page.status_code == 200 and "the knowledge service cannot be reached" in page.text


def test_settings_are_saved_to_the_org_config_validated_and_audited(client_for, world):
    client = client_for("admin@acme.test")
    page = client.get("/settings").text
    form = {"csrf_token": csrf_token(page), "revision": re.search(r'name="revision" value="([^"]+)"', page).group(1),
            "greeting": "Hello from Acme!", "fallback_message": "Let me take a message.", "timezone": "America/Los_Angeles",
            "handoff_number": "+14155550123", "hours_mon": "09:00-17:30", "hours_sat": "10:00-14:00", "closed_dates": "2026-12-25",
            "transcripts": "full", "caller_number": "last4", "retention_days": "30", "events_url": "https://example.com/hooks"}  # fmt: skip
    saved = client.post("/settings", data=form)
    assert saved.status_code == 200 and "Settings saved" in saved.text
    config = json.loads((world.data_dir / "acme" / "config.json").read_text())
    assert config["greeting"] == "Hello from Acme!" and config["timezone"] == "America/Los_Angeles"
    assert config["handoff"] == {"number": "+14155550123", "hours": {"mon": "09:00-17:30", "sat": "10:00-14:00"},
                                 "closed_dates": ["2026-12-25"], "timezone": "America/Los_Angeles"}  # fmt: skip
    assert config["records"] == {"transcripts": "full", "caller_number": "last4", "retention_days": 30}
    assert config["persona"].startswith("You are the friendly")  # fields the form does not show are kept
    with world.store.session() as session:
        [entry] = queries.list_audit(session, action="org.settings")
    assert entry.actor == "console:admin@acme.test" and entry.detail["changed"]["greeting"][1] == "Hello from Acme!"


def test_settings_errors_are_shown_next_to_their_fields_and_nothing_is_saved(client_for, world):
    client = client_for("admin@acme.test")
    before = (world.data_dir / "acme" / "config.json").read_text()
    page = client.get("/settings").text
    revision = re.search(r'name="revision" value="([^"]+)"', page).group(1)
    bad = {"csrf_token": csrf_token(page), "revision": revision, "greeting": "", "fallback_message": "x", "handoff_number": "555-0123",
           "hours_tue": "9 to 5", "transcripts": "full", "caller_number": "full", "retention_days": "0", "events_url": "ftp://x"}  # fmt: skip
    response = client.post("/settings", data=bad)
    assert response.status_code == 400
    errors = dict(re.findall(r'<p class="field-error" id="([a-z_]+)-error">([^<]+)</p>', response.text))
    assert "opening time" in errors["hours_tue"]
    assert 'value="9 to 5"' in response.text  # what was typed is kept
    fixed_hours = {**bad, "hours_tue": "09:00-17:00"}
    errors = dict(re.findall(r'<p class="field-error" id="([a-z_]+)-error">([^<]+)</p>', client.post("/settings", data=fixed_hours).text))
    assert set(errors) == {"greeting", "handoff_number", "retention_days", "events_url"}
    assert "E.164" in errors["handoff_number"] and "http(s) URL" in errors["events_url"]
    assert (world.data_dir / "acme" / "config.json").read_text() == before


def test_settings_changed_by_someone_else_meanwhile_are_not_overwritten(client_for, world):
    first, second = client_for("admin@acme.test"), client_for("root@example.test")
    stale = first.get("/settings").text
    fresh = second.get("/settings?org=acme").text

    def form(page: str, greeting: str) -> dict[str, str]:
        fields = dict(re.findall(r'<input id="([a-z_]+)" name="\1"[^>]*value="([^"]*)"', page))
        return {**fields, "csrf_token": csrf_token(page), "revision": re.search(r'name="revision" value="([^"]+)"', page).group(1),
                "greeting": greeting, "fallback_message": "x", "transcripts": "redacted", "caller_number": "hashed", "retention_days": "90"}  # fmt: skip

    assert second.post("/settings?org=acme", data=form(fresh, "Second")).status_code == 200
    conflict = first.post("/settings", data=form(stale, "First"))
    assert conflict.status_code == 409 and "Someone changed these settings" in conflict.text and "Second" in conflict.text
    assert json.loads((world.data_dir / "acme" / "config.json").read_text())["greeting"] == "Second"


def test_the_audit_page_shows_sign_ins_and_changes_newest_first(client_for):
    client = client_for("admin@acme.test")
    page = text_of(client.get("/audit").text)
    assert "console:admin@acme.test console.sign_in acme" in page
    assert "console.sign_in" in text_of(client.get("/audit?action=console.sign_in").text)
    assert "Nothing recorded for callback.done" in text_of(client.get("/audit?action=callback.done").text)


def test_empty_states_say_what_to_do_next(client_for, world):
    with world.store.session() as session:
        for table in ("callbacks", "turns", "calls"):
            session.execute(__import__("sqlalchemy").text(f"DELETE FROM {table}"))
    client = client_for("admin@acme.test")
    assert "voiceagent call --org acme" in client.get("/calls").text
    assert "Nothing waiting" in client.get("/callbacks").text
    assert "No gaps in this period" in client.get("/gaps").text
    world.knowledge.documents["acme"] = {}
    assert "upload your opening hours" in client.get("/documents").text


def test_pages_fit_a_phone_and_a_keyboard(client_for):
    page = client_for("viewer@acme.test").get("/calls").text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert 'class="skip" href="#main"' in page and 'aria-current="page"' in page
    css = client_for(None).get("/static/console.css").text
    assert "@media (max-width: 40rem)" in css and ":focus-visible" in css


def test_an_upload_over_the_limit_is_refused_before_it_is_read(client_for, world):
    world.app_state.settings.max_upload_mb = 0.5
    client = client_for("admin@acme.test")
    token = csrf_token(client.get("/documents").text)
    big = client.post("/documents", data={"csrf_token": token}, files={"files": ("big.md", b"x" * (2 * 1024 * 1024), "text/markdown")},
                      headers={"Accept": "application/json"})  # fmt: skip
    assert big.status_code == 413 and "At most 0.5 MB" in big.json()["error"]
    assert "big.md" not in world.knowledge.documents["acme"]
