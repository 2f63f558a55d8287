"""The recorder: what the gateway hands it ends up in the store, once, as the org's policy allows, and
recording never waits on the database or raises into the call."""

from __future__ import annotations

import sqlite3
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, make_url, select

from services.common.records import queries, schema
from services.common.records.models import AuditEntry, Call, CallbackRequest, Turn
from services.common.records.privacy import CallerNumberHasher, OrgPolicies
from services.common.records.record_types import CallbackRequested, CallEnded, CallStarted, TurnRecorded
from services.common.records.recorder import BATCH_SIZE, CallRecorder, RetryPolicy
from services.common.records.settings import RecordsSettings
from services.common.records.spool import Spool
from services.common.records.store import RecordStore
from tests.records.conftest import HASH_KEY

CALLER = "+14155550199"
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def count(store: RecordStore, model: type) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def record_call(recorder: CallRecorder, call_sid: str, org_id: str = "acme", turns: int = 2) -> None:
    recorder.call_started(call_sid, org_id, "+14155550100", CALLER, "turns", started_at=T0)
    for index in range(turns):
        recorder.turn_recorded(
            call_sid, org_id, index, f"question {index}, call me on 415 555 0199", f"answer {index}",
            sources=["hours.md#2"], latency_ms={"stt": 120.0, "turn": 900.5}, created_at=T0 + timedelta(seconds=5 * index),
        )  # fmt: skip
    recorder.call_ended(call_sid, org_id, "completed", turns, cost_usd={"stt:openai": 0.002}, ended_at=T0 + timedelta(seconds=42))


def test_a_call_with_its_turns_callback_and_handoff_is_stored(store, make_recorder):
    recorder = make_recorder()
    recorder.call_started("CA1", "acme", "+14155550100", CALLER, "streaming", started_at=T0)
    recorder.turn_recorded("CA1", "acme", 0, "when do you open", "At nine.", sources=["hours.md"], latency_ms={"stt": 80.0}, created_at=T0)
    recorder.turn_recorded("CA1", "acme", 1, "do you fix unicycles", "Let me have a colleague call you back.", fallback=True,
                           fallback_reasons=["no_hits"], barge_in=True, created_at=T0 + timedelta(seconds=9))
    callback_id = recorder.callback_requested("acme", "CA1", "Ann", CALLER, "unicycle repair", reason="fallback")
    handoff_id = recorder.handoff_started("acme", "CA1", "+14155550123", trigger="phrase")
    recorder.audit("gateway", "handoff.dialled", "acme", {"call_sid": "CA1"})
    recorder.call_ended("CA1", "acme", "callback", 2, cost_usd={"llm:openai": 0.03}, ended_at=T0 + timedelta(seconds=61))
    assert recorder.flush()

    with store.session() as session:
        detail = queries.get_call(session, "CA1")
    call = detail.call
    assert (call.org_id, call.dialled_number, call.mode, call.outcome, call.turns_count) == ("acme", "+14155550100", "streaming", "callback", 2)
    assert (call.started_at, call.duration_seconds, call.cost_usd, call.had_fallback) == (T0, 61.0, {"llm:openai": 0.03}, True)
    first, second = detail.turns
    assert (first.caller_text, first.answer_text, first.sources, first.latency_ms) == ("when do you open", "At nine.", ["hours.md"], {"stt": 80.0})
    assert (second.fallback, second.fallback_reasons, second.barge_in) == (True, ["no_hits"], True)
    assert [(c.id, c.name, c.number, c.status, c.reason) for c in detail.callbacks] == [(callback_id, "Ann", CALLER, "new", "fallback")]
    assert [(h.id, h.number, h.trigger) for h in detail.handoffs] == [(handoff_id, "+14155550123", "phrase")]
    assert count(store, AuditEntry) == 1


def test_the_same_records_written_twice_are_stored_once(store, make_recorder):
    recorder = make_recorder()
    records = [
        CallStarted("CA2", "acme", "+14155550100", CALLER, "turns", started_at=T0),
        TurnRecorded("CA2", "acme", 0, "hello", "hi", created_at=T0),
        CallbackRequested("acme", "CA2", "Bo", CALLER, "please call"),
        CallEnded("CA2", "acme", "callback", 1, ended_at=T0 + timedelta(seconds=10)),
    ]
    for _ in range(2):
        for record in records:
            recorder.record(record)
        assert recorder.flush()
    assert [count(store, model) for model in (Call, Turn, CallbackRequest)] == [1, 1, 1]


