"""Knowledge gaps for the console: records.gaps' grouping, with each wording embedded once per process.

The gaps page groups every unanswered question by meaning with MiniLM; embedding thousands of questions on
each visit would take seconds, but callers repeat themselves and old questions do not change, so vectors are
kept by wording (bounded, least recently used out) and a visit embeds only what was asked since the last one.
The model loads on the first visit, so a console that never shows gaps never loads it.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

import numpy as np

from services.common.records.gaps import GapReport, knowledge_gaps
from services.common.records.store import RecordStore

MAX_CACHED_WORDINGS = 50_000


class CachedEmbedder:
    def __init__(self, embed: Callable[[list[str]], np.ndarray], capacity: int = MAX_CACHED_WORDINGS) -> None:
        self._embed = embed
        self._capacity = capacity
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = list(dict.fromkeys(text for text in texts if text not in self._vectors))
            if missing:
                for text, vector in zip(missing, self._embed(missing)):
                    self._vectors[text] = vector
            vectors = []
            for text in texts:
                self._vectors.move_to_end(text)
                vectors.append(self._vectors[text])
            while len(self._vectors) > self._capacity:
                self._vectors.popitem(last=False)
        return np.stack(vectors) if vectors else np.zeros((0, 384), dtype=np.float32)


@functools.cache
def _minilm():  # noqa: ANN202 - the type lives in a module imported late (onnxruntime is heavy)
    from services.common.minilm import MiniLMEmbedder

    return MiniLMEmbedder()


def minilm_embed(texts: list[str]) -> np.ndarray:
    """MiniLM, loaded on first use."""
    return _minilm().embed(texts)


class GapFinder:
    def __init__(self, store: RecordStore, embed: Callable[[list[str]], np.ndarray] = minilm_embed) -> None:
        self.store = store
        self.embed = CachedEmbedder(embed)

    def report(self, org_id: str, since: datetime | None) -> GapReport:
        with self.store.session() as session:
            return knowledge_gaps(session, org_id, self.embed, since=since)
