"""`make bench`: answer quality on the project's evaluation suites, with the offline retrieval and answerer.

Each suite is a directory of organisations (`tests/quality/<suite>/<org>/`),
each with a config, its documents under `knowledge/` and `questions.json`:
questions a caller might ask with the facts a right answer must contain,
and questions the documents cannot answer, which must get the org's
fallback. The documents are ingested exactly as the retrieval service does
it and every question goes through hybrid search and the extractive
answerer, in-process (no gRPC, so latency is the work itself).

Reported per suite: retrieval recall@1 and @3 (a hit's text contains every
fact), answer accuracy (the answer contains every fact), fallback precision
and recall (on the questions that must get it), fabricated words (words in
an answer that appear nowhere in the org's documents: must be 0), and
answer latency. `dev` is the suite the answerer was calibrated on;
`heldout` was written by someone else and never used for tuning.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.tables import print_header, print_row  # noqa: E402
from services.common.generated.voiceagent.v1 import llm_pb2  # noqa: E402
from services.common.minilm import MiniLMEmbedder  # noqa: E402
from services.common.orgs import load_org_config  # noqa: E402
from services.common.passages import context_chunks  # noqa: E402
from services.common.providers import ProviderMeter  # noqa: E402
from services.llm.backends.base import GenerationOptions  # noqa: E402
from services.llm.backends.extractive import ExtractiveAnswerer  # noqa: E402
from services.retrieval.ingest import extract_blocks  # noqa: E402
from services.retrieval.knowledge import KnowledgeBase, UploadedDocument  # noqa: E402
from services.retrieval.servicer import search_hits  # noqa: E402
from services.retrieval.shard_cache import ShardCache  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SUITES = REPO / "tests" / "quality"
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Question:
    org_id: str
    text: str
    # Each fact is a set of alternative wordings; a right answer contains one wording of every fact.
    facts: tuple[tuple[str, ...], ...]
    answerable: bool


@dataclass
class Outcome:
    question: Question
    answer: str
    fallback: bool
    hits: list[str]
    answer_ms: float
    search_ms: float
    fabricated: list[str] = field(default_factory=list)

    def contains_facts(self, text: str) -> bool:
        text = " ".join(text.lower().split())
        return all(any(" ".join(wording.lower().split()) in text for wording in fact) for fact in self.question.facts)

    @property
    def correct(self) -> bool:
        if not self.question.answerable:
            return self.fallback
        return not self.fallback and self.contains_facts(self.answer)

    def found_at(self, k: int) -> bool:
        return any(self.contains_facts(hit) for hit in self.hits[:k])


@dataclass
class Report:
    suite: str
    outcomes: list[Outcome]

    def _answerable(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.question.answerable]

    def recall(self, k: int) -> float:
        answerable = self._answerable()
        return sum(o.found_at(k) for o in answerable) / len(answerable)

    @property
    def accuracy(self) -> float:
        answerable = self._answerable()
        return sum(o.correct for o in answerable) / len(answerable)

    @property
    def fallback_recall(self) -> float:
        """Of the questions the documents cannot answer, the share that got the fallback."""
        unanswerable = [o for o in self.outcomes if not o.question.answerable]
        return sum(o.fallback for o in unanswerable) / len(unanswerable)

    @property
    def fallback_precision(self) -> float:
        """Of the fallbacks given, the share given to questions the documents cannot answer."""
        fallbacks = [o for o in self.outcomes if o.fallback]
        return sum(not o.question.answerable for o in fallbacks) / len(fallbacks) if fallbacks else 1.0

    @property
    def fabricated(self) -> int:
        return sum(len(o.fabricated) for o in self.outcomes)

    def latency_ms(self, percentile: float, attribute: str = "answer_ms") -> float:
        values = sorted(getattr(o, attribute) for o in self.outcomes)
        return values[min(len(values) - 1, int(percentile * len(values)))]

    def counts(self) -> tuple[int, int, int]:
        return len({o.question.org_id for o in self.outcomes}), len(self._answerable()), len(self.outcomes) - len(self._answerable())


def load_questions(org_dir: Path) -> list[Question]:
    raw = json.loads((org_dir / "questions.json").read_text(encoding="utf-8"))
    org_id = org_dir.name
    questions = [
        Question(org_id, item["question"], tuple((fact,) if isinstance(fact, str) else tuple(fact) for fact in item["facts"]), True)
        for item in raw["answerable"]
    ]
    return questions + [Question(org_id, text, (), False) for text in raw["unanswerable"]]


def org_dirs(suite: str) -> list[Path]:
    return sorted(path for path in (SUITES / suite).iterdir() if (path / "questions.json").is_file())


def document_words(knowledge: Path) -> set[str]:
    """Every word the org's documents contain, as extracted for ingestion (for the fabrication check)."""
    words: set[str] = set()
    for path in sorted(knowledge.iterdir()):
        for block in extract_blocks(path.name, path.read_bytes()):
            words.update(_WORD.findall(f"{block.question} {block.text} {' '.join(block.headings)}".lower()))
    return words