def test_a_replayed_callback_request_does_not_reopen_a_handled_one(store, make_recorder):
    recorder = make_recorder()
    request = CallbackRequested("acme", None, "Cy", CALLER, "about my order")
    recorder.record(request)
    assert recorder.flush()
    with store.session() as session:
        queries.mark_callback_done(session, request.id, "cli:alice")
    recorder.record(request)
    assert recorder.flush()
    with store.session() as session:
        assert [c.status for c in queries.list_callbacks(session)] == ["done"]


def test_records_arriving_out_of_order_make_a_complete_call(store, make_recorder):
    recorder = make_recorder()
    # What a replay after an overflow can produce: the end and a turn before the call's start.
    recorder.call_ended("CA3", "acme", "hung_up", 1, ended_at=T0 + timedelta(seconds=30))
    recorder.turn_recorded("CA3", "acme", 0, "hello", "hi", created_at=T0 + timedelta(seconds=3))
    recorder.call_started("CA3", "acme", "+14155550100", CALLER, "turns", started_at=T0)
    assert recorder.flush()
    with store.session() as session:
        call = queries.get_call(session, "CA3").call
    assert (call.started_at, call.ended_at, call.duration_seconds) == (T0, T0 + timedelta(seconds=30), 30.0)
    assert (call.dialled_number, call.outcome, call.turns_count) == ("+14155550100", "hung_up", 1)


@pytest.mark.parametrize(
    "org_id,caller_number,caller_text",
    [
        ("acme", CallerNumberHasher(HASH_KEY).hash(CALLER), "my card is [card], call [phone]"),
        ("open", CALLER, "my card is 4111 1111 1111 1111, call 415 555 0199"),
        ("partial", "…0199", "my card is [card], call [phone]"),
        ("quiet", None, None),
    ],
)
def test_each_org_keeps_what_its_records_policy_allows(store, make_recorder, org_id, caller_number, caller_text):
    recorder = make_recorder()
    recorder.call_started("CA4", org_id, "+14155550100", CALLER, "turns")
    recorder.turn_recorded("CA4", org_id, 0, "my card is 4111 1111 1111 1111, call 415 555 0199", "We will call 415 555 0199.")
    assert recorder.flush()
    with store.session() as session:
        detail = queries.get_call(session, "CA4")
    assert detail.call.caller_number == caller_number
    assert detail.turns[0].caller_text == caller_text
    expected_answer = "We will call 415 555 0199." if org_id == "open" else "We will call [phone]."
    assert detail.turns[0].answer_text == expected_answer


def test_a_record_the_store_rejects_is_dropped_and_the_others_are_written(store, make_recorder):
    recorder = make_recorder()
    rejected_before = metric("voiceagent_records_dropped_total", reason="rejected")
    record_call(recorder, "CA5")
    # A callback without a number violates NOT NULL on both databases.
    recorder.record(CallbackRequested("acme", "CA5", "Di", None, "no number"))  # type: ignore[arg-type]
    recorder.turn_recorded("CA5", "acme", 2, "one more", "sure")
    assert recorder.flush()
    assert (count(store, Turn), count(store, CallbackRequest)) == (3, 0)
    assert metric("voiceagent_records_dropped_total", reason="rejected") == rejected_before + 1


def test_bad_arguments_never_raise_into_the_call_and_cost_only_their_own_record(store, make_recorder):
    recorder = make_recorder()
    invalid_before = metric("voiceagent_records_dropped_total", reason="invalid")
    assert recorder.turn_recorded("CA6", "acme", 0, "hi", "hello", latency_ms="not a mapping") is False  # type: ignore[arg-type]
    # Accepted, but no transcript to redact: dropped by the writer, never stored unprotected.
    assert recorder.turn_recorded("CA6", "acme", 1, 42, "hello") is True  # type: ignore[arg-type]
    assert recorder.call_started("CA6", "acme", "+14155550100", CALLER, "turns") is True
    assert recorder.turn_recorded("CA6", "acme", 2, "fine", "good") is True
    assert recorder.flush()
    with store.session() as session:
        assert [turn.turn_index for turn in queries.get_call(session, "CA6").turns] == [2]
    assert metric("voiceagent_records_dropped_total", reason="invalid") == invalid_before + 2


