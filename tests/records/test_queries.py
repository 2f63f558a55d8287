"""Reading the store as the CLI and console will: calls filtered and paged newest first, a call with its
turns, callbacks by status, marking one done (audited), and the audit trail."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.common.records import queries
from services.common.records.record_types import AuditRecorded, CallbackRequested, CallEnded, CallStarted, TurnRecorded
from services.common.records.writer import write_records

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ANN, BO, CY = (uuid.UUID(f"{prefix}-0000-4000-8000-000000000000") for prefix in ("aaaaaa11", "aaaaaa22", "cccccc33"))


def call_records(call_sid: str, org_id: str, minutes: int, outcome: str, questions: list[tuple[str, bool]]) -> list:
    at = T0 + timedelta(minutes=minutes)
    records = [CallStarted(call_sid, org_id, "+14155550100", "…0199", "turns", started_at=at)]
    for index, (question, fell_back) in enumerate(questions):
        answer = "Let me have a colleague call you back." if fell_back else "We open at nine."
        records.append(TurnRecorded(call_sid, org_id, index, question, answer, fallback=fell_back, created_at=at + timedelta(seconds=index)))
    records.append(CallEnded(call_sid, org_id, outcome, len(questions), ended_at=at + timedelta(minutes=2)))
    return records


@pytest.fixture
def calls(store):
    """Five calls a minute apart (CA0 oldest): two orgs, one fallback each in CA1 and CA3."""
    with store.session() as session:
        write_records(session, call_records("CA0", "acme", 0, "completed", [("When do you open on Saturday?", False)]))
        write_records(session, call_records("CA1", "acme", 1, "callback", [("Do you fix 100% carbon forks?", True)]))
        write_records(session, call_records("CA2", "beta", 2, "completed", [("Opening hours?", False)]))
        write_records(session, call_records("CA3", "acme", 3, "hung_up", [("hello", False), ("Unicycle parts?", True)]))
        write_records(session, call_records("CA4", "acme", 4, "completed", [("Where can I park?", False)]))
    return store


def sids(page: queries.CallPage) -> list[str]:
    return [call.call_sid for call in page.calls]


def test_calls_are_listed_newest_first(calls):
    with calls.session() as session:
        assert sids(queries.list_calls(session)) == ["CA4", "CA3", "CA2", "CA1", "CA0"]


@pytest.mark.parametrize(
    "filters,expected",
    [
        ({"org_id": "beta"}, ["CA2"]),
        ({"since": T0 + timedelta(minutes=3)}, ["CA4", "CA3"]),
        ({"outcome": "callback"}, ["CA1"]),
        ({"had_fallback": True}, ["CA3", "CA1"]),
        ({"had_fallback": False, "org_id": "acme"}, ["CA4", "CA0"]),
        ({"text": "saturday"}, ["CA0"]),
        ({"text": "colleague"}, ["CA3", "CA1"]),
        # LIKE's wildcards in the search text are plain characters.
        ({"text": "100%"}, ["CA1"]),
        ({"text": "_"}, []),
    ],
)
def test_calls_are_filtered(calls, filters, expected):
    with calls.session() as session:
        assert sids(queries.list_calls(session, **filters)) == expected


def test_calls_page_by_cursor_without_gaps_or_repeats(calls):
    seen: list[str] = []
    cursor = None
    with calls.session() as session:
        while True:
            page = queries.list_calls(session, limit=2, cursor=cursor)
            seen += sids(page)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert seen == ["CA4", "CA3", "CA2", "CA1", "CA0"]


def test_a_call_is_shown_with_its_turns_in_order(calls):
    with calls.session() as session:
        detail = queries.get_call(session, "CA3")
        assert queries.get_call(session, "CA-unknown") is None
    assert (detail.call.outcome, detail.call.turns_count, detail.call.had_fallback, detail.call.duration_seconds) == ("hung_up", 2, True, 120.0)
    assert [(turn.turn_index, turn.caller_text, turn.fallback) for turn in detail.turns] == [(0, "hello", False), (1, "Unicycle parts?", True)]
    document = queries.as_json(detail)
    assert document["call"]["started_at"] == "2026-11-20T09:03:00+00:00" and document["turns"][1]["fallback"] is True


@pytest.fixture
def callbacks(calls):
    requests = [
        CallbackRequested("acme", "CA1", "Ann", "+14155550199", "carbon forks", id=ANN, created_at=T0 + timedelta(minutes=1)),
        CallbackRequested("acme", "CA3", "Bo", "+14155550111", "unicycles", id=BO, created_at=T0 + timedelta(minutes=3)),
        CallbackRequested("beta", None, "Cy", "+14155550122", "left without a call", id=CY, created_at=T0),
    ]
    with calls.session() as session:
        write_records(session, requests)
    return calls


def test_callbacks_are_listed_newest_first_by_org_and_status(callbacks):
    with callbacks.session() as session:
        assert [c.name for c in queries.list_callbacks(session)] == ["Bo", "Ann", "Cy"]
        assert [c.name for c in queries.list_callbacks(session, org_id="acme", status="new")] == ["Bo", "Ann"]
        assert queries.list_callbacks(session, status="done") == []
        with pytest.raises(ValueError, match="new, done"):
            queries.list_callbacks(session, status="pending")


def test_marking_a_callback_done_records_who_did_it_and_audits_it(callbacks):
    with callbacks.session() as session:
        done = queries.mark_callback_done(session, BO, "cli:alice")
    assert (done.status, done.handled_by) == ("done", "cli:alice") and done.handled_at is not None
    with callbacks.session() as session:
        assert [c.name for c in queries.list_callbacks(session, status="done")] == ["Bo"]
        [entry] = queries.list_audit(session, org_id="acme")
    assert (entry.actor, entry.action, entry.detail) == ("cli:alice", "callback.done", {"callback_id": str(BO), "call_sid": "CA3"})


def test_marking_a_callback_done_twice_changes_nothing_the_second_time(callbacks):
    with callbacks.session() as session:
        first = queries.mark_callback_done(session, ANN, "cli:alice")
    with callbacks.session() as session:
        second = queries.mark_callback_done(session, str(ANN), "cli:bob")
        assert len(queries.list_audit(session)) == 1
    assert (second.handled_by, second.handled_at) == ("cli:alice", first.handled_at)


def test_a_callback_is_found_by_its_id_or_a_unique_prefix_of_it(callbacks):
    with callbacks.session() as session:
        assert queries.find_callback(session, str(CY)).name == "Cy"
        assert queries.find_callback(session, "aaaaaa1").name == "Ann"
        assert queries.find_callback(session, "AAAAAA22").name == "Bo"
        with pytest.raises(queries.AmbiguousIdError, match="more than one"):
            queries.find_callback(session, "aaaaaa")
        with pytest.raises(queries.NotFoundError):
            queries.find_callback(session, "ffffff")
        with pytest.raises(queries.NotFoundError, match="at least 6"):
            queries.find_callback(session, "aa")
        with pytest.raises(queries.NotFoundError):
            queries.find_callback(session, uuid.UUID(int=7))


def test_the_audit_trail_is_listed_newest_first_by_org_and_action(store):
    entries = [
        AuditRecorded("cli:alice", "ingest", "acme", {"documents": 3}, at=T0),
        AuditRecorded("console:bob", "document.delete", "acme", {"document": "old.pdf"}, at=T0 + timedelta(minutes=1)),
        AuditRecorded("system:purge", "purge", None, {"calls": 12}, at=T0 + timedelta(minutes=2)),
    ]
    with store.session() as session:
        write_records(session, entries)
    with store.session() as session:
        assert [e.action for e in queries.list_audit(session)] == ["purge", "document.delete", "ingest"]
        assert [e.action for e in queries.list_audit(session, org_id="acme", since=T0 + timedelta(seconds=30))] == ["document.delete"]
        assert [e.actor for e in queries.list_audit(session, action="ingest")] == ["cli:alice"]
