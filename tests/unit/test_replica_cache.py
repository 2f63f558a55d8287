"""Replicas as caches of one S3 bucket (moto's real S3 API): fresh within the refresh bound, serving through
store outages and damaged versions, and writes from two replicas that never lose each other's documents."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from services.common.providers import ProviderMeter
from services.retrieval.knowledge import KnowledgeBase, UploadedDocument
from services.retrieval.shard import OrgShard, ShardCorruptError
from services.retrieval.shard_cache import ShardCache
from services.retrieval.stores import ANY_VERSION
from services.retrieval.stores.s3 import S3Location, S3Stores
from tests.conftest import copy_sample_org
from tests.s3_server import S3Server, use_credentials
from tests.unit.test_shard import DIM, HashingEmbedder, update

REFRESH = 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Bucket:
    """One bucket shared by replicas; each replica gets its own local cache directory and shard cache."""

    def __init__(self, server: S3Server, root: Path) -> None:
        self.server = server
        self.root = root
        self.name = server.create_bucket(f"shards-{uuid.uuid4().hex[:12]}")

    def stores(self, replica: str, endpoint: str | None = None) -> S3Stores:
        return S3Stores(S3Location(self.name, "orgs"), self.root / f"cache-{replica}", 2, endpoint or self.server.endpoint)

    def cache(self, replica: str, clock: Clock | None = None, refresh: float = REFRESH) -> ShardCache:
        return ShardCache(self.root, 10**9, self.stores(replica), refresh, clock or time.monotonic)

    def publish(self, texts: list[str], version: int) -> None:
        """What another replica's ingestion does: a new version in the bucket and the pointer switched to it."""
        shard = OrgShard.empty("acme", "test:embedder", DIM)
        for _ in range(version):
            shard = shard.with_documents([update("doc.txt", texts)], 1000)
        self.stores("writer")("acme").write(shard, ANY_VERSION)


@pytest.fixture
def bucket(s3_server, tmp_path, monkeypatch) -> Bucket:
    use_credentials(monkeypatch)
    return Bucket(s3_server, tmp_path)


def empty():
    return OrgShard.empty("acme", "test:embedder", DIM)


def texts_of(shard: OrgShard) -> list[str]:
    return [chunk.text for chunk in shard.chunks]


def checks(outcome: str) -> float:
    return REGISTRY.get_sample_value("voiceagent_retrieval_store_checks_total", {"outcome": outcome}) or 0.0


def test_a_version_published_elsewhere_serves_after_the_next_check_and_not_before(bucket):
    bucket.publish(["first"], version=1)
    clock = Clock()
    cache = bucket.cache("a", clock)

    async def scenario():
        before = await cache.get("acme", empty)
        bucket.publish(["second"], version=2)
        clock.advance(REFRESH - 1)
        unchanged = await cache.get("acme", empty)
        clock.advance(1)
        await cache.check("acme")
        return before, unchanged, await cache.get("acme", empty)

    before, unchanged, after = asyncio.run(scenario())
    assert texts_of(before) == texts_of(unchanged) == ["first"]
    assert texts_of(after) == ["second"] and after.version == 2


def test_the_background_refresher_swaps_a_new_version_in_within_the_refresh_bound(bucket):
    bucket.publish(["first"], version=1)
    cache = bucket.cache("a", refresh=0.5)

    async def scenario():
        await cache.get("acme", empty)
        refresher = asyncio.create_task(cache.keep_fresh())
        await asyncio.sleep(0.2)
        bucket.publish(["second"], version=2)
        published = time.monotonic()
        while texts_of(await cache.get("acme", empty)) != ["second"]:
            assert time.monotonic() - published < 5, "never refreshed"
            await asyncio.sleep(0.02)
        refresher.cancel()
        return time.monotonic() - published

    assert asyncio.run(scenario()) <= 0.5 + 1.0


def test_an_idle_org_is_checked_on_its_next_request(bucket):
    bucket.publish(["first"], version=1)
    clock = Clock()
    cache = bucket.cache("a", clock)

    async def scenario():
        await cache.get("acme", empty)
        bucket.publish(["second"], version=2)
        clock.advance(10 * REFRESH)
        return await cache.get("acme", empty)

    assert texts_of(asyncio.run(scenario())) == ["second"]


