"""The retrieval service's work, independent of gRPC: search, ingest, delete, describe."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
from prometheus_client import Counter, Histogram
from wordfreq import zipf_frequency

from services.common.logs import get_logger
from services.common.metrics import LATENCY_BUCKETS
from services.common.orgs import CHUNK_SIZE_BOUNDS, OrgConfig, load_org_config
from services.common.providers import ProviderMeter
from services.common.sentences import NOT_NAMES
from services.retrieval.embedders import Embedder
from services.retrieval.ingest import Chunk, DocumentError, document_chunks
from services.retrieval.shard import DocumentRecord, DocumentUpdate, OrgShard, ShardCorruptError, utc_now
from services.retrieval.shard_cache import ShardCache
from services.retrieval.stores import VersionConflictError

log = get_logger(__name__)

MAX_TOP_K = 100
MAX_QUERY_CHARS = 2000
# A word at least this frequent in English (Zipf scale: 4 is ten uses per million words) is an ordinary word of
# the caller's phrasing ("guys", "stuff", "daughter"), not the name of something the documents lack. Calibrated on
# the dev answer-quality suite (bench/answer_quality.py).
COMMON_WORD_ZIPF = 4.0
# Chunks embedded per call during ingestion: small enough that a query waits at most one slice for the CPU.
INGEST_SLICE = 32
T = TypeVar("T")
# A write overtaken by a concurrent one (another replica) is built again on the new version, this many times at most.
WRITE_ATTEMPTS = 5

EMBED_SECONDS = Histogram(
    "voiceagent_retrieval_embed_duration_seconds",
    "Time to embed one request's texts, by embedder and purpose (query or ingest).",
    ["embedder", "purpose"],
    buckets=LATENCY_BUCKETS,
)
INDEX_SEARCH_SECONDS = Histogram(
    "voiceagent_retrieval_index_search_duration_seconds",
    "Time spent in the FAISS index for one search, by index type.",
    ["index_type"],
    buckets=LATENCY_BUCKETS,
)
WRITE_CONFLICTS = Counter(
    "voiceagent_retrieval_write_conflicts_total",
    "Writes whose pointer switch lost to a concurrent write and were built again on the new version.",
)
DOCUMENTS_INGESTED = Counter(
    "voiceagent_retrieval_documents_ingested_total",
    "Documents processed by Ingest, by outcome (ok or failed).",
    ["outcome"],
)


class InvalidRequestError(ValueError):
    """The request itself is wrong (empty query, top_k out of range, ...)."""


class DocumentNotFoundError(LookupError):
    pass


class EmbedderMismatchError(RuntimeError):
    """The org's shard was built with another embedder than this service runs."""


@dataclass(frozen=True)
class UploadedDocument:
    name: str
    data: bytes
    media_type: str = ""


@dataclass(frozen=True)
class SearchHit:
    chunk: Chunk
    score: float


@dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    shard: OrgShard
    # Uncommon words of the query that the org's documents never contain.
    unknown_terms: list[str]


def unknown_terms(shard: OrgShard, query: str) -> list[str]:
    """Words of the query the documents never use and that are not everyday English: evidence that the caller
    asks about something the business never wrote about (a payment app, a service it does not offer)."""
    return [
        word for word in shard.lexical.unknown_words(query)
        if word not in NOT_NAMES and zipf_frequency(word, "en") < COMMON_WORD_ZIPF
    ]


@dataclass(frozen=True)
class DocumentOutcome:
    name: str
    chunks: int = 0
    error: str = ""


@dataclass(frozen=True)
class IngestReport:
    shard: OrgShard
    outcomes: list[DocumentOutcome]
    chunks_added: int
    chunks_removed: int


