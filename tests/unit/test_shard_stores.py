"""Shard stores, each backend held to one specification: the local directory and S3 (moto's real S3 API)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from services.retrieval.shard import ShardCorruptError
from services.retrieval.stores import ANY_VERSION, StoreUnavailableError, VersionConflictError
from services.retrieval.stores.file import FileShardStore
from services.retrieval.stores.s3 import S3Location, S3Stores
from tests.s3_server import S3Server, use_credentials
from tests.unit.test_shard import shard_with, update


class FileBackend:
    """One org's directory; 'another replica' is another store object on the same directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def store(self, replica: str = "a", keep_versions: int = 2) -> FileShardStore:
        return FileShardStore(self.root / "acme" / "vector_store", keep_versions)

    def version_files(self, version: str) -> list[str]:
        return sorted(path.name for path in (self.root / "acme" / "vector_store" / version).iterdir())

    def damage(self, version: str, name: str) -> None:
        path = self.root / "acme" / "vector_store" / version / name
        path.write_bytes(path.read_bytes().replace(b"one", b"0ne"))

    def stored_versions(self) -> list[str]:
        return sorted(p.name for p in (self.root / "acme" / "vector_store").iterdir() if p.name.startswith("v"))


class S3Backend:
    """One bucket; each replica has its own local cache directory, as pods on different nodes do."""

    def __init__(self, server: S3Server, root: Path) -> None:
        self.server = server
        self.root = root
        self.bucket = server.create_bucket(f"shards-{uuid.uuid4().hex[:12]}")

    def store(self, replica: str = "a", keep_versions: int = 2):
        stores = S3Stores(S3Location(self.bucket, "tenants"), self.root / f"cache-{replica}", keep_versions, self.server.endpoint)
        return stores("acme")

    def version_files(self, version: str) -> list[str]:
        return [key.rsplit("/", 1)[1] for key in self.server.keys(self.bucket, f"tenants/acme/{version}/")]

    def damage(self, version: str, name: str) -> None:
        client = self.server.client()
        key = f"tenants/acme/{version}/{name}"
        body = client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        client.put_object(Bucket=self.bucket, Key=key, Body=body.replace(b"one", b"0ne"))

    def stored_versions(self) -> list[str]:
        return sorted({key.split("/")[2] for key in self.server.keys(self.bucket, "tenants/acme/") if key.split("/")[2].startswith("v")})


@pytest.fixture(params=["file", "s3"])
def backend(request, tmp_path, monkeypatch):
    if request.param == "file":
        return FileBackend(tmp_path)
    use_credentials(monkeypatch)
    return S3Backend(request.getfixturevalue("s3_server"), tmp_path)


def test_nothing_stored_has_no_pointer_and_loads_as_none(backend):
    store = backend.store()
    assert store.pointer() is None and store.load("acme") is None and store.newest_version() == 0


def test_a_written_version_is_current_and_loads_on_another_replica(backend):
    shard = shard_with(update("a.txt", ["one", "two"]))
    pointer = backend.store("a").write(shard, expected=None)
    other = backend.store("b")
    assert other.pointer() == pointer and pointer.version.startswith("v00000001")
    loaded = other.load("acme")
    assert [chunk.text for chunk in loaded.chunks] == ["one", "two"] and loaded.version == 1
    assert backend.version_files(pointer.version) == ["chunks.jsonl", "lexical.sqlite", "manifest.json", "vectors.npy"]


def test_a_switch_from_a_stale_pointer_is_refused_and_changes_nothing(backend):
    first = backend.store("a").write(shard_with(update("a.txt", ["one"])), expected=None)
    second = backend.store("b").write(shard_with(update("a.txt", ["one"])).with_documents([update("b.txt", ["two"])], 1000), expected=first)
    with pytest.raises(VersionConflictError):
        backend.store("a").write(shard_with(update("c.txt", ["lost"])), expected=first)
    with pytest.raises(VersionConflictError):
        backend.store("a").write(shard_with(update("c.txt", ["lost"])), expected=None)
    assert backend.store("a").pointer() == second
    assert sorted(backend.store("a").load("acme").documents) == ["a.txt", "b.txt"]


def test_old_versions_are_kept_up_to_the_configured_count_then_removed(backend):
    store = backend.store(keep_versions=2)
    shard = shard_with(update("a.txt", ["one"]))
    for _ in range(4):
        store.write(shard, ANY_VERSION)
        shard = shard.with_documents([update("a.txt", ["one"])], 1000)
    versions = backend.stored_versions()
    assert [name[:9] for name in versions] == ["v00000003", "v00000004"]
    assert store.pointer().version == versions[-1] and store.newest_version() == 4


def test_a_damaged_object_is_reported_as_corruption(backend):
    pointer = backend.store("a").write(shard_with(update("a.txt", ["one", "two"])), expected=None)
    backend.damage(pointer.version, "chunks.jsonl")
    with pytest.raises(ShardCorruptError, match="checksum"):
        backend.store("b").load("acme")


def test_an_s3_replica_reuses_its_local_copy_and_fetches_again_a_damaged_one(s3_server, tmp_path, monkeypatch):
    use_credentials(monkeypatch)
    backend = S3Backend(s3_server, tmp_path)
    pointer = backend.store("a").write(shard_with(update("a.txt", ["one", "two"])), expected=None)
    reader = backend.store("b")
    reader.load("acme")
    copy = tmp_path / "cache-b" / "acme" / pointer.version / "chunks.jsonl"
    copy.write_text("damaged")
    assert [chunk.text for chunk in reader.load("acme").chunks] == ["one", "two"]
    assert copy.read_text().startswith("{")


def test_an_unreachable_s3_store_is_unavailable_not_corrupt(tmp_path, monkeypatch):
    use_credentials(monkeypatch)
    stores = S3Stores(S3Location.parse("s3://shards/tenants"), tmp_path, endpoint_url="http://127.0.0.1:9")
    with pytest.raises(StoreUnavailableError):
        stores("acme").pointer()
    with pytest.raises(StoreUnavailableError):
        stores.check()


@pytest.mark.parametrize("url", ["s3:/shards", "gs://shards", "s3://", "s3:///prefix"])
def test_a_store_url_must_name_an_s3_bucket(url):
    with pytest.raises(ValueError):
        S3Location.parse(url)


def test_store_urls_name_a_bucket_and_an_optional_prefix():
    assert S3Location.parse("s3://shards") == S3Location("shards", "")
    assert S3Location.parse("s3://shards/prod/eu/").key("acme", "CURRENT") == "prod/eu/acme/CURRENT"