def test_while_the_store_is_unreachable_the_loaded_version_keeps_serving(tmp_path, monkeypatch):
    use_credentials(monkeypatch)
    server = S3Server().start()
    try:
        bucket = Bucket(server, tmp_path)
        bucket.publish(["first"], version=1)
        clock = Clock()
        cache = bucket.cache("a", clock)
        asyncio.run(cache.get("acme", empty))
        server.stop()
        unavailable = checks("unavailable")
        clock.advance(REFRESH)
        asyncio.run(cache.check("acme"))
        assert texts_of(asyncio.run(cache.get("acme", empty))) == ["first"]
        assert checks("unavailable") == unavailable + 1
    finally:
        server.stop()


def test_a_damaged_version_is_data_loss_where_nothing_serves_and_the_previous_one_serves_elsewhere(bucket):
    bucket.publish(["first"], version=1)
    clock = Clock()
    serving = bucket.cache("a", clock)
    asyncio.run(serving.get("acme", empty))
    bucket.publish(["second"], version=2)
    client = bucket.server.client()
    [key] = [k for k in bucket.server.keys(bucket.name, "orgs/acme/v00000002") if k.endswith("chunks.jsonl")]
    client.put_object(Bucket=bucket.name, Key=key, Body=b'{"document": "doc.txt", "position": 0, "text": "tampered"}\n')
    damaged = checks("damaged")

    clock.advance(REFRESH)
    asyncio.run(serving.check("acme"))
    clock.advance(REFRESH)
    asyncio.run(serving.check("acme"))  # the damaged version is not fetched again
    assert texts_of(asyncio.run(serving.get("acme", empty))) == ["first"]
    assert checks("damaged") == damaged + 1
    with pytest.raises(ShardCorruptError, match="checksum"):
        asyncio.run(bucket.cache("b").get("acme", empty))

    bucket.publish(["third"], version=3)
    clock.advance(REFRESH)
    asyncio.run(serving.check("acme"))
    assert texts_of(asyncio.run(serving.get("acme", empty))) == ["third"]


def replica(bucket: Bucket, name: str, data_dir: Path) -> KnowledgeBase:
    cache = ShardCache(data_dir, 10**9, bucket.stores(name), REFRESH)
    return KnowledgeBase(data_dir, HashingEmbedder(), cache, 1000, ProviderMeter("test", data_dir))


class Overtaken:
    """Wraps a replica's stores so that its first switch is overtaken: just before it, `other_write` lands."""

    def __init__(self, stores, other_write) -> None:
        self.stores = stores
        self.other_write = other_write

    def __call__(self, org_id: str):
        store = self.stores(org_id)
        original = store.write

        def write(shard, expected=ANY_VERSION):
            if self.other_write is not None:
                other_write, self.other_write = self.other_write, None
                other_write()
            return original(shard, expected)

        store.write = write
        return store


def test_a_write_overtaken_by_another_replica_is_rebuilt_on_it_and_both_documents_land(bucket, tmp_path):
    copy_sample_org(tmp_path)
    first, second = replica(bucket, "a", tmp_path), replica(bucket, "b", tmp_path)
    asyncio.run(first.ingest("acme", [UploadedDocument("seed.txt", b"We open at nine every day.")]))
    land_from_b = lambda: asyncio.run(second.ingest("acme", [UploadedDocument("parking.txt", b"Parking is behind the shop.")]))  # noqa: E731
    first.cache.stores = Overtaken(first.cache.stores, land_from_b)
    conflicts = REGISTRY.get_sample_value("voiceagent_retrieval_write_conflicts_total") or 0.0

    report = asyncio.run(first.ingest("acme", [UploadedDocument("prices.txt", b"A tune-up costs sixty dollars.")]))

    assert sorted(report.shard.documents) == ["parking.txt", "prices.txt", "seed.txt"]
    assert report.shard.version == 3
    assert REGISTRY.get_sample_value("voiceagent_retrieval_write_conflicts_total") == conflicts + 1
    fresh = replica(bucket, "c", tmp_path)
    assert sorted(asyncio.run(fresh.describe("acme")).documents) == ["parking.txt", "prices.txt", "seed.txt"]


def test_warm_loads_the_shard_once_and_then_finds_it_in_memory(bucket, tmp_path):
    copy_sample_org(tmp_path)
    writer, reader = replica(bucket, "a", tmp_path), replica(bucket, "b", tmp_path)
    asyncio.run(writer.ingest("acme", [UploadedDocument("seed.txt", b"We open at nine every day.")]))

    async def scenario():
        return await reader.warm("acme"), await reader.warm("acme")

    (shard, already), (_, again) = asyncio.run(scenario())
    assert (len(shard.chunks), already, again) == (1, False, True)
    assert reader.cache.loaded() == ["acme"]
