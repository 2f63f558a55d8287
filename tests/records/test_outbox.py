"""The outbox: a signed event is queued by the very transaction that stores its fact (a call's end, a callback
request, a handoff), for orgs with an events_url, once per fact however often its record is written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.common.records import queries
from services.common.records.models import Call, OutboxEvent
from services.common.records.org_configs import OrgConfigCache
from services.common.records.outbox import EventType, event_body, event_id
from services.common.records.privacy import CallerNumberHasher, OrgPolicies
from services.common.records.record_types import CallbackRequested, CallEnded, CallStarted, HandoffStarted, TurnRecorded
from services.common.records.recorder import CallRecorder, RetryPolicy
from services.common.records.spool import Spool
from services.common.records.store import RecordStore
from services.common.records.writer import write_records
from tests.records.conftest import HASH_KEY, update_org_config

CALLER = "+14155550199"
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
EVENTS_URL = "https://crm.example.com/voiceagent-events"


@pytest.fixture
def configs(data_dir: Path) -> OrgConfigCache:
    """acme (redacted transcripts, hashed numbers) and open (everything in full) want events; quiet does not."""
    update_org_config(data_dir, "acme", events_url=EVENTS_URL)
    update_org_config(data_dir, "open", events_url=EVENTS_URL)
    return OrgConfigCache(data_dir)


def a_call(call_sid: str, org_id: str = "acme") -> list:
    return [
        CallStarted(call_sid, org_id, "+14155550100", CALLER, "turns", started_at=T0),
        TurnRecorded(call_sid, org_id, 0, "Do you fix unicycles? Call me on 415 555 0199", "Let me have a colleague call you back.",
                     fallback=True, fallback_reasons=["not_in_documents"], latency_ms={"turn": 900.0}, created_at=T0 + timedelta(seconds=3)),
        TurnRecorded(call_sid, org_id, 1, "When do you open?", "At nine.", sources=["hours.md#2"], created_at=T0 + timedelta(seconds=9)),
        CallEnded(call_sid, org_id, "completed", 2, cost_usd={"stt:openai": 0.002, "llm:openai": 0.03}, ended_at=T0 + timedelta(seconds=42)),
    ]  # fmt: skip


def outbox(store: RecordStore) -> list[OutboxEvent]:
    with store.session() as session:
        return list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.type)))


def test_a_call_end_queues_call_completed_with_the_call_and_its_turns_as_stored(store, make_recorder, configs):
    recorder = make_recorder(wants_events=configs.wants_events)
    for record in a_call("CA1"):
        recorder.record(record)
    assert recorder.flush()

    [event] = outbox(store)
    assert (event.id, event.org_id, event.type, event.attempts, event.delivered_at) == (event_id(EventType.CALL_COMPLETED, "CA1"), "acme", "call.completed", 0, None)
    data = event.payload
    assert (data["call_sid"], data["outcome"], data["duration_seconds"], data["turns_count"]) == ("CA1", "completed", 42.0, 2)
    assert data["cost_usd"] == {"stt:openai": 0.002, "llm:openai": 0.03} and data["cost_usd_total"] == pytest.approx(0.032)
    # Exactly what the store keeps under acme's policy: the caller's number hashed, their words redacted.
    assert data["caller_number"] == CallerNumberHasher(HASH_KEY).hash(CALLER)
    assert [(t["index"], t["caller_text"], t["fallback"], t["fallback_reasons"]) for t in data["turns"]] == [
        (0, "Do you fix unicycles? Call me on [phone]", True, ["not_in_documents"]),
        (1, "When do you open?", False, []),
    ]
    assert data["turns"][1]["sources"] == ["hours.md#2"] and data["started_at"] == T0.isoformat()


def test_an_org_that_keeps_everything_sends_everything(store, make_recorder, configs):
    recorder = make_recorder(wants_events=configs.wants_events)
    for record in a_call("CA2", org_id="open"):
        recorder.record(record)
    assert recorder.flush()
    [event] = outbox(store)
    assert event.payload["caller_number"] == CALLER
    assert event.payload["turns"][0]["caller_text"] == "Do you fix unicycles? Call me on 415 555 0199"


def test_callback_requests_and_handoffs_queue_their_own_events(store, make_recorder, configs):
    recorder = make_recorder(wants_events=configs.wants_events)
    recorder.call_started("CA3", "acme", "+14155550100", CALLER, "streaming")
    callback_id = recorder.callback_requested("acme", "CA3", "Ann", CALLER, "unicycle repair, ann@example.com", reason="fallback")
    handoff_id = recorder.handoff_started("acme", "CA3", "+14155550123", trigger="keypad")
    assert recorder.flush()

    callback, handoff = outbox(store)
    assert (callback.type, callback.id) == ("callback.requested", event_id(EventType.CALLBACK_REQUESTED, str(callback_id)))
    assert callback.payload == {
        "callback_id": str(callback_id), "call_sid": "CA3", "name": "Ann", "number": CALLER,
        "message": "unicycle repair, [email]", "reason": "fallback", "created_at": callback.payload["created_at"],
    }  # fmt: skip
    assert (handoff.type, handoff.id) == ("handoff.started", event_id(EventType.HANDOFF_STARTED, str(handoff_id)))
    assert {key: handoff.payload[key] for key in ("handoff_id", "call_sid", "number", "trigger")} == {
        "handoff_id": str(handoff_id), "call_sid": "CA3", "number": "+14155550123", "trigger": "keypad"
    }


def test_orgs_without_an_events_url_get_no_events(store, make_recorder, configs, data_dir):
    recorder = make_recorder(wants_events=configs.wants_events)
    for record in a_call("CA4", org_id="quiet"):
        recorder.record(record)
    recorder.callback_requested("quiet", "CA4", "Bo", CALLER, "later")
    assert recorder.flush()
    assert outbox(store) == []
    with store.session() as session:
        assert queries.get_call(session, "CA4").call.outcome == "completed"


def test_the_same_records_written_again_queue_each_event_once(store, configs):
    records = [*a_call("CA5"), CallbackRequested("acme", "CA5", "Cy", CALLER, "hello"), HandoffStarted("acme", "CA5", "+14155550123")]
    for _ in range(3):
        with store.session() as session:
            write_records(session, records, configs.wants_events)
    assert sorted(event.type for event in outbox(store)) == ["call.completed", "callback.requested", "handoff.started"]


def test_an_event_is_committed_with_its_record_or_not_at_all(store, configs):
    with pytest.raises(RuntimeError), store.session() as session:
        write_records(session, a_call("CA6"), configs.wants_events)
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 1
        raise RuntimeError("the transaction fails after both were written")
    with store.session() as session:
        assert session.get(Call, "CA6") is None
    assert outbox(store) == []


def test_records_spooled_while_the_store_was_down_queue_their_events_when_replayed(store, data_dir, configs, tmp_path, migrated_url):
    spool_dir = tmp_path / "spool"

    def recorder_on(url: str) -> CallRecorder:
        return CallRecorder(RecordStore(url), Spool(spool_dir, 64 * 1024 * 1024), OrgPolicies(configs), CallerNumberHasher(HASH_KEY),
                            retry=RetryPolicy(first=0.05, longest=0.2), wants_events=configs.wants_events).start()  # fmt: skip

    down = recorder_on("postgresql+psycopg://nobody@127.0.0.1:9/none")
    for record in a_call("CA7"):
        down.record(record)
    assert down.flush(timeout=10, include_spool=False)
    down.close()
    assert outbox(store) == []

    back = recorder_on(migrated_url)
    try:
        assert back.flush(timeout=20)
    finally:
        back.close()
    [event] = outbox(store)
    assert event.type == "call.completed" and len(event.payload["turns"]) == 2


def test_the_body_sent_is_the_envelope_around_the_payload(store, configs):
    with store.session() as session:
        write_records(session, a_call("CA8"), configs.wants_events)
    [event] = outbox(store)
    document = json.loads(event_body(event))
    assert document == {"id": str(event.id), "type": "call.completed", "org_id": "acme", "created_at": event.created_at.isoformat(),
                        "data": event.payload}  # fmt: skip
    assert event_body(event) == event_body(event), "the same bytes on every attempt"
