"""One organisation's searchable knowledge: chunks, their vectors in a FAISS index, and a lexical index.

Search is hybrid: the dense index finds passages that mean what the caller
asked, the lexical index finds those that contain the exact words (names,
codes, numbers), and the two rankings are fused by reciprocal rank, which
needs no calibration between their incomparable scores.

An `OrgShard` is immutable; a change produces a new shard with the next
version number, which a shard store (`services/retrieval/stores/`) publishes
beside the old one before switching the org's current-version pointer.
Readers holding the old shard keep using it. How a version is laid out in
files is `shard_files`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

import faiss
import numpy as np

from services.retrieval.ingest import Chunk
from services.retrieval.lexical import LexicalIndex

HNSW_NEIGHBOURS = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
# Reciprocal rank fusion: a hit's fused score is the sum of 1 / (RRF_K + rank) over the rankings that found it;
# 60 is the constant from the paper that introduced it (Cormack et al., 2009) and the common default.
RRF_K = 60
# Each ranking contributes this many candidates per requested hit (and at least MIN_CANDIDATES).
CANDIDATES_PER_HIT = 4
MIN_CANDIDATES = 20


class ShardCorruptError(RuntimeError):
    """The stored version named by the org's pointer cannot be read (a damaged or missing file)."""


@dataclass(frozen=True)
class DocumentRecord:
    name: str
    sha256: str
    characters: int
    chunks: int
    ingested_at: str


@dataclass(frozen=True)
class DocumentUpdate:
    """A document's new chunks with their vectors, ready to replace its old ones."""

    record: DocumentRecord
    chunks: list[Chunk]
    vectors: np.ndarray


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_index(vectors: np.ndarray, dimension: int, approximate_threshold: int) -> tuple[faiss.Index, str]:
    """Exact inner-product search for small shards, HNSW from `approximate_threshold` chunks up."""
    if len(vectors) >= approximate_threshold:
        index = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        kind = "hnsw"
    else:
        index = faiss.IndexFlatIP(dimension)
        kind = "flat"
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index, kind


@dataclass(frozen=True, eq=False)
class OrgShard:
    org_id: str
    embedder: str
    dimension: int
    version: int
    updated_at: str
    chunks: list[Chunk]
    vectors: np.ndarray
    documents: dict[str, DocumentRecord]
    index: faiss.Index = field(repr=False)
    index_type: str
    lexical: LexicalIndex = field(repr=False)

    @classmethod
    def empty(cls, org_id: str, embedder: str, dimension: int, version: int = 0) -> OrgShard:
        index, kind = build_index(np.zeros((0, dimension), np.float32), dimension, approximate_threshold=1 << 62)
        vectors = np.zeros((0, dimension), np.float32)
        return cls(org_id, embedder, dimension, version, "", [], vectors, {}, index, kind, LexicalIndex.build([]))

    def search(self, query_vector: np.ndarray, query: str, top_k: int, min_score: float = -1.0) -> list[tuple[Chunk, float]]:
        """The `top_k` chunks that best answer `query` (its unit-length vector and its words), best first, each
        with its cosine similarity to the query; hits less similar than `min_score` are dropped."""
        if not self.chunks:
            return []
        query_vector = np.ascontiguousarray(query_vector.reshape(1, -1), dtype=np.float32)
        depth = min(len(self.chunks), max(top_k * CANDIDATES_PER_HIT, MIN_CANDIDATES))
        _, ids = self.index.search(query_vector, depth)
        dense = [int(position) for position in ids[0] if position >= 0]
        lexical = [position for position, _ in self.lexical.search(query, depth)]
        fused: dict[int, float] = {}
        for ranking in (dense, lexical):
            for rank, position in enumerate(ranking):
                fused[position] = fused.get(position, 0.0) + 1.0 / (RRF_K + rank + 1)
        best = sorted(fused, key=lambda position: -fused[position])[:top_k]
        similarity = np.asarray(self.vectors[best], dtype=np.float32) @ query_vector[0] if best else []
        return [(self.chunks[position], float(score)) for position, score in zip(best, similarity) if score >= min_score]

    def _rebuilt(self, chunks: list[Chunk], vectors: np.ndarray, documents: dict[str, DocumentRecord], threshold: int) -> OrgShard:
        index, kind = build_index(vectors, self.dimension, threshold)
        lexical = LexicalIndex.build([chunk.indexed_text for chunk in chunks])
        return self._next(chunks, vectors, documents, index, kind, lexical)

    def _next(
        self, chunks: list[Chunk], vectors: np.ndarray, documents: dict[str, DocumentRecord], index: faiss.Index, kind: str,
        lexical: LexicalIndex,
    ) -> OrgShard:
        return OrgShard(
            self.org_id, self.embedder, self.dimension, self.version + 1, utc_now(), chunks, vectors, documents, index, kind, lexical
        )

    def with_documents(self, updates: list[DocumentUpdate], approximate_threshold: int) -> OrgShard:
        """A new version in which each updated document's chunks replace its previous ones."""
        replaced = {update.record.name for update in updates}
        keep = [position for position, chunk in enumerate(self.chunks) if chunk.document not in replaced]
        chunks = [self.chunks[position] for position in keep]
        parts = [np.asarray(self.vectors[keep], dtype=np.float32).reshape(-1, self.dimension)]
        documents = {name: record for name, record in self.documents.items() if name not in replaced}
        for update in updates:
            chunks.extend(update.chunks)
            parts.append(update.vectors.reshape(-1, self.dimension))
            documents[update.record.name] = update.record
        vectors = np.concatenate(parts)
        if self.index_type == "hnsw" and len(keep) == len(self.chunks):
            # Only new documents: a graph index grows by insertion (minutes saved at a million chunks). The live
            # shard may be searching, so the new version gets a copy. Replacing a document still rebuilds:
            # HNSW cannot remove points.
            index = faiss.clone_index(self.index)
            index.hnsw.efSearch = HNSW_EF_SEARCH
            index.add(np.ascontiguousarray(vectors[len(keep) :], dtype=np.float32))
            lexical = self.lexical.extended(len(keep), [chunk.indexed_text for chunk in chunks[len(keep) :]])
            return self._next(chunks, vectors, documents, index, "hnsw", lexical)
        return self._rebuilt(chunks, vectors, documents, approximate_threshold)

    def without_document(self, name: str, approximate_threshold: int) -> OrgShard:
        keep = [position for position, chunk in enumerate(self.chunks) if chunk.document != name]
        documents = {key: record for key, record in self.documents.items() if key != name}
        vectors = np.asarray(self.vectors[keep], dtype=np.float32).reshape(-1, self.dimension)
        return self._rebuilt([self.chunks[position] for position in keep], vectors, documents, approximate_threshold)

    @cached_property
    def memory_bytes(self) -> int:
        """Rough resident size, for the cache's memory budget (computed once: shards never change)."""
        vector_bytes = len(self.chunks) * self.dimension * 4
        links = len(self.chunks) * HNSW_NEIGHBOURS * 2 * 4 if self.index_type == "hnsw" else 0
        text_bytes = sum(len(chunk.text) + len(chunk.document) + 64 for chunk in self.chunks)
        return vector_bytes + links + text_bytes
