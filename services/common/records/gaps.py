"""Knowledge gaps: the questions an org's agent could not answer from its documents, grouped by meaning.

A fallback turn is a gap unless a failing service caused it: "retrieval:UNAVAILABLE" or "llm:DEADLINE_EXCEEDED"
say nothing about the documents, while "not_in_documents" (or a fallback with no recorded reason) does.
Callers word the same question many ways ("do you fix unicycles", "can you repair my unicycle"), so the
questions are embedded with MiniLM (the model retrieval already uses) and grouped: each question joins the
group whose centroid it is most similar to, if that similarity reaches GROUP_SIMILARITY, else starts its own.
Questions are taken most-asked first, so each group is seeded, and named, by its most common wording.

Measured with MiniLM on caller-style questions: rewordings of one question score 0.6 to 0.9 against each
other, different questions on the same subject ("sell" vs "rent" unicycles) 0.7 to 0.8 (the same gap for the
documents: they say nothing about unicycles), and unrelated questions below 0.5.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.records.models import Call, Turn

NOT_IN_DOCUMENTS = "not_in_documents"
GROUP_SIMILARITY = 0.6
# The newest fallback turns considered: enough for months of a busy org, bounded for the embedding time.
MAX_QUESTIONS = 5000
MAX_EXAMPLES = 5
SERVICE_STAGES = ("download", "stt", "retrieval", "llm", "tts")

Embed = Callable[[list[str]], np.ndarray]


def is_knowledge_gap(fallback_reasons: list[str]) -> bool:
    """A fallback the documents caused, not a service that failed."""
    if NOT_IN_DOCUMENTS in fallback_reasons:
        return True
    return not any(reason.partition(":")[0] in SERVICE_STAGES for reason in fallback_reasons)


@dataclass(frozen=True)
class AskedQuestion:
    text: str
    asked_at: datetime
    call_sid: str


@dataclass(frozen=True)
class KnowledgeGap:
    # The group's most asked wording.
    question: str
    count: int
    first_asked: datetime
    last_asked: datetime
    # Other wordings, most asked first.
    also_asked_as: list[str] = field(default_factory=list)
    # The latest calls that asked, for `voiceagent calls show`.
    call_sids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GapReport:
    org_id: str
    since: datetime | None
    gaps: list[KnowledgeGap]
    # Gap turns whose question is not stored (the org keeps no transcripts): counted, not grouped.
    unrecorded: int


def _normalised(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def fallback_questions(session: Session, org_id: str, since: datetime | None = None, limit: int = MAX_QUESTIONS) -> tuple[list[AskedQuestion], int]:
    """The org's gap questions, newest first, and how many gap turns had no stored question."""
    query = (
        select(Turn.caller_text, Turn.created_at, Turn.call_sid, Turn.fallback_reasons)
        .join(Call, Call.call_sid == Turn.call_sid)
        .where(Call.org_id == org_id, Turn.fallback.is_(True))
        .order_by(Turn.created_at.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(Turn.created_at >= since)
    questions, unrecorded = [], 0
    for text, asked_at, call_sid, reasons in session.execute(query):
        if not is_knowledge_gap(list(reasons or [])):
            continue
        if text and text.strip():
            questions.append(AskedQuestion(text.strip(), asked_at, call_sid))
        else:
            unrecorded += 1
    return questions, unrecorded


def group_by_meaning(questions: list[AskedQuestion], embed: Embed, similarity: float = GROUP_SIMILARITY) -> list[KnowledgeGap]:
    """Groups of questions that mean the same, most asked first (then most recently asked)."""
    wordings: dict[str, list[AskedQuestion]] = {}
    # Newest first within each wording, so a wording is shown as it was last asked.
    for question in sorted(questions, key=lambda q: q.asked_at, reverse=True):
        wordings.setdefault(_normalised(question.text) or question.text, []).append(question)
    # Most asked wording first; ties by the latest asked, then alphabetically, so the result never depends on input order.
    ordered = sorted(wordings.values(), key=lambda asked: (-len(asked), -max(q.asked_at for q in asked).timestamp(), asked[0].text))
    if not ordered:
        return []
    vectors = np.asarray(embed([asked[0].text for asked in ordered]), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sums: list[np.ndarray] = []
    members: list[list[list[AskedQuestion]]] = []
    for asked, vector in zip(ordered, vectors):
        if sums:
            centroids = np.stack(sums)
            centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
            scores = centroids @ vector
            best = int(np.argmax(scores))
            if scores[best] >= similarity:
                sums[best] = sums[best] + vector * len(asked)
                members[best].append(asked)
                continue
        sums.append(vector * len(asked))
        members.append([asked])
    gaps = [_gap(group) for group in members]
    return sorted(gaps, key=lambda gap: (-gap.count, -gap.last_asked.timestamp()))


def _gap(group: list[list[AskedQuestion]]) -> KnowledgeGap:
    every = sorted((question for asked in group for question in asked), key=lambda q: q.asked_at, reverse=True)
    calls = list(dict.fromkeys(question.call_sid for question in every))
    return KnowledgeGap(
        question=group[0][0].text,
        count=len(every),
        first_asked=every[-1].asked_at,
        last_asked=every[0].asked_at,
        also_asked_as=[asked[0].text for asked in group[1 : 1 + MAX_EXAMPLES]],
        call_sids=calls[:MAX_EXAMPLES],
    )


def knowledge_gaps(
    session: Session, org_id: str, embed: Embed, since: datetime | None = None, similarity: float = GROUP_SIMILARITY
) -> GapReport:
    questions, unrecorded = fallback_questions(session, org_id, since)
    return GapReport(org_id, since, group_by_meaning(questions, embed, similarity), unrecorded)
