"""Delivering signed events to a real HTTP receiver: at least once through failures and outages, each event
exactly once after the receiver deduplicates by id, never sent unsigned, and abandoned (visibly) only after
the retry window."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from services.common.records import queries, schema
from services.common.records.events import DeliverySchedule, EventDeliverer
from services.common.records.models import utc_now
from services.common.records.org_configs import OrgConfigCache
from services.common.records.record_types import CallbackRequested, CallEnded, CallStarted, TurnRecorded
from services.common.records.settings import EventSettings, RecordsSettings
from services.common.records.store import RecordStore
from services.common.records.writer import write_records
from tests.records.conftest import update_org_config
from tests.records.receiver import EventReceiver

SECRET = "whsec-acme-0123456789abcdef"
OPEN_SECRET = "whsec-open-0123456789abcdef"
# Fast enough for a test, the same shape as the default: doubling, capped, jittered.
FAST = DeliverySchedule(first=timedelta(seconds=0.05), longest=timedelta(seconds=0.4), give_up_after=timedelta(hours=1))


def metric(event_type: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("voiceagent_events_delivered_total", {"type": event_type, "outcome": outcome}) or 0.0


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def queue_calls(store: RecordStore, configs: OrgConfigCache, first: int, count: int, org_id: str = "acme") -> None:
    """`count` calls, each with a turn and an end, every other one with a callback request."""
    records = []
    for number in range(first, first + count):
        call_sid = f"CA-{org_id}-{number:03d}"
        records += [
            CallStarted(call_sid, org_id, "+14155550100", "+14155550199", "turns"),
            TurnRecorded(call_sid, org_id, 0, f"question {number}", f"answer {number}"),
            CallEnded(call_sid, org_id, "completed", 1),
        ]
        if number % 2 == 0:
            records.append(CallbackRequested(org_id, call_sid, "Ann", "+14155550199", f"message {number}"))
    with store.session() as session:
        write_records(session, records, configs.wants_events)


def events(store: RecordStore, **filters: str) -> list[queries.EventView]:
    with store.session() as session:
        return queries.list_events(session, limit=500, **filters)


def all_delivered(store: RecordStore) -> bool:
    listed = events(store)
    return bool(listed) and all(event.state == "delivered" for event in listed)


@pytest.fixture
def receiver() -> Iterator[EventReceiver]:
    receiver = EventReceiver(SECRET)
    yield receiver
    receiver.stop()


@pytest.fixture
def configs(data_dir: Path, receiver: EventReceiver, monkeypatch: pytest.MonkeyPatch) -> OrgConfigCache:
    """acme sends its events to `receiver`, signed with SECRET from the environment as in production."""
    update_org_config(data_dir, "acme", events_url=receiver.url)
    monkeypatch.setenv("VOICEAGENT_EVENTS_SECRET_ACME", SECRET)
    return OrgConfigCache(data_dir)


@pytest.fixture
def make_deliverer(migrated_url: str, configs: OrgConfigCache) -> Iterator[Callable[..., EventDeliverer]]:
    made: list[EventDeliverer] = []

    def make(schedule: DeliverySchedule = FAST, **options: object) -> EventDeliverer:
        options = {"timeout_seconds": 2.0, "poll_seconds": 0.02, **options}
        deliverer = EventDeliverer(RecordStore(migrated_url), configs.events_url, schedule=schedule, **options)  # type: ignore[arg-type]
        made.append(deliverer)
        return deliverer

    yield make
    for deliverer in made:
        deliverer.close()


def test_every_event_arrives_once_after_deduplication_when_the_receiver_fails_and_recovers(store, configs, receiver, make_deliverer):
    queue_calls(store, configs, 0, 10)
    deliverer = make_deliverer().start()
    # Down: connections refused. Every event is retried with back-off, none is lost or given up.
    wait_for(lambda: all(event.attempts >= 2 and event.state == "retrying" for event in events(store)), 10, "retries while down")
    queue_calls(store, configs, 10, 4)
    # Back, but failing (503) for a while, then keeping events but losing the acknowledgements (500 after storing).
    receiver.failing = True
    receiver.start()
    wait_for(lambda: receiver.requests >= 3, 10, "requests while failing")
    receiver.losing_acks = 3
    receiver.failing = False
    recovered = time.monotonic()
    wait_for(lambda: all_delivered(store), 30, "every event delivered")
    settled = time.monotonic() - recovered
    queue_calls(store, configs, 14, 2)
    wait_for(lambda: all_delivered(store), 10, "events queued after the recovery")
    deliverer.close()

    outbox = {str(event.id): event for event in events(store)}
    unique = receiver.unique()
    assert len(outbox) == 16 + 8
    assert set(unique) == set(outbox), "every event delivered, and nothing else"
    assert all(delivery.signature_valid for delivery in receiver.deliveries)
    duplicates = len(receiver.deliveries) - len(unique)
    assert duplicates >= 3, "the lost acknowledgements were sent again"
    for delivery in receiver.deliveries:
        assert delivery.body == unique[delivery.event_id].body, "a redelivery is the same event, byte for byte"
        assert delivery.document["id"] == delivery.event_id and delivery.document["type"] == delivery.event_type
    print(f"\n{len(outbox)} events, {sum(e.attempts for e in outbox.values())} attempts, {receiver.requests} requests reached the "
          f"receiver, {duplicates} duplicates removed by id; all delivered {settled:.2f} s after the receiver recovered")


class SimulatedClock:
    """UTC time running `speed` times faster than real time, from now."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.origin = utc_now()
        self.started = time.monotonic()

    def __call__(self) -> datetime:
        return self.origin + timedelta(seconds=(time.monotonic() - self.started) * self.speed)

    def timestamp(self) -> float:
        return self().timestamp()

    def sleep_until(self, elapsed: timedelta) -> None:
        time.sleep(max(0.0, (self.origin + elapsed - self()).total_seconds() / self.speed))


