"""Loaded shards: lazy loading, one writer per org, LRU eviction under a memory budget."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from prometheus_client import Gauge

from services.common.logs import get_logger
from services.retrieval.shard import OrgShard, ShardStore

log = get_logger(__name__)

LOADED_SHARDS = Gauge("voiceagent_retrieval_loaded_shards", "Org shards held in memory.")
LOADED_SHARD_BYTES = Gauge("voiceagent_retrieval_loaded_shard_bytes", "Estimated memory of the loaded shards.")


class ShardCache:
    """Serves the current shard of each org and swaps in new versions.

    Readers get the shard object that is current when they ask and keep it
    for the whole search, so a write never disturbs a search in flight.
    Writers for one org are serialised by that org's lock, which also guards
    loading so a load never reads a version that a write is deleting.
    """

    def __init__(self, data_dir: Path, memory_budget_bytes: int) -> None:
        self.data_dir = Path(data_dir)
        self.memory_budget_bytes = memory_budget_bytes
        self._shards: OrderedDict[str, OrgShard] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    def store(self, org_id: str) -> ShardStore:
        return ShardStore(self.data_dir / org_id / "vector_store")

    def lock(self, org_id: str) -> asyncio.Lock:
        return self._locks.setdefault(org_id, asyncio.Lock())

    def loaded(self) -> list[str]:
        return list(self._shards)

    async def get(self, org_id: str, empty: Callable[[], OrgShard]) -> OrgShard:
        """The org's current shard, loading it on first use; `empty()` when nothing is stored."""
        shard = self._shards.get(org_id)
        if shard is None:
            async with self.lock(org_id):
                return await self.get_locked(org_id, empty)
        self._shards.move_to_end(org_id)
        return shard

    async def get_locked(self, org_id: str, empty: Callable[[], OrgShard]) -> OrgShard:
        """`get` for a caller that already holds the org's lock."""
        shard = self._shards.get(org_id)
        if shard is not None:
            self._shards.move_to_end(org_id)
            return shard
        shard = await asyncio.to_thread(self.store(org_id).load, org_id)
        if shard is None:
            return empty()
        log.info("shard.loaded", org_id=org_id, version=shard.version, chunks=len(shard.chunks))
        self._install(shard)
        return shard

    async def replace(self, shard: OrgShard) -> None:
        """Persist a new version and make it current. Call with the org's lock held."""
        await asyncio.to_thread(self.store(shard.org_id).write, shard)
        self._install(shard)
        log.info("shard.swapped", org_id=shard.org_id, version=shard.version, chunks=len(shard.chunks))

    def _install(self, shard: OrgShard) -> None:
        self._shards[shard.org_id] = shard
        self._shards.move_to_end(shard.org_id)
        self._evict(keep=shard.org_id)

    def _evict(self, keep: str) -> None:
        total = sum(shard.memory_bytes for shard in self._shards.values())
        for org_id in list(self._shards):
            if total <= self.memory_budget_bytes:
                break
            if org_id == keep:
                continue
            evicted = self._shards.pop(org_id)
            total -= evicted.memory_bytes
            log.info("shard.evicted", org_id=org_id, freed_bytes=evicted.memory_bytes)
        LOADED_SHARDS.set(len(self._shards))
        LOADED_SHARD_BYTES.set(total)