class KnowledgeBase:
    def __init__(
        self, data_dir: Path, embedder: Embedder, cache: ShardCache, approximate_threshold: int, meter: ProviderMeter
    ) -> None:
        self.data_dir = Path(data_dir)
        self.embedder = embedder
        self.meter = meter
        self.provider = embedder.id.split(":", 1)[0]
        self.cache = cache
        self.approximate_threshold = approximate_threshold
        # Ingestion (reading, chunking, embedding, rebuilding indexes) runs one job at a time on its own thread, so
        # however many uploads arrive, searches never queue behind them for a worker thread, and embedding a
        # batch is done in slices that let a query's embedding in between.
        self._ingest_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")

    async def _in_ingest_worker(self, work: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._ingest_worker, partial(work, *args))

    def _embed_in_slices(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return self.embedder.embed(texts)
        return np.concatenate([self.embedder.embed(texts[start : start + INGEST_SLICE]) for start in range(0, len(texts), INGEST_SLICE)])

    def org(self, org_id: str) -> OrgConfig:
        """The org's config; raises for an invalid id, an unknown org or a broken config file."""
        return load_org_config(self.data_dir, org_id)

    def _empty(self, org_id: str, version: int = 0) -> OrgShard:
        return OrgShard.empty(org_id, self.embedder.id, self.embedder.dimension, version)

    def _require_same_embedder(self, shard: OrgShard) -> OrgShard:
        if shard.embedder != self.embedder.id:
            raise EmbedderMismatchError(
                f"the shard of org {shard.org_id!r} was built with embedder {shard.embedder!r} "
                f"(dimension {shard.dimension}) but this service uses {self.embedder.id!r}; rebuild it with "
                f"`voiceagent ingest --org {shard.org_id} --rebuild data/{shard.org_id}/knowledge/*` "
                "or run the service with the shard's embedder"
            )
        return shard

    async def shard(self, org_id: str) -> OrgShard:
        """The org's current shard (empty when nothing was ingested), built with our embedder."""
        self.org(org_id)
        return self._require_same_embedder(await self.cache.get(org_id, lambda: self._empty(org_id)))

    async def _embed(self, texts: list[str], purpose: str, org_id: str) -> np.ndarray:
        started = time.perf_counter()
        with self.meter.call(self.provider):
            if purpose == "ingest":
                vectors = await self._in_ingest_worker(self._embed_in_slices, texts)
            else:
                vectors = await asyncio.to_thread(self.embedder.embed, texts)
        EMBED_SECONDS.labels(self.embedder.id, purpose).observe(time.perf_counter() - started)
        self.meter.record(self.provider, org_id, "characters", sum(len(text) for text in texts))
        return vectors

    async def search(self, org_id: str, query: str, top_k: int, min_score: float) -> SearchResult:
        org = self.org(org_id)
        query = query.strip()
        if not query:
            raise InvalidRequestError("query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidRequestError(f"query is longer than {MAX_QUERY_CHARS} characters")
        if not 0 <= top_k <= MAX_TOP_K:
            raise InvalidRequestError(f"top_k must be between 1 and {MAX_TOP_K} (0 uses the org's default)")
        if not -1.0 <= min_score <= 1.0:
            raise InvalidRequestError("min_score must be between -1 and 1")
        shard = await self.shard(org_id)
        if not shard.chunks:
            return SearchResult([], shard, [])
        vector = await self._embed([query], "query", org_id)
        started = time.perf_counter()
        found = await asyncio.to_thread(shard.search, vector[0], query, top_k or org.top_k, min_score)
        unknown = await asyncio.to_thread(unknown_terms, shard, query)
        INDEX_SEARCH_SECONDS.labels(shard.index_type).observe(time.perf_counter() - started)
        return SearchResult([SearchHit(chunk, score) for chunk, score in found], shard, unknown)

    def _prepare(self, document: UploadedDocument, size: int, overlap: int) -> list[Chunk]:
        return document_chunks(document.name, document.data, document.media_type, size, overlap)

    async def ingest(
        self,
        org_id: str,
        documents: list[UploadedDocument],
        chunk_size: int = 0,
        chunk_overlap: int = 0,
        rebuild: bool = False,
    ) -> IngestReport:
        """Extract, chunk and embed the documents, then swap in a shard containing them.

        Each document succeeds or fails on its own. The shard is written once,
        after everything is embedded, so a failure or a crash before then
        leaves the previous version untouched and searchable.
        """
        org = self.org(org_id)
        size = chunk_size or org.chunk_size
        overlap = chunk_overlap if chunk_size else org.chunk_overlap
        # The bounds an org's config may set apply to a request's options too.
        low, high = CHUNK_SIZE_BOUNDS
        if not low <= size <= high:
            raise InvalidRequestError(f"chunk_size must be between {low} and {high} characters")
        if not 0 <= overlap <= size // 2:
            raise InvalidRequestError("chunking needs 0 <= chunk_overlap <= chunk_size / 2")
        names = [document.name for document in documents]
        if len(set(names)) != len(names):
            raise InvalidRequestError("the batch names the same document twice")
        if not rebuild:
            await self.shard(org_id)  # refuse a mismatched shard before the expensive part
        outcomes: dict[str, DocumentOutcome] = {}
        prepared: list[tuple[UploadedDocument, list[Chunk]]] = []
        for document in documents:
            try:
                chunks = await self._in_ingest_worker(self._prepare, document, size, overlap)
            except Exception as exc:
                # One unreadable document (or a reader's bug on it) must never fail the rest of the batch.
                error = str(exc) if isinstance(exc, DocumentError) else f"could not read the document ({type(exc).__name__})"
                if not isinstance(exc, DocumentError):
                    log.exception("ingest.document_crashed", org_id=org_id, document=document.name)
                log.warning("ingest.document_failed", org_id=org_id, document=document.name, error=error)
                DOCUMENTS_INGESTED.labels("failed").inc()
                outcomes[document.name] = DocumentOutcome(document.name, error=error)
                continue
            prepared.append((document, chunks))
        all_chunks = [chunk for _, chunks in prepared for chunk in chunks]
        vectors = await self._embed([chunk.indexed_text for chunk in all_chunks], "ingest", org_id)
        updates: list[DocumentUpdate] = []
        offset, now = 0, utc_now()
        for document, chunks in prepared:
            digest = hashlib.sha256(document.data).hexdigest()
            record = DocumentRecord(document.name, digest, sum(len(chunk.text) for chunk in chunks), len(chunks), now)
            updates.append(DocumentUpdate(record, chunks, vectors[offset : offset + len(chunks)]))
            offset += len(chunks)
            outcomes[document.name] = DocumentOutcome(document.name, chunks=len(chunks))
            DOCUMENTS_INGESTED.labels("ok").inc()

        def change(previous: OrgShard) -> tuple[OrgShard | None, int]:
            base = self._empty(org_id, previous.version) if rebuild else self._require_same_embedder(previous)
            removed = sum(base.documents[u.record.name].chunks for u in updates if u.record.name in base.documents)
            if not (updates or rebuild):
                return None, removed
            return base.with_documents(updates, self.approximate_threshold), removed

        shard, removed = await self._commit(org_id, change, rebuild)
        log.info(
            "ingest.done",
            org_id=org_id,
            documents_ok=len(updates),
            documents_failed=len(documents) - len(updates),
            chunks_added=len(all_chunks),
            chunks_removed=removed,
            version=shard.version,
        )
        return IngestReport(shard, [outcomes[name] for name in names], len(all_chunks), removed)

    async def delete_document(self, org_id: str, name: str) -> tuple[int, OrgShard]:
        """Remove a document's chunks; returns how many were removed and the new shard."""
        self.org(org_id)

        def change(current: OrgShard) -> tuple[OrgShard, int]:
            record = self._require_same_embedder(current).documents.get(name)
            if record is None:
                raise DocumentNotFoundError(f"org {org_id!r} has no document {name!r}")
            return current.without_document(name, self.approximate_threshold), record.chunks

        shard, removed = await self._commit(org_id, change)
        log.info("document.deleted", org_id=org_id, document=name, chunks_removed=removed)
        return removed, shard

    async def _commit(self, org_id: str, change: Callable[[OrgShard], tuple[OrgShard | None, T]], rebuild: bool = False) -> tuple[OrgShard, T]:
        """Apply `change` to the org's current version and publish what it returns (None: nothing to write).

        The store's pointer is read afresh, so a write through this replica builds on one made through
        another; if another write still lands between our read and our switch, the switch is refused and
        `change` runs again on the new version, so both writes are kept.
        """
        async with self.cache.lock(org_id):
            for attempt in range(1, WRITE_ATTEMPTS + 1):
                pointer = await self.cache.current_pointer(org_id)
                try:
                    previous = await self.cache.version(org_id, pointer, lambda: self._empty(org_id))
                except ShardCorruptError:
                    if not rebuild:
                        raise
                    # A damaged shard is exactly what --rebuild is for: start over past every stored version.
                    previous = self._empty(org_id, await asyncio.to_thread(self.cache.store(org_id).newest_version))
                shard, outcome = await self._in_ingest_worker(change, previous)
                if shard is None:
                    return previous, outcome
                try:
                    await self.cache.publish(shard, expected=pointer)
                    return shard, outcome
                except VersionConflictError:
                    WRITE_CONFLICTS.inc()
                    log.info("shard.write_conflict", org_id=org_id, attempt=attempt, version=shard.version)
        raise VersionConflictError(f"org {org_id!r}: {WRITE_ATTEMPTS} writes in a row were overtaken by concurrent ones; try again")

    async def warm(self, org_id: str) -> tuple[OrgShard, bool]:
        """Load the org's shard now (or check it is the newest), ahead of its first search; returns the shard
        and whether it was already in memory."""
        self.org(org_id)
        return await self.cache.warm(org_id, lambda: self._empty(org_id))

    async def describe(self, org_id: str) -> OrgShard:
        """The shard as stored, whichever embedder built it (so operators can see a mismatch)."""
        self.org(org_id)
        return await self.cache.get(org_id, lambda: self._empty(org_id))