def test_a_ten_minute_receiver_outage_with_the_default_schedule_loses_nothing(store, configs, receiver, make_deliverer):
    """The issue's target, in simulated time (200x): receiver down for 10 minutes, then back."""
    schedule = DeliverySchedule()
    clock = SimulatedClock(speed=200)
    receiver.clock = clock.timestamp
    deliverer = make_deliverer(schedule=schedule, clock=clock, poll_seconds=0.005).start()
    queue_calls(store, configs, 0, 6)
    clock.sleep_until(timedelta(minutes=5))
    queue_calls(store, configs, 6, 6)
    clock.sleep_until(timedelta(minutes=10))
    receiver.start()
    recovered_at = clock()
    wait_for(lambda: all_delivered(store), 10, "every event delivered after the outage")
    deliverer.close()

    outbox = events(store)
    assert set(receiver.unique()) == {str(event.id) for event in outbox} and len(outbox) == 18
    waits = [(event.delivered_at - recovered_at).total_seconds() for event in outbox]
    attempts = [event.attempts for event in outbox]
    print(f"\nafter a 10-minute outage: {len(outbox)} events delivered {min(waits):.0f} to {max(waits):.0f} s (simulated) after the "
          f"receiver came back, {min(attempts)} to {max(attempts)} attempts each, {len(receiver.deliveries)} requests received")
    # The longest wait by design: an attempt just before the receiver returned, then the next back-off step
    # (640 s, +20% jitter); the org's first success releases the rest. Plus the harness's own delays, x200.
    assert max(waits) < DeliverySchedule(jitter=0).delay(7).total_seconds() * (1 + schedule.jitter) + 120


def test_once_a_receiver_is_back_its_whole_backlog_goes_with_the_next_event(store, configs, receiver, make_deliverer):
    deliverer = make_deliverer(schedule=DeliverySchedule(first=timedelta(hours=1), jitter=0), poll_seconds=0.02).start()
    queue_calls(store, configs, 0, 4)
    wait_for(lambda: all(event.state == "retrying" for event in events(store)), 10, "the first attempts to fail")
    receiver.start()
    queue_calls(store, configs, 4, 1)  # a new call's events, due at once: they get through
    wait_for(lambda: all_delivered(store), 10, "the backlog released by the first success")
    deliverer.close()
    assert len(receiver.unique()) == 6 + 2 and len(receiver.deliveries) == 8


def test_two_deliverers_sharing_the_outbox_never_send_an_event_twice(store, configs, receiver, make_deliverer):
    receiver.start()
    queue_calls(store, configs, 0, 40)
    first, second = make_deliverer(), make_deliverer()
    rounds = [threading.Thread(target=lambda d=d: [d.run_once() for _ in range(20)]) for d in (first, second)]
    for thread in rounds:
        thread.start()
    for thread in rounds:
        thread.join()
    assert all_delivered(store)
    assert len(receiver.deliveries) == len(receiver.unique()) == 60


def test_when_a_receiver_fails_its_other_events_wait_and_other_orgs_are_delivered(store, data_dir, configs, receiver, make_deliverer, monkeypatch):
    other = EventReceiver(OPEN_SECRET).start()
    try:
        update_org_config(data_dir, "open", events_url=other.url)
        monkeypatch.setenv("VOICEAGENT_EVENTS_SECRET_OPEN", OPEN_SECRET)
        receiver.failing = True
        receiver.start()
        queue_calls(store, configs, 0, 4)
        queue_calls(store, configs, 0, 2, org_id="open")
        failed_before = metric("call.completed", "failed") + metric("callback.requested", "failed")
        assert make_deliverer().run_once() == 6 + 3
        assert receiver.requests == 1, "one failed attempt stands for the whole org this round"
        acme = events(store, org_id="acme")
        assert [event.state for event in acme] == ["retrying"] * 6
        assert sum(event.last_error == "HTTP 503" for event in acme) == 1
        assert all(event.last_error.startswith("not attempted after an earlier failure: HTTP 503") for event in acme if event.last_error != "HTTP 503")
        assert [event.state for event in events(store, org_id="open")] == ["delivered"] * 3 and len(other.unique()) == 3
        assert metric("call.completed", "failed") + metric("callback.requested", "failed") == failed_before + 1
    finally:
        other.stop()


