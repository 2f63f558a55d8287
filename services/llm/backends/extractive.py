"""The offline answerer: says the passages of the retrieved context that best answer the question, verbatim.

It never composes facts: everything it says is copied from the retrieved
context, read by block type (`services.common.passages`), so it cannot state
anything the documents do not say, and it never says a FAQ's question, a
heading or code. Passages are scored by semantic similarity to the question
(MiniLM, on the passage with its headings and FAQ question) plus the share
of the question's content words the passage covers. Whether to answer at
all is decided from both kinds of evidence together, calibrated on the
project's answer-quality suite: a terse technical page scores lower on
similarity than a chatty FAQ, so no single similarity threshold serves both.
When the evidence is too weak, the caller hears the org's fallback instead
of a guess.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np

from services.common.generated.voiceagent.v1 import llm_pb2
from services.common.minilm import MiniLMEmbedder
from services.common.passages import TABLE_ROW, Passage, passages
from services.common.sentences import content_words, is_follow_up, split_sentences
from services.llm.backends.base import Answer, GenerationOptions, StreamPiece

# Weights next to semantic similarity in a passage's score: the share of the question's content words it
# covers, the retrieval rank of its chunk (1 / (rank + 1)), and naming an identifier the caller said ("E4021").
LEXICAL_WEIGHT = 0.4
RANK_WEIGHT = 0.1
IDENTIFIER_WEIGHT = 0.3
# Evidence needed to answer: the best passage's score (similarity, coverage, rank and identifiers together),
# calibrated on the dev answer-quality suite (bench/answer_quality.py): a stricter threshold gives the fallback
# to more unanswerable questions but silences right answers faster (the README's quality section has figures).
ANSWER_SCORE = 0.55
# When the question names something the documents never mention (retrieval's unknown terms: "venmo",
# "gondola"), only a passage with much stronger evidence is said.
UNKNOWN_TERM_SCORE = 0.9
# Another passage joins the answer when it scores nearly as well as the best one; a neighbour in the same FAQ
# answer or paragraph (the sentence before or after) within a wider margin, since it is likely the rest of it.
NEXT_PASSAGE_MARGIN = 0.06
NEIGHBOUR_MARGIN = 0.2
_MAX_ANSWER_WORDS = 50
# Passages recur across calls (one org's documents answer most of its questions), and embedding them again
# was most of an answer's time. 10,000 vectors of 384 floats take 15 MB.
_CACHED_PASSAGES = 10_000
# Codes and numbers a caller reads out ("E4021", "4030", "v3"): a passage naming one is very likely the answer.
_IDENTIFIER = re.compile(r"\b(?=[a-z]{0,6}\d)[a-z0-9]{2,12}\b", re.IGNORECASE)


def coverage(asked: set[str], passage: Passage) -> float:
    """The share of the question's content words the passage (with its headings and question) contains."""
    return len(asked & content_words(passage.context)) / len(asked) if asked else 0.0


class ExtractiveAnswerer:
    provider = "local"

    def __init__(self, embedder: MiniLMEmbedder) -> None:
        self.embedder = embedder
        self.model = f"extractive:{embedder.id.split(':', 1)[1]}"
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def load(self) -> None:
        self.embedder.load()
        self.embedder.embed(["warm-up"])

    def _embed_cached(self, texts: list[str]) -> np.ndarray:
        """Vectors of passage contexts, embedding only those not seen recently."""
        with self._cache_lock:
            known = {text: self._vectors[text] for text in texts if text in self._vectors}
            for text in known:
                self._vectors.move_to_end(text)
        missing = [text for text in dict.fromkeys(texts) if text not in known]
        # Copies: a row view would keep its whole batch alive in the cache.
        fresh = {text: vector.copy() for text, vector in zip(missing, self.embedder.embed(missing))} if missing else {}
        with self._cache_lock:
            self._vectors.update(fresh)
            while len(self._vectors) > _CACHED_PASSAGES:
                self._vectors.popitem(last=False)
        return np.stack([known[text] if text in known else fresh[text] for text in texts])

    def _query(self, request: llm_pb2.GenerateRequest) -> str:
        question = request.question
        if is_follow_up(question):
            callers = [turn.text for turn in request.history if turn.role == llm_pb2.ConversationTurn.CALLER]
            if callers:
                return f"{callers[-1]} {question}"
        return question

    def score(self, query: str, found: list[Passage]) -> np.ndarray:
        """Each passage's score: semantic similarity to the query, plus its coverage of the query's content words,
        its chunk's retrieval rank and whether it names an identifier the query names."""
        similarity = self._embed_cached([passage.context for passage in found]) @ self.embedder.embed([query])[0]
        asked = content_words(query)
        covered = np.array([coverage(asked, passage) for passage in found])
        identifiers = {match.lower() for match in _IDENTIFIER.findall(query)}
        named = np.array([any(i in passage.context.lower() for i in identifiers) for passage in found], dtype=float)
        rank = np.array([1.0 / (passage.rank + 1) for passage in found])
        return similarity + LEXICAL_WEIGHT * covered + RANK_WEIGHT * rank + IDENTIFIER_WEIGHT * named

    def generate(self, request: llm_pb2.GenerateRequest, options: GenerationOptions) -> Answer:
        query = self._query(request)
        found = passages(request.context)
        prompt_words = len(query.split()) + sum(len(passage.said.split()) for passage in found)
        if not found:
            return Answer(options.fallback, fallback=True, prompt_tokens=prompt_words)
        score = self.score(query, found)
        ranked = [int(i) for i in np.argsort(-score, kind="stable")]
        best = ranked[0]
        if score[best] < (UNKNOWN_TERM_SCORE if request.unknown_terms else ANSWER_SCORE):
            return Answer(options.fallback, fallback=True, prompt_tokens=prompt_words)
        chosen = self._chosen(found, score, ranked, options.max_sentences)
        text = " ".join(found[index].said for index in chosen)
        citations = list(dict.fromkeys(found[index].chunk_id for index in chosen))
        return Answer(text, citations=citations, prompt_tokens=prompt_words, completion_tokens=len(text.split()))

    def _chosen(self, found: list[Passage], score: np.ndarray, ranked: list[int], max_passages: int) -> list[int]:
        """The best passage, then what completes it: the better of its neighbours in the same FAQ answer or
        paragraph (or list) when nearly as good, and other passages that score nearly as well; in document order."""
        best = ranked[0]
        chosen = [best]
        words = len(found[best].said.split())

        def take(index: int) -> bool:
            nonlocal words
            if len(chosen) >= max_passages or words + len(found[index].said.split()) > _MAX_ANSWER_WORDS:
                return False
            chosen.append(index)
            words += len(found[index].said.split())
            return True

        neighbours = [i for i in (best - 1, best + 1) if 0 <= i < len(found) and found[i].block == found[best].block]
        if neighbours and found[best].kind != TABLE_ROW:
            neighbour = max(neighbours, key=lambda i: score[i])
            if score[neighbour] >= score[best] - NEIGHBOUR_MARGIN:
                take(neighbour)
        for index in ranked[1:]:
            if index in chosen:
                continue
            if score[index] < score[best] - NEXT_PASSAGE_MARGIN or not take(index):
                break
        return sorted(chosen, key=lambda index: (found[index].block != found[best].block, index))

    def stream(self, request: llm_pb2.GenerateRequest, options: GenerationOptions) -> Iterator[StreamPiece]:
        answer = self.generate(request, options)
        for sentence in split_sentences(answer.text):
            yield StreamPiece(text=sentence + " ")
        yield StreamPiece(answer=answer)
