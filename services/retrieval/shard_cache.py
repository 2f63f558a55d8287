"""Loaded shards: lazy loading from the store, freshness, one writer per org, LRU eviction under a memory budget.

Every replica is a cache of the store. A shard is loaded on its org's first
request (or `Warm`), then kept fresh: while the org is in use, its pointer is
compared with the store's every `refresh_seconds` in the background and a
newer version is loaded and swapped in; an org that was idle is checked on
its next request. If the store cannot be reached, or the new version is
damaged, the version in memory keeps serving (logged and counted), so a store
outage never costs a search that this replica could answer.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram

from services.common.logs import get_logger
from services.common.metrics import LATENCY_BUCKETS
from services.retrieval.shard import OrgShard, ShardCorruptError
from services.retrieval.stores import Expected, ShardStore, StoreFactory, StoreUnavailableError, VersionPointer
from services.retrieval.stores.file import FileShardStore

log = get_logger(__name__)

LOADED_SHARDS = Gauge("voiceagent_retrieval_loaded_shards", "Org shards held in memory.")
LOADED_SHARD_BYTES = Gauge("voiceagent_retrieval_loaded_shard_bytes", "Estimated memory of the loaded shards.")
SHARD_LOAD_SECONDS = Histogram(
    "voiceagent_retrieval_shard_load_duration_seconds",
    "Time to load one shard version from the store (including any download) into memory.",
    buckets=LATENCY_BUCKETS,
)
STORE_CHECKS = Counter(
    "voiceagent_retrieval_store_checks_total",
    "Freshness checks of loaded shards against the store, by outcome: unchanged, swapped (a newer version now "
    "serves), unavailable (store unreachable; the loaded version kept serving), damaged (the newer version "
    "failed its checksums; the loaded version kept serving).",
    ["outcome"],
)
# An org whose shard was not used for this long is no longer checked in the background; its next request checks.
IDLE_AFTER_SECONDS = 300.0
# How long a request of an idle org waits for that check before it is served from the loaded version.
INLINE_CHECK_SECONDS = 0.5


@dataclass
class _Loaded:
    shard: OrgShard
    pointer: VersionPointer
    # Monotonic times: the last comparison with the store's pointer, and the last request.
    checked: float
    used: float


class ShardCache:
    """Serves the current shard of each org and swaps in new versions.

    Readers get the shard object that is current when they ask and keep it
    for the whole search, so a swap never disturbs a search in flight.
    Writers for one org are serialised by that org's lock; writers on other
    replicas are kept apart by the store's conditional pointer switch.
    """

    def __init__(
        self,
        data_dir: Path,
        memory_budget_bytes: int,
        stores: StoreFactory | None = None,
        refresh_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.memory_budget_bytes = memory_budget_bytes
        self.stores = stores or (lambda org_id: FileShardStore(self.data_dir / org_id / "vector_store"))
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._loaded: OrderedDict[str, _Loaded] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._checks: dict[str, asyncio.Task[None]] = {}
        # Per org, a version found damaged: not fetched again until the pointer moves on.
        self._damaged: dict[str, VersionPointer] = {}

    def store(self, org_id: str) -> ShardStore:
        return self.stores(org_id)

    def lock(self, org_id: str) -> asyncio.Lock:
        return self._locks.setdefault(org_id, asyncio.Lock())

    def loaded(self) -> list[str]:
        return list(self._loaded)

    # Reading

    async def get(self, org_id: str, empty: Callable[[], OrgShard]) -> OrgShard:
        """The org's current shard, loading it on first use; `empty()` when nothing is stored."""
        entry = self._loaded.get(org_id)
        if entry is None:
            async with self.lock(org_id):
                return await self._load_current(org_id, empty)
        entry.used = self.clock()
        if entry.used - entry.checked > 2 * self.refresh_seconds:
            # Nobody kept this org fresh (it was idle): check now, but never hold the request long for it.
            try:
                await asyncio.wait_for(self.check(org_id), INLINE_CHECK_SECONDS)
            except TimeoutError:
                pass
        entry = self._loaded.get(org_id, entry)
        if org_id in self._loaded:
            self._loaded.move_to_end(org_id)
        return entry.shard

    async def warm(self, org_id: str, empty: Callable[[], OrgShard]) -> tuple[OrgShard, bool]:
        """The org's current shard, loaded or checked against the store now, and whether it was already in
        memory. For callers that ask ahead of need (a call arriving), so waiting for the store is fine."""
        entry = self._loaded.get(org_id)
        if entry is not None and self.clock() - entry.checked >= self.refresh_seconds:
            await self.check(org_id)
        shard = await self.get(org_id, empty)
        return shard, entry is not None

    async def _load_current(self, org_id: str, empty: Callable[[], OrgShard]) -> OrgShard:
        entry = self._loaded.get(org_id)
        if entry is not None:
            return entry.shard
        store = self.store(org_id)
        pointer = await asyncio.to_thread(store.pointer)
        if pointer is None:
            return empty()
        return await self._load(org_id, pointer)

    async def _load(self, org_id: str, pointer: VersionPointer) -> OrgShard:
        started = time.perf_counter()
        shard = await asyncio.to_thread(self.store(org_id).load, org_id, pointer)
        SHARD_LOAD_SECONDS.observe(time.perf_counter() - started)
        log.info("shard.loaded", org_id=org_id, version=shard.version, chunks=len(shard.chunks),
                 seconds=round(time.perf_counter() - started, 3))
        self._install(shard, pointer)
        return shard

    # Freshness

    async def check(self, org_id: str) -> None:
        """Compare a loaded org's version with the store's and swap in a newer one; one check per org at a
        time (callers share it). Never raises: a failed check leaves the loaded version serving."""
        await asyncio.shield(self._start_check(org_id))

    def _start_check(self, org_id: str) -> asyncio.Task[None]:
        task = self._checks.get(org_id)
        if task is None:
            task = asyncio.create_task(self._check(org_id))
            self._checks[org_id] = task
            task.add_done_callback(lambda _: self._checks.pop(org_id, None))
        return task

    async def _check(self, org_id: str) -> None:
        entry = self._loaded.get(org_id)
        if entry is None:
            return
        entry.checked = self.clock()
        store = self.store(org_id)
        pointer = None
        try:
            pointer = await asyncio.to_thread(store.pointer)
            if pointer is None or pointer == entry.pointer or pointer == self._damaged.get(org_id):
                STORE_CHECKS.labels("unchanged").inc()
                return
            started = time.perf_counter()
            shard = await asyncio.to_thread(store.load, org_id, pointer)
            SHARD_LOAD_SECONDS.observe(time.perf_counter() - started)
        except StoreUnavailableError as error:
            STORE_CHECKS.labels("unavailable").inc()
            log.warning("shard.store_unavailable", org_id=org_id, serving_version=entry.shard.version, error=str(error))
            return
        except ShardCorruptError as error:
            if await self._pointer_moved(store, pointer):
                return  # the version was replaced (and removed) while it was being fetched: the next check gets the new one
            self._damaged[org_id] = pointer
            STORE_CHECKS.labels("damaged").inc()
            log.error("shard.version_damaged", org_id=org_id, version=pointer.version, serving_version=entry.shard.version, error=str(error))
            return
        except Exception:
            # Anything else (a full local disk, a bug) must not end the checks of this org: the next one tries again.
            log.exception("shard.check_failed", org_id=org_id, serving_version=entry.shard.version)
            return
        STORE_CHECKS.labels("swapped").inc()
        if org_id in self._loaded:
            self._install(shard, pointer)
            log.info("shard.refreshed", org_id=org_id, version=shard.version, chunks=len(shard.chunks))

    async def _pointer_moved(self, store: ShardStore, pointer: VersionPointer | None) -> bool:
        try:
            return await asyncio.to_thread(store.pointer) != pointer
        except StoreUnavailableError:
            return False

    async def keep_fresh(self) -> None:
        """Run for the life of the service: check every loaded org in use when its check is due."""
        while True:
            now = self.clock()
            active = [(org_id, entry) for org_id, entry in self._loaded.items() if now - entry.used <= IDLE_AFTER_SECONDS]
            for org_id, entry in active:
                if now - entry.checked >= self.refresh_seconds:
                    # Not awaited: a slow download for one org must not delay the checks of the others.
                    self._start_check(org_id)
            next_due = min((entry.checked + self.refresh_seconds for _, entry in active), default=now + self.refresh_seconds)
            await asyncio.sleep(min(self.refresh_seconds, max(0.05, next_due - self.clock())))

    # Writing (the caller holds the org's lock)

    async def current_pointer(self, org_id: str) -> VersionPointer | None:
        """The store's pointer, read now: what a write builds on. Raises StoreUnavailableError."""
        return await asyncio.to_thread(self.store(org_id).pointer)

    async def version(self, org_id: str, pointer: VersionPointer | None, empty: Callable[[], OrgShard]) -> OrgShard:
        """The version `pointer` names, from memory when it is the loaded one."""
        if pointer is None:
            return empty()
        entry = self._loaded.get(org_id)
        if entry is not None and entry.pointer == pointer:
            return entry.shard
        return await self._load(org_id, pointer)

    async def publish(self, shard: OrgShard, expected: Expected) -> None:
        """Persist a new version and make it current, if the store's pointer is still `expected`
        (VersionConflictError otherwise)."""
        pointer = await asyncio.to_thread(self.store(shard.org_id).write, shard, expected)
        self._install(shard, pointer)
        log.info("shard.swapped", org_id=shard.org_id, version=shard.version, chunks=len(shard.chunks))

    # Memory

    def _install(self, shard: OrgShard, pointer: VersionPointer) -> None:
        current = self._loaded.get(shard.org_id)
        if current is not None and current.shard.version > shard.version:
            return  # a newer version got here first (a write on this replica while an older one was loading)
        now = self.clock()
        self._loaded[shard.org_id] = _Loaded(shard, pointer, checked=now, used=now if current is None else current.used)
        self._loaded.move_to_end(shard.org_id)
        self._evict(keep=shard.org_id)

    def _evict(self, keep: str) -> None:
        total = sum(entry.shard.memory_bytes for entry in self._loaded.values())
        for org_id in list(self._loaded):
            if total <= self.memory_budget_bytes:
                break
            if org_id == keep:
                continue
            evicted = self._loaded.pop(org_id)
            total -= evicted.shard.memory_bytes
            log.info("shard.evicted", org_id=org_id, freed_bytes=evicted.shard.memory_bytes)
        LOADED_SHARDS.set(len(self._loaded))
        LOADED_SHARD_BYTES.set(total)
