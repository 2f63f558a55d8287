"""Knowledge gaps: the questions the documents did not answer (not those a failing service cost), grouped by
meaning with counts and when they were last asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from services.common.minilm import MiniLMEmbedder
from services.common.records.gaps import AskedQuestion, fallback_questions, group_by_meaning, is_knowledge_gap, knowledge_gaps
from services.common.records.record_types import CallStarted, TurnRecorded
from services.common.records.writer import write_records

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "reasons,gap",
    [
        (["not_in_documents"], True),
        ([], True),  # a fallback with no recorded reason is taken at its word
        (["tts:UNAVAILABLE", "not_in_documents"], True),
        (["retrieval:UNAVAILABLE"], False),
        (["llm:DEADLINE_EXCEEDED"], False),
        (["download:refused"], False),
    ],
)
def test_a_fallback_is_a_gap_unless_a_failing_service_caused_it(reasons, gap):
    assert is_knowledge_gap(reasons) is gap


def asked(text: str, minutes: int, call_sid: str = "CA1") -> AskedQuestion:
    return AskedQuestion(text, T0 + timedelta(minutes=minutes), call_sid)


def topic_embedder(topics: dict[str, list[float]]):
    """Vectors by keyword, so grouping can be checked without a model."""

    def embed(texts: list[str]) -> np.ndarray:
        return np.array([next(vector for word, vector in topics.items() if word in text.lower()) for text in texts], dtype=np.float32)

    return embed


def test_questions_are_grouped_by_meaning_most_asked_first():
    embed = topic_embedder({"unicycle": [1, 0, 0], "gift": [0, 1, 0], "dog": [0, 0.2, 1]})
    questions = [
        asked("Do you fix unicycles?", 1, "CA1"), asked("Can you repair my unicycle?", 2, "CA2"), asked("do you fix unicycles", 9, "CA3"),
        asked("Do you sell gift cards?", 3, "CA4"), asked("Can I bring my dog?", 4, "CA5"), asked("Can I bring my dog?", 5, "CA6"),
    ]  # fmt: skip
    gaps = group_by_meaning(questions, embed)
    assert [(gap.question, gap.count) for gap in gaps] == [("do you fix unicycles", 3), ("Can I bring my dog?", 2), ("Do you sell gift cards?", 1)]
    unicycles = gaps[0]
    assert (unicycles.first_asked, unicycles.last_asked) == (T0 + timedelta(minutes=1), T0 + timedelta(minutes=9))
    assert unicycles.also_asked_as == ["Can you repair my unicycle?"] and unicycles.call_sids == ["CA3", "CA2", "CA1"]


def test_the_grouping_does_not_depend_on_the_order_questions_come_in():
    embed = topic_embedder({"unicycle": [1, 0.1], "tandem": [0.1, 1]})
    questions = [asked("Unicycle repair?", 1), asked("Tandem rental?", 2), asked("Unicycle repair?", 3), asked("Unicycle parts?", 4)]
    assert group_by_meaning(questions, embed) == group_by_meaning(list(reversed(questions)), embed)
    assert group_by_meaning([], embed) == []


def test_minilm_groups_rewordings_and_keeps_different_questions_apart():
    questions = [
        asked("Do you fix unicycles?", 1), asked("Can you repair my unicycle?", 2), asked("Unicycle repair, is that something you do?", 3),
        asked("Do you sell gift cards?", 4), asked("Can I buy a gift voucher?", 5), asked("Are gift certificates available?", 6),
        asked("Can I bring my dog into the shop?", 7), asked("Are pets allowed in the store?", 8),
        asked("Do you rent tandem bikes?", 9), asked("Is there a tandem bicycle for hire?", 10),
        asked("What's your wifi password?", 11),
    ]  # fmt: skip
    gaps = group_by_meaning(questions, MiniLMEmbedder().embed)
    groups = sorted(sorted([gap.question, *gap.also_asked_as]) for gap in gaps)
    assert groups == sorted([
        sorted(["Do you fix unicycles?", "Can you repair my unicycle?", "Unicycle repair, is that something you do?"]),
        sorted(["Do you sell gift cards?", "Can I buy a gift voucher?", "Are gift certificates available?"]),
        sorted(["Can I bring my dog into the shop?", "Are pets allowed in the store?"]),
        sorted(["Do you rent tandem bikes?", "Is there a tandem bicycle for hire?"]),
        ["What's your wifi password?"],
    ])  # fmt: skip


@pytest.fixture
def fallback_turns(store):
    def call(call_sid: str, org_id: str, minutes: int, turns: list[tuple[str | None, list[str] | None]]) -> list:
        at = T0 + timedelta(minutes=minutes)
        records = [CallStarted(call_sid, org_id, "+14155550100", None, "turns", started_at=at)]
        for index, (text, reasons) in enumerate(turns):
            records.append(TurnRecorded(call_sid, org_id, index, text, "answer", fallback=reasons is not None,
                                        fallback_reasons=reasons or [], created_at=at + timedelta(seconds=index)))  # fmt: skip
        return records

    with store.session() as session:
        write_records(session, [
            *call("CA1", "acme", 0, [("When do you open?", None), ("Do you fix unicycles?", ["not_in_documents"])]),
            *call("CA2", "acme", 10, [("Can you repair my unicycle?", ["not_in_documents"]), ("Opening hours?", ["retrieval:UNAVAILABLE"])]),
            *call("CA3", "acme", 20, [(None, ["not_in_documents"])]),
            *call("CA4", "beta", 30, [("Do you fix unicycles?", ["not_in_documents"])]),
        ])  # fmt: skip
    return store


def test_only_the_orgs_gap_questions_are_read_and_unkept_ones_are_counted(fallback_turns):
    with fallback_turns.session() as session:
        questions, unrecorded = fallback_questions(session, "acme")
        recent, _ = fallback_questions(session, "acme", since=T0 + timedelta(minutes=5))
    assert [(q.text, q.call_sid) for q in questions] == [("Can you repair my unicycle?", "CA2"), ("Do you fix unicycles?", "CA1")]
    assert unrecorded == 1
    assert [q.call_sid for q in recent] == ["CA2"]


def test_an_orgs_gaps_come_from_its_store(fallback_turns):
    with fallback_turns.session() as session:
        report = knowledge_gaps(session, "acme", topic_embedder({"unicycle": [1.0, 0.0]}))
    [gap] = report.gaps
    assert (gap.question, gap.count, gap.last_asked, report.unrecorded) == ("Can you repair my unicycle?", 2, T0 + timedelta(minutes=10), 1)
