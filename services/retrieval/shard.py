"""One organisation's searchable knowledge: chunks, their vectors in a FAISS index, and a lexical index.

Search is hybrid: the dense index finds passages that mean what the caller
asked, the lexical index finds those that contain the exact words (names,
codes, numbers), and the two rankings are fused by reciprocal rank, which
needs no calibration between their incomparable scores.

An `OrgShard` is immutable; a change produces a new shard with the next
version number, which `ShardStore` writes beside the old one and then
switches to with one atomic rename of the `CURRENT` pointer. Readers holding
the old shard keep using it, and a crash at any point leaves `CURRENT`
naming a complete version. Nothing is stored with pickle: vectors are
`.npy` (loaded with `allow_pickle=False`), chunks JSON lines, the manifest
JSON, the lexical index SQLite's own database format, and the approximate
index FAISS's own binary format.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import faiss
import numpy as np

from services.retrieval.blocks import PARAGRAPH
from services.retrieval.ingest import Chunk
from services.retrieval.lexical import LexicalIndex

# 2 added the lexical index and each chunk's kind and heading path; a version 1 shard still loads (its lexical
# index is built in memory) but should be rebuilt to get structured chunks.
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
CURRENT_POINTER = "CURRENT"
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
    """The stored shard named by CURRENT cannot be read."""


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


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ShardStore:
    """Reads and atomically writes the versions of one org's shard under `vector_store/`."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def current_version_dir(self) -> Path | None:
        pointer = self.directory / CURRENT_POINTER
        if not pointer.is_file():
            return None
        name = pointer.read_text(encoding="utf-8").strip()
        return self.directory / name

    def newest_version(self) -> int:
        """The highest version number on disk, readable or not: a rebuild must write past it."""
        numbers = [int(entry.name[1:9]) for entry in self.directory.glob("v*") if entry.name[1:9].isdigit()]
        return max(numbers, default=0)

    def load(self, org_id: str) -> OrgShard | None:
        """The current version, or None when nothing was ever written."""
        version_dir = self.current_version_dir()
        if version_dir is None:
            return None
        try:
            manifest = json.loads((version_dir / "manifest.json").read_text(encoding="utf-8"))
            if manifest.get("format") not in READABLE_FORMATS:
                raise ShardCorruptError(f"{version_dir}: unsupported shard format {manifest.get('format')!r}")
            for name, digest in manifest["files"].items():
                if _sha256(version_dir / name) != digest:
                    raise ShardCorruptError(f"{version_dir / name}: checksum mismatch")
            dimension = int(manifest["dimension"])
            vectors = np.load(version_dir / "vectors.npy", allow_pickle=False, mmap_mode="r")
            chunks = [
                Chunk(row["document"], int(row["position"]), row["text"], row.get("kind", PARAGRAPH), tuple(row.get("headings", ())),
                      tuple(row.get("mentions", ())))
                for row in map(json.loads, (version_dir / "chunks.jsonl").read_text(encoding="utf-8").splitlines())
            ]
            documents = {row["name"]: DocumentRecord(**row) for row in manifest["documents"]}
            if vectors.shape != (len(chunks), dimension):
                raise ShardCorruptError(f"{version_dir}: {len(chunks)} chunks but vectors of shape {vectors.shape}")
            if manifest["index_type"] == "hnsw":
                index = faiss.read_index(str(version_dir / "index.faiss"))
                index.hnsw.efSearch = HNSW_EF_SEARCH
            else:
                index, _ = build_index(vectors, dimension, approximate_threshold=1 << 62)
            if "lexical.sqlite" in manifest["files"]:
                lexical = LexicalIndex.from_bytes((version_dir / "lexical.sqlite").read_bytes())
            else:
                lexical = LexicalIndex.build([chunk.indexed_text for chunk in chunks])
        except ShardCorruptError:
            raise
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, sqlite3.Error) as exc:
            raise ShardCorruptError(f"{version_dir}: cannot read shard: {exc}") from exc
        return OrgShard(
            org_id=org_id,
            embedder=manifest["embedder"],
            dimension=dimension,
            version=int(manifest["version"]),
            updated_at=manifest["updated_at"],
            chunks=chunks,
            vectors=vectors,
            documents=documents,
            index=index,
            index_type=manifest["index_type"],
            lexical=lexical,
        )

    def write(self, shard: OrgShard) -> Path:
        """Write `shard` as a new version directory, then point CURRENT at it atomically."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"v{shard.version:08d}"
        final_dir = self.directory / name
        staging = self.directory / f"{name}.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        np.save(staging / "vectors.npy", np.ascontiguousarray(shard.vectors, dtype=np.float32), allow_pickle=False)
        with open(staging / "chunks.jsonl", "w", encoding="utf-8") as handle:
            for chunk in shard.chunks:
                row = {"document": chunk.document, "position": chunk.position, "text": chunk.text, "kind": chunk.kind,
                       "headings": list(chunk.headings), "mentions": list(chunk.mentions)}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        (staging / "lexical.sqlite").write_bytes(shard.lexical.to_bytes())
        files = ["vectors.npy", "chunks.jsonl", "lexical.sqlite"]
        if shard.index_type == "hnsw":
            faiss.write_index(shard.index, str(staging / "index.faiss"))
            files.append("index.faiss")
        manifest = {
            "format": FORMAT_VERSION,
            "org_id": shard.org_id,
            "version": shard.version,
            "embedder": shard.embedder,
            "dimension": shard.dimension,
            "index_type": shard.index_type,
            "chunks": len(shard.chunks),
            "updated_at": shard.updated_at,
            "documents": [record.__dict__ for record in shard.documents.values()],
            "files": {file: _sha256(staging / file) for file in files},
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        for file in [*files, "manifest.json"]:
            _fsync_file(staging / file)
        _fsync_dir(staging)
        if final_dir.exists():
            # Left by a crash after the rename but before CURRENT moved: never current, safe to replace.
            shutil.rmtree(final_dir)
        os.rename(staging, final_dir)
        _fsync_dir(self.directory)
        pointer_tmp = self.directory / f"{CURRENT_POINTER}.tmp-{os.getpid()}"
        pointer_tmp.write_text(name + "\n", encoding="utf-8")
        _fsync_file(pointer_tmp)
        os.replace(pointer_tmp, self.directory / CURRENT_POINTER)
        _fsync_dir(self.directory)
        self._remove_other_versions(keep=name)
        return final_dir

    def _remove_other_versions(self, keep: str) -> None:
        """Old versions and debris of interrupted writes; readers of old versions hold open mmaps."""
        for entry in self.directory.iterdir():
            if entry.name in (keep, CURRENT_POINTER):
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith(f"{CURRENT_POINTER}.tmp"):
                entry.unlink(missing_ok=True)