@contextmanager
def database_locked(url: str) -> Iterator[None]:
    """Another client holds the tables the recorder writes: its writes wait (a hung database, as it sees it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connection = sqlite3.connect(parsed.database, isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    with psycopg.connect(host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database) as connection:
        connection.execute("LOCK TABLE calls, turns IN ACCESS EXCLUSIVE MODE")
        yield
        connection.rollback()


def test_the_caller_never_waits_while_the_database_hangs_and_every_record_arrives_after(store, make_recorder, migrated_url):
    # The writer waits up to 60 s on the lock: it is stuck for the whole test, as on a hung database server.
    queue_size = 20
    recorder = make_recorder(statement_timeout_ms=60_000, queue_size=queue_size)
    dropped_before = sum(metric("voiceagent_records_dropped_total", reason=reason) for reason in ("queue_full", "spool_full"))
    calls = 100
    latencies: list[float] = []
    with database_locked(migrated_url):
        for number in range(calls):
            started = time.perf_counter()
            record_call(recorder, f"CA-hung-{number}", turns=2)
            latencies.append((time.perf_counter() - started) / 4)  # four records per call
        # What the stuck writer could not take went to disk: at most its batch and a full queue wait in memory.
        deadline = time.monotonic() + 10
        while recorder.pending_in_memory > queue_size + BATCH_SIZE and time.monotonic() < deadline:
            time.sleep(0.01)
        assert recorder.pending_in_memory <= queue_size + BATCH_SIZE
        assert recorder.spool.depth >= 4 * calls - queue_size - BATCH_SIZE
    assert recorder.flush(timeout=60)
    assert (count(store, Call), count(store, Turn)) == (calls, 2 * calls)
    assert sum(metric("voiceagent_records_dropped_total", reason=reason) for reason in ("queue_full", "spool_full")) == dropped_before
    print(f"\nput latency with the database hung: median {statistics.median(latencies) * 1e6:.0f} µs, "
          f"p99 {statistics.quantiles(latencies, n=100)[98] * 1e3:.2f} ms, max {max(latencies) * 1e3:.2f} ms over {4 * calls} records")
    assert max(latencies) < 0.05


def test_records_spooled_while_the_store_was_unreachable_are_written_by_the_next_recorder(store, data_dir, tmp_path, migrated_url):
    spool_dir = tmp_path / "spool"

    def recorder_on(url: str) -> CallRecorder:
        return CallRecorder(RecordStore(url), Spool(spool_dir, 64 * 1024 * 1024), OrgPolicies(data_dir), CallerNumberHasher(HASH_KEY),
                            retry=RetryPolicy(first=0.05, longest=0.2)).start()

    down = recorder_on("postgresql+psycopg://nobody@127.0.0.1:9/none")
    for number in range(5):
        record_call(down, f"CA-spooled-{number}")
    assert down.flush(timeout=10, include_spool=False)
    down.close()
    assert Spool(spool_dir, 1).depth == 20 and count(store, Call) == 0

    back = recorder_on(migrated_url)
    try:
        assert back.flush(timeout=20)
        assert (count(store, Call), count(store, Turn)) == (5, 10)
        with store.session() as session:
            detail = queries.get_call(session, "CA-spooled-0")
        # The policy was applied before the records reached the disk, and not again on replay.
        assert detail.call.caller_number == CallerNumberHasher(HASH_KEY).hash(CALLER)
        assert detail.turns[0].caller_text == "question 0, call me on [phone]"
        assert not list(spool_dir.glob("*.jsonl"))
    finally:
        back.close()


def test_recording_from_many_threads_at_once_loses_nothing(store, make_recorder):
    recorder = make_recorder()
    workers = [threading.Thread(target=lambda n=n: [record_call(recorder, f"CA-t{n}-{i}") for i in range(25)]) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert recorder.flush(timeout=30)
    assert (count(store, Call), count(store, Turn)) == (100, 200)


def test_the_gateway_builds_its_recorder_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICEAGENT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("VOICEAGENT_DATABASE_URL", raising=False)
    monkeypatch.delenv("VOICEAGENT_RECORDS_HASH_KEY", raising=False)
    settings = RecordsSettings()
    schema.upgrade(settings.database_url)
    schema.require_current_schema(settings.database_url)
    recorder = CallRecorder.from_settings().start()
    try:
        record_call(recorder, "CA-env")
        assert recorder.flush()
    finally:
        recorder.close()
    store = RecordStore(settings.database_url)
    with store.session() as session:
        assert queries.get_call(session, "CA-env").call.turns_count == 2
    store.close()
    assert (tmp_path / "voiceagent.db").is_file() and (tmp_path / "records-spool" / "0").is_dir()
