"""The database restarted under load: calls keep being recorded without waiting, records spool while it is
down, and once it is back every record arrives exactly once (issue 12's target: 0 records lost)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from services.common.records import schema
from services.common.records.models import Call, CallbackRequest, Turn
from services.common.records.record_types import CallbackRequested
from services.common.records.store import RecordStore

pytestmark = pytest.mark.slow

CALLS = 100
TURNS_PER_CALL = 3
CALLBACKS = CALLS // 10


def test_records_written_while_postgres_restarts_all_arrive_once(postgres_server, make_recorder_for):
    url = postgres_server.create_database()
    schema.upgrade(url)
    recorder = make_recorder_for(url)
    spooled_before = REGISTRY.get_sample_value("voiceagent_records_spooled_total") or 0.0
    slowest_put = 0.0
    accepted = 0

    def one_call(number: int) -> None:
        nonlocal slowest_put, accepted
        call_sid = f"CA-load-{number:03d}"
        started = time.perf_counter()
        results = [recorder.call_started(call_sid, "acme", "+14155550100", "+14155550199", "turns", started_at=datetime.now(UTC))]
        for index in range(TURNS_PER_CALL):
            results.append(recorder.turn_recorded(call_sid, "acme", index, f"question {index}", f"answer {index}", latency_ms={"turn": 800.0}))
        if number % 10 == 0:
            results.append(recorder.record(CallbackRequested("acme", call_sid, "Caller", "+14155550199", "please call back")))
        results.append(recorder.call_ended(call_sid, "acme", "completed", TURNS_PER_CALL))
        slowest_put = max(slowest_put, (time.perf_counter() - started) / len(results))
        accepted += sum(results)

    def load() -> None:
        for number in range(CALLS):
            one_call(number)
            time.sleep(0.02)  # about 50 calls a second, spread over the restart

    caller = threading.Thread(target=load)
    caller.start()
    time.sleep(0.6)
    postgres_server.stop()
    down_at = time.monotonic()
    time.sleep(1.0)
    postgres_server.start()
    print(f"\npostgres was down {time.monotonic() - down_at:.1f} s")
    caller.join()

    assert recorder.flush(timeout=60), f"{recorder.spool.depth} records still spooled"
    expected = CALLS * (TURNS_PER_CALL + 2) + CALLBACKS
    store = RecordStore(url)
    try:
        with store.session() as session:
            calls = session.scalar(select(func.count()).select_from(Call).where(Call.outcome == "completed"))
            turns = session.scalar(select(func.count()).select_from(Turn))
            callbacks = session.scalar(select(func.count()).select_from(CallbackRequest))
    finally:
        store.close()
    stored = 2 * calls + turns + callbacks  # each completed call is its start and its end
    spooled = (REGISTRY.get_sample_value("voiceagent_records_spooled_total") or 0.0) - spooled_before
    print(f"records: {expected} sent, {accepted} accepted, {int(spooled)} spooled during the outage, {stored} stored, "
          f"{expected - stored} lost; slowest put {slowest_put * 1e3:.2f} ms")
    assert spooled > 0, "the outage did not reach the recorder: the test proved nothing"
    assert accepted == expected
    # Keys make a duplicate impossible to store; these counts show none was lost either.
    assert (calls, turns, callbacks) == (CALLS, CALLS * TURNS_PER_CALL, CALLBACKS)
    assert stored == expected
    assert slowest_put < 0.05
