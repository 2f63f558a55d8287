"""The shard cache: lazy loading, swapping under readers, eviction under a memory budget."""

import asyncio

import numpy as np

from services.retrieval.shard import OrgShard
from services.retrieval.shard_cache import ShardCache
from services.retrieval.stores import ANY_VERSION
from services.retrieval.stores.file import FileShardStore
from tests.unit.test_shard import DIM, update


def stored_shard(data_dir, org_id, texts):
    shard = OrgShard.empty(org_id, "test:embedder", DIM).with_documents([update("doc.txt", texts)], 1000)
    FileShardStore(data_dir / org_id / "vector_store").write(shard)
    return shard


def empty(org_id):
    return lambda: OrgShard.empty(org_id, "test:embedder", DIM)


def test_shards_load_lazily_and_only_once(tmp_path, monkeypatch):
    stored_shard(tmp_path, "acme", ["one"])
    cache = ShardCache(tmp_path, memory_budget_bytes=10**9)
    loads = []
    original = FileShardStore.load
    monkeypatch.setattr(FileShardStore, "load", lambda self, org, pointer=None: loads.append(org) or original(self, org, pointer))
    assert cache.loaded() == []

    async def scenario():
        first, second = await asyncio.gather(cache.get("acme", empty("acme")), cache.get("acme", empty("acme")))
        return first, second

    first, second = asyncio.run(scenario())
    assert first is second and loads == ["acme"]


def test_an_org_without_a_shard_gets_an_empty_one_that_is_not_cached(tmp_path):
    cache = ShardCache(tmp_path, memory_budget_bytes=10**9)
    shard = asyncio.run(cache.get("newco", empty("newco")))
    assert shard.chunks == [] and cache.loaded() == []


def test_least_recently_used_shards_are_evicted_over_the_budget(tmp_path):
    texts = ["x" * 200] * 50
    for org in ("a", "b", "c"):
        stored_shard(tmp_path, org, texts)
    one_shard = OrgShard.empty("a", "test:embedder", DIM).with_documents([update("doc.txt", texts)], 1000).memory_bytes
    cache = ShardCache(tmp_path, memory_budget_bytes=int(one_shard * 2.5))

    async def scenario():
        await cache.get("a", empty("a"))
        await cache.get("b", empty("b"))
        await cache.get("a", empty("a"))  # a is now more recent than b
        await cache.get("c", empty("c"))

    asyncio.run(scenario())
    assert cache.loaded() == ["a", "c"]


def test_a_reader_keeps_its_version_while_a_new_one_is_swapped_in(tmp_path):
    old = stored_shard(tmp_path, "acme", ["old text"])
    cache = ShardCache(tmp_path, memory_budget_bytes=10**9)

    async def scenario():
        held = await cache.get("acme", empty("acme"))
        async with cache.lock("acme"):
            await cache.publish(held.with_documents([update("doc.txt", ["new text"])], 1000), ANY_VERSION)
        return held, await cache.get("acme", empty("acme"))

    held, current = asyncio.run(scenario())
    query = np.asarray(old.vectors[0])
    assert held.search(query, "", 1)[0][0].text == "old text"
    assert current.chunks[0].text == "new text"
    assert FileShardStore(tmp_path / "acme" / "vector_store").load("acme").version == 2