async def evaluate_org(org_dir: Path, data_dir: Path, embedder: MiniLMEmbedder, answerer: ExtractiveAnswerer) -> list[Outcome]:
    org_id = org_dir.name
    (data_dir / org_id).mkdir(parents=True)
    shutil.copy(org_dir / "config.json", data_dir / org_id / "config.json")
    config = load_org_config(data_dir, org_id)
    knowledge = KnowledgeBase(data_dir, embedder, ShardCache(data_dir, 1 << 30), 50_000, ProviderMeter("bench", data_dir))
    documents = [UploadedDocument(path.name, path.read_bytes()) for path in sorted((org_dir / "knowledge").iterdir())]
    report = await knowledge.ingest(org_id, documents)
    failed = [outcome for outcome in report.outcomes if outcome.error]
    if failed:
        raise RuntimeError(f"{org_id}: documents failed to ingest: {failed}")
    known_words = document_words(org_dir / "knowledge")
    options = GenerationOptions(max_tokens=150, max_sentences=3, temperature=0.0, fallback=config.fallback_message)
    outcomes = []
    for question in load_questions(org_dir):
        started = time.perf_counter()
        result = await knowledge.search(org_id, question.text, config.top_k, -1.0)
        searched = time.perf_counter()
        hits = search_hits(result.hits)
        request = llm_pb2.GenerateRequest(
            org_id=org_id, question=question.text, context=context_chunks(hits), fallback_message=config.fallback_message,
            unknown_terms=result.unknown_terms,
        )
        answer = answerer.generate(request, options)
        answered = time.perf_counter()
        fabricated = [] if answer.fallback else [w for w in _WORD.findall(answer.text.lower()) if w not in known_words]
        outcomes.append(
            Outcome(question, answer.text, answer.fallback, [hit.text for hit in hits],
                    (answered - searched) * 1000, (searched - started) * 1000, fabricated)
        )
    return outcomes


def evaluate(suite: str, embedder: MiniLMEmbedder | None = None, answerer: ExtractiveAnswerer | None = None) -> Report:
    """Ingest every org of `suite` into a scratch data directory and answer all its questions."""
    embedder = embedder or MiniLMEmbedder()
    answerer = answerer or ExtractiveAnswerer(embedder)
    answerer.load()
    with tempfile.TemporaryDirectory() as scratch:
        outcomes: list[Outcome] = []
        for org_dir in org_dirs(suite):
            outcomes += asyncio.run(evaluate_org(org_dir, Path(scratch), embedder, answerer))
    return Report(suite, outcomes)


def print_report(reports: list[Report]) -> None:
    print("\nAnswer quality, offline defaults (hybrid search, extractive answerer)\n")
    print_header(["suite", "orgs", "questions", "unanswerable", "recall@1", "recall@3", "accuracy", "fallback recall",
                  "fallback precision", "fabricated words", "answer p50 ms", "answer p95 ms", "search p50 ms"])
    for report in reports:
        orgs, answerable, unanswerable = report.counts()
        print_row([
            report.suite, str(orgs), str(answerable), str(unanswerable), f"{report.recall(1):.2f}", f"{report.recall(3):.2f}",
            f"{report.accuracy:.2f}", f"{report.fallback_recall:.2f}", f"{report.fallback_precision:.2f}", str(report.fabricated),
            f"{report.latency_ms(0.5):.1f}", f"{report.latency_ms(0.95):.1f}", f"{report.latency_ms(0.5, 'search_ms'):.1f}",
        ])


def print_failures(report: Report) -> None:
    for outcome in report.outcomes:
        if not outcome.correct:
            expected = " + ".join("/".join(fact) for fact in outcome.question.facts) or "(fallback)"
            print(f"\n[{outcome.question.org_id}] {outcome.question.text}\n  expected: {expected}\n  answer:   {outcome.answer}"
                  f"\n  found@3:  {outcome.found_at(3)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("suites", nargs="*", default=["dev", "heldout"])
    parser.add_argument("--failures", action="store_true", help="print every wrong answer (dev suites only: never tune on held-out)")
    options = parser.parse_args()
    embedder = MiniLMEmbedder()
    answerer = ExtractiveAnswerer(embedder)
    reports = [evaluate(suite, embedder, answerer) for suite in options.suites]
    print_report(reports)
    if options.failures:
        for report in reports:
            print_failures(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
