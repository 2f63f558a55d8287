"""The offline answerer: says the context sentences that best answer the question, verbatim.

It never composes facts: every sentence it speaks is copied from the
retrieved context, so it cannot state anything the documents do not say.
Sentences are scored by semantic similarity to the question (MiniLM) with a
small bonus for shared content words; when even the best sentence is not
similar enough, the caller hears the org's fallback instead of a guess.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np

from services.common.generated.voiceagent.v1 import llm_pb2
from services.common.minilm import MiniLMEmbedder
from services.common.sentences import candidate_sentences, content_words, split_sentences
from services.llm.backends.base import Answer, GenerationOptions, StreamPiece

# Weight of shared content words next to semantic similarity: enough to break near-ties toward the sentence
# that names what was asked ("Saturday"), too little to make an unrelated sentence pass the threshold.
_LEXICAL_WEIGHT = 0.15
# A second sentence is added only when it is nearly as relevant as the best one.
_SECOND_SENTENCE_MARGIN = 0.08
_MAX_ANSWER_WORDS = 55
# A short question that leans on the previous one ("and on Sunday?", "what about a week?", "Sunday?") is read
# together with it; a short question of its own ("where can I park?") is not.
_FOLLOW_UP_CONTENT_WORDS = 2
# Context sentences recur across calls (one org's documents answer most of its questions), and embedding
# them again was most of an answer's time. 10,000 vectors of 384 floats take 15 MB.
_CACHED_SENTENCES = 10_000
_LEANS_ON_PREVIOUS = re.compile(r"^\W*(and|or|but|also|so|then|what about|how about)\b", re.IGNORECASE)
_ASKS_BY_ITSELF = re.compile(r"\b(what|when|where|who|which|why|how|can|could|do|does|is|are|will|would)\b", re.IGNORECASE)


class ExtractiveAnswerer:
    provider = "local"

    def __init__(self, embedder: MiniLMEmbedder, min_similarity: float) -> None:
        self.embedder = embedder
        self.min_similarity = min_similarity
        self.model = f"extractive:{embedder.id.split(':', 1)[1]}"
        self._sentence_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def load(self) -> None:
        self.embedder.load()
        self.embedder.embed(["warm-up"])

    def _embed_sentences(self, sentences: list[str]) -> np.ndarray:
        """Vectors of context sentences, embedding only those not seen recently."""
        with self._cache_lock:
            known = {sentence: self._sentence_vectors[sentence] for sentence in sentences if sentence in self._sentence_vectors}
            for sentence in known:
                self._sentence_vectors.move_to_end(sentence)
        missing = [sentence for sentence in dict.fromkeys(sentences) if sentence not in known]
        # Copies: a row view would keep its whole batch alive in the cache.
        fresh = {sentence: vector.copy() for sentence, vector in zip(missing, self.embedder.embed(missing))} if missing else {}
        with self._cache_lock:
            self._sentence_vectors.update(fresh)
            while len(self._sentence_vectors) > _CACHED_SENTENCES:
                self._sentence_vectors.popitem(last=False)
        return np.stack([known[sentence] if sentence in known else fresh[sentence] for sentence in sentences])

    def _query(self, request: llm_pb2.GenerateRequest) -> str:
        question = request.question
        leans = _LEANS_ON_PREVIOUS.search(question) or not _ASKS_BY_ITSELF.search(question)
        if leans and len(content_words(question)) <= _FOLLOW_UP_CONTENT_WORDS:
            callers = [turn.text for turn in request.history if turn.role == llm_pb2.ConversationTurn.CALLER]
            if callers:
                return f"{callers[-1]} {question}"
        return question

    def generate(self, request: llm_pb2.GenerateRequest, options: GenerationOptions) -> Answer:
        query = self._query(request)
        candidates = candidate_sentences((chunk.text, chunk.chunk_id) for chunk in request.context)
        prompt_words = len(query.split()) + sum(len(c.text.split()) for c in candidates)
        if not candidates:
            return Answer(options.fallback, fallback=True, prompt_tokens=prompt_words)
        similarity = self._embed_sentences([candidate.text for candidate in candidates]) @ self.embedder.embed([query])[0]
        asked = content_words(query)
        overlap = np.array([len(asked & content_words(c.text)) / max(1, len(asked)) for c in candidates])
        score = similarity + _LEXICAL_WEIGHT * overlap
        ranked = [int(i) for i in np.argsort(-score, kind="stable")]
        best = ranked[0]
        if similarity[best] < self.min_similarity:
            return Answer(options.fallback, fallback=True, prompt_tokens=prompt_words)
        chosen = [best]
        words = len(candidates[best].text.split())
        for index in ranked[1 : options.max_sentences]:
            close_enough = score[index] >= score[best] - _SECOND_SENTENCE_MARGIN and similarity[index] >= self.min_similarity
            if not close_enough or words + len(candidates[index].text.split()) > _MAX_ANSWER_WORDS:
                break
            chosen.append(index)
            words += len(candidates[index].text.split())
        text = " ".join(candidates[index].text for index in chosen)
        citations = list(dict.fromkeys(candidates[index].chunk_id for index in chosen))
        return Answer(text, citations=citations, prompt_tokens=prompt_words, completion_tokens=len(text.split()))

    def stream(self, request: llm_pb2.GenerateRequest, options: GenerationOptions) -> Iterator[StreamPiece]:
        answer = self.generate(request, options)
        for sentence in split_sentences(answer.text):
            yield StreamPiece(text=sentence + " ")
        yield StreamPiece(answer=answer)