def test_events_still_failing_after_the_retry_window_are_abandoned_and_can_be_sent_again(store, configs, receiver, make_deliverer):
    receiver.failing = True
    receiver.start()
    queue_calls(store, configs, 0, 2)
    abandoned_before = metric("call.completed", "abandoned")
    deliverer = make_deliverer(schedule=DeliverySchedule(first=timedelta(seconds=0.05), longest=timedelta(seconds=0.1),
                                                         give_up_after=timedelta(seconds=0.5))).start()  # fmt: skip
    wait_for(lambda: len(events(store, state="abandoned")) == 3, 10, "events abandoned")
    deliverer.close()
    assert metric("call.completed", "abandoned") == abandoned_before + 2
    assert {event.last_error for event in events(store)} <= {"HTTP 503", "not attempted after an earlier failure: HTTP 503"}

    receiver.failing = False
    target = events(store, event_type="call.completed")[0]
    with store.session() as session:
        retried = queries.retry_event(session, str(target.id)[:8], "cli:alice")
    assert retried.state == "retrying" and retried.abandoned_at is None
    make_deliverer().run_once()
    assert [event.id for event in events(store, state="delivered")] == [target.id]
    assert len(events(store, state="abandoned")) == 2
    with store.session() as session:
        [entry] = queries.list_audit(session, action="event.retry")
    assert (entry.actor, entry.org_id, entry.detail["event_id"], entry.detail["was"]) == ("cli:alice", "acme", str(target.id), "abandoned")


def test_nothing_is_sent_unsigned_and_the_error_names_the_variable_to_set(store, configs, receiver, make_deliverer, monkeypatch):
    monkeypatch.delenv("VOICEAGENT_EVENTS_SECRET_ACME")
    receiver.start()
    queue_calls(store, configs, 1, 1)
    make_deliverer().run_once()
    assert receiver.requests == 0
    [event] = events(store)
    assert (event.state, event.last_error) == ("retrying", "no signing secret: set VOICEAGENT_EVENTS_SECRET_ACME")


def test_during_a_secret_rotation_each_event_is_signed_with_both_secrets(store, configs, receiver, make_deliverer, monkeypatch):
    monkeypatch.setenv("VOICEAGENT_EVENTS_SECRET_ACME", f"whsec-acme-new-0123456789,{SECRET}")
    receiver.start()
    queue_calls(store, configs, 1, 1)
    make_deliverer().run_once()
    [delivery] = receiver.unique().values()
    assert delivery.signature_valid, "the receiver still holding the old secret accepts it"


def test_the_gateway_builds_its_deliverer_from_the_environment(tmp_path, data_dir, receiver, monkeypatch):
    url = f"sqlite:///{tmp_path / 'env.db'}"
    schema.upgrade(url)
    update_org_config(data_dir, "acme", events_url=receiver.url)
    for name, value in {"VOICEAGENT_DATABASE_URL": url, "VOICEAGENT_DATA_DIR": str(data_dir), "VOICEAGENT_EVENTS_SECRET_ACME": SECRET,
                        "VOICEAGENT_EVENTS_POLL_SECONDS": "0.05"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    receiver.start()
    deliverer = EventDeliverer.from_settings(RecordsSettings(), EventSettings())
    assert deliverer.schedule == DeliverySchedule() and deliverer.schedule.give_up_after == timedelta(hours=72)
    deliverer.start()
    try:
        store = RecordStore(url)
        queue_calls(store, OrgConfigCache(data_dir), 0, 1)
        wait_for(lambda: all_delivered(store), 10, "the event delivered")
        store.close()
    finally:
        deliverer.close()
    assert json.loads(next(iter(receiver.unique().values())).body)["type"] in ("call.completed", "callback.requested")


@pytest.mark.slow
def test_the_deliverer_waits_out_a_database_restart_and_carries_on(postgres_server, data_dir, receiver, monkeypatch):
    url = postgres_server.create_database()
    schema.upgrade(url)
    update_org_config(data_dir, "acme", events_url=receiver.url)
    monkeypatch.setenv("VOICEAGENT_EVENTS_SECRET_ACME", SECRET)
    configs = OrgConfigCache(data_dir)
    receiver.start()
    deliverer = EventDeliverer(RecordStore(url), configs.events_url, schedule=FAST, poll_seconds=0.02).start()
    store = RecordStore(url)
    try:
        queue_calls(store, configs, 0, 2)
        wait_for(lambda: all_delivered(store), 10, "events before the restart")
        postgres_server.stop()
        time.sleep(1.0)
        postgres_server.start()
        queue_calls(store, configs, 2, 2)
        wait_for(lambda: all_delivered(store), 60, "events after the restart")
    finally:
        deliverer.close()
        store.close()
    assert len(receiver.unique()) == 6 and len(receiver.deliveries) == 6

