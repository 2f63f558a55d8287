"""The recorder's on-disk spool: bounded, ordered, JSON only, and kept until its records are committed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.common.records.record_types import (
    RECORD_TYPES,
    AuditRecorded,
    CallbackRequested,
    CallEnded,
    CallStarted,
    HandoffStarted,
    SpoolLineError,
    TurnRecorded,
    from_json_line,
    to_json_line,
)
from services.common.records.spool import Spool

AT = datetime(2026, 11, 27, 12, 30, 15, 250_000, tzinfo=UTC)
EXAMPLES = [
    CallStarted("CA1", "acme", "+14155550100", "hmac-sha256:ab", "streaming", started_at=AT),
    TurnRecorded("CA1", "acme", 3, "hi", None, ["faq.md"], True, ["no_hits"], {"stt": 1.5}, True, AT),
    CallEnded("CA1", "acme", "completed", 4, {"tts:polly": 0.0004}, AT, 61.5),
    CallbackRequested("acme", "CA1", "Ann", "+14155550199", "call me", "fallback", uuid.uuid4(), AT),
    HandoffStarted("acme", "CA1", "+14155550123", "keypad", uuid.uuid4(), AT),
    AuditRecorded("cli:alice", "ingest", "acme", {"documents": ["a.md"]}, uuid.uuid4(), AT),
]


def turn(index: int) -> TurnRecorded:
    return TurnRecorded("CA1", "acme", index, f"question {index}", "answer", created_at=AT)


def test_every_kind_of_record_survives_a_json_line_unchanged():
    assert {type(record) for record in EXAMPLES} == set(RECORD_TYPES.values())
    for record in EXAMPLES:
        line = to_json_line(record)
        assert "\n" not in line
        assert from_json_line(line) == record


@pytest.mark.parametrize("line", ["{torn", '{"v": 99, "kind": "turn", "record": {}}', '{"v": 1, "kind": "pickle", "record": {}}',
                                  '{"v": 1, "kind": "turn", "record": {"call_sid": "CA1"}}'])
def test_a_line_that_is_not_a_record_is_refused(line):
    with pytest.raises(SpoolLineError):
        from_json_line(line)


def replay_all(spool: Spool) -> list:
    written: list = []
    spool.replay(written.extend)
    return written


def test_records_come_back_in_the_order_they_were_spooled_across_segments(tmp_path):
    spool = Spool(tmp_path, max_bytes=10_000_000, segment_bytes=300)
    spool.append([to_json_line(turn(index)) for index in range(20)])
    assert spool.depth == 20 and len(list(tmp_path.glob("spool-*.jsonl"))) > 1
    assert [record.turn_index for record in replay_all(spool)] == list(range(20))
    assert spool.depth == 0 and not list(tmp_path.glob("spool-*.jsonl"))


def test_the_spool_refuses_what_would_pass_its_size_cap_and_keeps_the_rest(tmp_path):
    line = to_json_line(turn(0))
    spool = Spool(tmp_path, max_bytes=3 * (len(line) + 1))
    assert spool.append([to_json_line(turn(index)) for index in range(5)]) == 3
    assert spool.depth == 3 and spool.size_bytes <= spool.max_bytes
    assert [record.turn_index for record in replay_all(spool)] == [0, 1, 2]


def test_a_failed_replay_keeps_the_segment_to_be_replayed_whole_next_time(tmp_path):
    spool = Spool(tmp_path, max_bytes=10_000_000)
    spool.append([to_json_line(turn(index)) for index in range(5)])

    def store_down(batch: list) -> None:
        raise ConnectionError("database down")

    with pytest.raises(ConnectionError):
        spool.replay(store_down, batch_size=2)
    assert spool.depth == 5
    assert [record.turn_index for record in replay_all(spool)] == [0, 1, 2, 3, 4]


def test_records_appended_during_a_replay_wait_for_the_next_one(tmp_path):
    spool = Spool(tmp_path, max_bytes=10_000_000)
    spool.append([to_json_line(turn(0))])
    written: list = []

    def write(batch: list) -> None:
        written.extend(batch)
        if len(written) == 1:
            spool.append([to_json_line(turn(1))])

    spool.replay(write)
    assert [record.turn_index for record in written] == [0, 1] and spool.depth == 0


def test_a_spool_left_by_a_previous_process_is_found_and_a_torn_last_line_skipped(tmp_path):
    Spool(tmp_path, max_bytes=10_000_000).append([to_json_line(turn(0)), to_json_line(turn(1))])
    segment = next(tmp_path.glob("spool-*.jsonl"))
    with segment.open("a") as handle:
        handle.write('{"v": 1, "kind": "turn", "rec')  # the process died mid-write
    reopened = Spool(tmp_path, max_bytes=10_000_000)
    assert reopened.depth == 3
    assert [record.turn_index for record in replay_all(reopened)] == [0, 1]
    reopened.append([to_json_line(turn(2))])
    assert [record.turn_index for record in replay_all(reopened)] == [2]


def test_each_process_claims_a_spool_of_its_own_and_a_successor_reclaims_it(tmp_path):
    first = Spool.claim(tmp_path, max_bytes=10_000_000)
    second = Spool.claim(tmp_path, max_bytes=10_000_000)
    assert first.directory != second.directory
    first.append([to_json_line(turn(7))])
    first.close()  # the process exits
    successor = Spool.claim(tmp_path, max_bytes=10_000_000)
    assert successor.directory == first.directory and successor.depth == 1
    second.close()
    successor.close()
