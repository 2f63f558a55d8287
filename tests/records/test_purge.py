"""Retention: each org's records older than its `records.retention_days` are deleted, everything younger is
kept, a callback outlives its call until its own age, events carrying transcripts go too, and every purge is
audited (a dry run changes nothing)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from services.common.orgs import RecordsPolicy
from services.common.records import queries
from services.common.records.models import Call, CallbackRequest, Handoff, OutboxEvent, Turn, utc_now
from services.common.records.org_configs import OrgConfigCache
from services.common.records.outbox import EventType, event_id
from services.common.records.purge import purge_expired
from services.common.records.record_types import CallbackRequested, CallEnded, CallStarted, HandoffStarted, TurnRecorded
from services.common.records.writer import write_records
from tests.records.conftest import update_org_config

NOW = utc_now()
ANN, BO, HANDOFF = (uuid.UUID(int=number) for number in (1, 2, 3))


def days_ago(days: float):
    return NOW - timedelta(days=days)


def a_call(call_sid: str, org_id: str, age_days: float) -> list:
    at = days_ago(age_days)
    return [
        CallStarted(call_sid, org_id, "+14155550100", "…0199", "turns", started_at=at),
        TurnRecorded(call_sid, org_id, 0, "hello", "hi", created_at=at),
        TurnRecorded(call_sid, org_id, 1, "bye", "goodbye", created_at=at + timedelta(seconds=5)),
        CallEnded(call_sid, org_id, "completed", 2, ended_at=at + timedelta(minutes=1)),
    ]


@pytest.fixture
def retention(data_dir: Path):
    """acme keeps the default 90 days, partial keeps 7; 'gone' has records but no config any more (default).
    Both configured orgs send events, so the outbox has rows to purge."""
    update_org_config(data_dir, "acme", events_url="https://crm.example.com/events")
    update_org_config(data_dir, "partial", events_url="https://crm.example.com/events", records={"caller_number": "last4", "retention_days": 7})
    configs = OrgConfigCache(data_dir)
    return lambda org_id: (configs.get(org_id).records if configs.get(org_id) else RecordsPolicy()).retention_days


@pytest.fixture
def history(store, data_dir, retention):
    configs = OrgConfigCache(data_dir)
    records = [
        *a_call("CA-acme-old", "acme", 100), *a_call("CA-acme-recent", "acme", 30),
        *a_call("CA-partial-old", "partial", 8), *a_call("CA-partial-recent", "partial", 6),
        *a_call("CA-gone-old", "gone", 91), *a_call("CA-gone-recent", "gone", 89),
        HandoffStarted("partial", "CA-partial-old", "+14155550123", id=HANDOFF, started_at=days_ago(8)),
        CallbackRequested("partial", "CA-partial-old", "Ann", "+14155550199", "old message", id=ANN, created_at=days_ago(8)),
        # A callback left on a call that is purged, the callback itself still young enough to keep.
        CallbackRequested("partial", "CA-partial-old", "Bo", "+14155550111", "still wanted", id=BO, created_at=days_ago(3)),
    ]  # fmt: skip
    ages = {
        event_id(EventType.CALL_COMPLETED, "CA-acme-old"): 100, event_id(EventType.CALL_COMPLETED, "CA-partial-old"): 8,
        event_id(EventType.HANDOFF_STARTED, str(HANDOFF)): 8, event_id(EventType.CALLBACK_REQUESTED, str(ANN)): 8,
        event_id(EventType.CALLBACK_REQUESTED, str(BO)): 3,
    }  # fmt: skip
    with store.session() as session:
        write_records(session, records, configs.wants_events)
        # The outbox is written now: give each event its fact's age.
        for identifier, age in ages.items():
            session.execute(update(OutboxEvent).where(OutboxEvent.id == identifier).values(created_at=days_ago(age)))
    return store


def rows(store, model) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def call_sids(store) -> list[str]:
    with store.session() as session:
        return sorted(session.scalars(select(Call.call_sid)))


def test_each_org_keeps_its_records_for_its_own_retention(history, retention):
    results = {r.org_id: r for r in purge_expired(history, retention, NOW, "cli:alice")}
    assert call_sids(history) == ["CA-acme-recent", "CA-gone-recent", "CA-partial-recent"]
    assert rows(history, Turn) == 6 and rows(history, Handoff) == 0
    assert [(r.calls, r.turns, r.handoffs, r.callbacks) for r in (results["acme"], results["partial"], results["gone"])] == [
        (1, 2, 0, 0), (1, 2, 1, 1), (1, 2, 0, 0)
    ]
    assert (results["acme"].retention_days, results["partial"].retention_days, results["gone"].retention_days) == (90, 7, 90)


def test_a_callback_outlives_its_purged_call_until_its_own_age(history, retention):
    purge_expired(history, retention, NOW, "cli:alice")
    with history.session() as session:
        [kept] = queries.list_callbacks(session)
    assert (kept.name, kept.call_sid, kept.message) == ("Bo", None, "still wanted")


def test_events_older_than_the_retention_go_delivered_or_not(history, retention):
    assert rows(history, OutboxEvent) == 2 + 2 + 2 + 1  # acme's and partial's calls, partial's two callbacks and handoff
    results = {r.org_id: r for r in purge_expired(history, retention, NOW, "cli:alice")}
    assert (results["acme"].events, results["partial"].events) == (1, 3)
    with history.session() as session:
        left = sorted((event.type, event.payload.get("name") or event.payload["call_sid"]) for event in session.scalars(select(OutboxEvent)))
    assert left == [("call.completed", "CA-acme-recent"), ("call.completed", "CA-partial-recent"), ("callback.requested", "Bo")]


def test_a_purge_is_audited_per_org_and_as_a_run(history, retention):
    purge_expired(history, retention, NOW, "system:purge-cronjob")
    with history.session() as session:
        entries = queries.list_audit(session, action="purge")
    by_org = {entry.org_id: entry for entry in entries}
    assert set(by_org) == {"acme", "partial", "gone", None}
    assert all(entry.actor == "system:purge-cronjob" for entry in entries)
    assert {key: by_org["partial"].detail[key] for key in ("retention_days", "calls", "turns", "handoffs", "callbacks", "events")} == {
        "retention_days": 7, "calls": 1, "turns": 2, "handoffs": 1, "callbacks": 1, "events": 3
    }
    assert by_org[None].detail == {"orgs": 3, "deleted": 4 + 8 + 3}


def test_a_dry_run_counts_and_changes_nothing(history, retention):
    before = (rows(history, Call), rows(history, Turn), rows(history, CallbackRequest), rows(history, OutboxEvent))
    results = purge_expired(history, retention, NOW, "cli:alice", dry_run=True)
    assert sum(r.calls for r in results) == 3
    assert (rows(history, Call), rows(history, Turn), rows(history, CallbackRequest), rows(history, OutboxEvent)) == before
    with history.session() as session:
        assert queries.list_audit(session) == []


def test_purging_again_deletes_nothing_more_and_says_so(history, retention):
    purge_expired(history, retention, NOW, "cli:alice")
    again = purge_expired(history, retention, NOW, "cli:alice")
    assert sum(r.deleted for r in again) == 0
    with history.session() as session:
        latest = queries.list_audit(session, action="purge")[0]
    assert (latest.org_id, latest.detail) == (None, {"orgs": 3, "deleted": 0})
