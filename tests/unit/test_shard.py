"""Shard versions: search, replacement of documents, atomic persistence, safe formats."""

import hashlib
import json
import os

import numpy as np
import pytest

from services.retrieval.ingest import Chunk
from services.retrieval.shard import DocumentRecord, DocumentUpdate, OrgShard, ShardCorruptError
from services.retrieval.stores.file import FileShardStore

DIM = 16
RNG = np.random.default_rng(7)


def unit(vectors):
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def update(name, texts, vectors=None):
    vectors = unit(RNG.standard_normal((len(texts), DIM))) if vectors is None else vectors
    record = DocumentRecord(name, "sha-" + name, sum(map(len, texts)), len(texts), "2026-01-01T00:00:00Z")
    return DocumentUpdate(record, [Chunk(name, i, t) for i, t in enumerate(texts)], vectors)


def shard_with(*updates, threshold=1000):
    return OrgShard.empty("acme", "test:embedder", DIM).with_documents(list(updates), threshold)


def test_search_returns_the_closest_chunks_best_first():
    vectors = unit(np.eye(DIM)[:3])
    shard = shard_with(update("a.txt", ["x", "y", "z"], vectors))
    hits = shard.search(unit([[0.1, 1.0] + [0.0] * (DIM - 2)])[0], "", top_k=2)
    assert [chunk.text for chunk, _ in hits] == ["y", "x"]
    assert hits[0][1] > hits[1][1]


def test_min_score_and_top_k_larger_than_the_shard():
    shard = shard_with(update("a.txt", ["x", "y"], unit(np.eye(DIM)[:2])))
    hits = shard.search(unit(np.eye(DIM)[:1])[0], "", top_k=10, min_score=0.5)
    assert [chunk.text for chunk, _ in hits] == ["x"]


def test_empty_shard_finds_nothing():
    assert OrgShard.empty("acme", "test:embedder", DIM).search(unit(np.eye(DIM)[:1])[0], "", 5) == []


def test_reingesting_a_document_replaces_its_chunks_and_keeps_the_others():
    shard = shard_with(update("a.txt", ["a1", "a2", "a3"]), update("b.txt", ["b1"]))
    replaced = shard.with_documents([update("a.txt", ["new a"])], 1000)
    assert sorted(chunk.text for chunk in replaced.chunks) == ["b1", "new a"]
    assert replaced.version == shard.version + 1
    assert replaced.documents["a.txt"].chunks == 1
    assert len(replaced.vectors) == 2


def test_deleting_a_document_removes_only_its_chunks():
    shard = shard_with(update("a.txt", ["a1", "a2"]), update("b.txt", ["b1"]))
    remaining = shard.without_document("a.txt", 1000)
    assert [chunk.text for chunk in remaining.chunks] == ["b1"]
    assert list(remaining.documents) == ["b.txt"]


def test_store_round_trip_keeps_everything(tmp_path):
    shard = shard_with(update("a.txt", ["über", "naïve"]), update("b.txt", ["b1"]))
    store = FileShardStore(tmp_path)
    store.write(shard)
    loaded = store.load("acme")
    assert [c.text for c in loaded.chunks] == [c.text for c in shard.chunks]
    np.testing.assert_allclose(np.asarray(loaded.vectors), shard.vectors)
    assert loaded.documents == shard.documents
    assert (loaded.version, loaded.embedder, loaded.dimension, loaded.index_type) == (1, "test:embedder", DIM, "flat")
    query = shard.vectors[1]
    assert loaded.search(query, "", 1)[0][0] == shard.search(query, "", 1)[0][0]


def test_stored_files_are_plain_json_npy_and_sqlite(tmp_path):
    store = FileShardStore(tmp_path)
    store.write(shard_with(update("a.txt", ["one", "two"])))
    version_dir = store.current_version_dir()
    assert sorted(p.name for p in version_dir.iterdir()) == ["chunks.jsonl", "lexical.sqlite", "manifest.json", "vectors.npy"]
    manifest = json.loads((version_dir / "manifest.json").read_text())
    assert manifest["embedder"] == "test:embedder" and manifest["chunks"] == 2 and manifest["format"] == 2
    rows = [json.loads(line) for line in (version_dir / "chunks.jsonl").read_text().splitlines()]
    assert rows[0] == {"document": "a.txt", "position": 0, "text": "one", "kind": "paragraph", "headings": [], "mentions": []}
    assert np.load(version_dir / "vectors.npy", allow_pickle=False).shape == (2, DIM)
    assert (version_dir / "lexical.sqlite").read_bytes().startswith(b"SQLite format 3")


def test_exact_words_are_found_even_when_the_vectors_disagree():
    texts = ["Error E4021 means the signing secret expired.", "Parking is behind the shop.", "We open at nine."]
    # The query's vector is closest to the parking chunk; its words name the error code.
    shard = shard_with(update("a.txt", texts, unit(np.eye(DIM)[:3])))
    hits = shard.search(unit(np.eye(DIM)[1:2])[0], "what does E4021 mean", top_k=2)
    assert {chunk.text for chunk, _ in hits} == {texts[0], texts[1]}
    assert shard.search(unit(np.eye(DIM)[1:2])[0], "", top_k=1)[0][0].text == texts[1]


def test_the_lexical_index_is_saved_and_swapped_with_its_version(tmp_path):
    store = FileShardStore(tmp_path)
    shard = shard_with(update("a.txt", ["Error E4021 means the secret expired.", "Parking is behind the shop."]))
    store.write(shard)
    grown = store.load("acme").with_documents([update("b.txt", ["Refunds within 30 days, code R30."])], 1000)
    store.write(grown)
    loaded = store.load("acme")
    query = unit(np.eye(DIM)[5:6])[0]
    assert loaded.search(query, "refund code R30", 1)[0][0].text == "Refunds within 30 days, code R30."
    assert loaded.search(query, "E4021", 1)[0][0].text == "Error E4021 means the secret expired."


def test_a_shard_written_before_the_lexical_index_still_loads_and_finds_words(tmp_path):
    store = FileShardStore(tmp_path)
    store.write(shard_with(update("a.txt", ["Error E4021 means the secret expired.", "Parking is behind the shop."])))
    version_dir = store.current_version_dir()
    (version_dir / "lexical.sqlite").unlink()
    rows = [json.loads(line) for line in (version_dir / "chunks.jsonl").read_text().splitlines()]
    (version_dir / "chunks.jsonl").write_text("".join(json.dumps({k: r[k] for k in ("document", "position", "text")}) + "\n" for r in rows))
    manifest = json.loads((version_dir / "manifest.json").read_text())
    manifest["format"] = 1
    manifest["files"] = {"vectors.npy": manifest["files"]["vectors.npy"],
                         "chunks.jsonl": hashlib.sha256((version_dir / "chunks.jsonl").read_bytes()).hexdigest()}
    (version_dir / "manifest.json").write_text(json.dumps(manifest))
    loaded = store.load("acme")
    assert loaded.search(unit(np.eye(DIM)[9:10])[0], "E4021", 1)[0][0].text.startswith("Error E4021")


def test_a_damaged_lexical_index_is_reported_as_corrupt(tmp_path):
    store = FileShardStore(tmp_path)
    store.write(shard_with(update("a.txt", ["one", "two"])))
    path = store.current_version_dir() / "lexical.sqlite"
    data = bytearray(path.read_bytes())
    data[200:260] = b"x" * 60
    path.write_bytes(bytes(data))
    with pytest.raises(ShardCorruptError, match="checksum"):
        store.load("acme")


def test_nothing_stored_loads_as_none(tmp_path):
    assert FileShardStore(tmp_path / "vector_store").load("acme") is None


def test_a_new_version_replaces_the_old_one_on_disk(tmp_path):
    store = FileShardStore(tmp_path)
    first = shard_with(update("a.txt", ["one"]))
    store.write(first)
    store.write(first.with_documents([update("b.txt", ["two"])], 1000))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT", "v00000002"]
    assert store.load("acme").version == 2


@pytest.mark.parametrize("failing_step", ["np.save", "os.rename", "os.replace"])
def test_a_crash_at_any_step_of_a_write_leaves_the_previous_version_loadable(tmp_path, monkeypatch, failing_step):
    store = FileShardStore(tmp_path)
    first = shard_with(update("a.txt", ["original"]))
    store.write(first)
    module, name = failing_step.split(".")
    target = np if module == "np" else os

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(target, name, crash)
    with pytest.raises(KeyboardInterrupt):
        store.write(first.with_documents([update("a.txt", ["replacement"])], 1000))
    monkeypatch.undo()
    loaded = store.load("acme")
    assert [chunk.text for chunk in loaded.chunks] == ["original"]
    # The next write succeeds and clears the debris of the interrupted one.
    store.write(loaded.with_documents([update("b.txt", ["next"])], 1000))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT", "v00000002"]
    assert sorted(chunk.text for chunk in store.load("acme").chunks) == ["next", "original"]


def test_a_damaged_file_is_detected_by_its_checksum(tmp_path):
    store = FileShardStore(tmp_path)
    store.write(shard_with(update("a.txt", ["one", "two"])))
    chunks_file = store.current_version_dir() / "chunks.jsonl"
    chunks_file.write_text(chunks_file.read_text().replace("one", "0ne"))
    with pytest.raises(ShardCorruptError, match="checksum"):
        store.load("acme")


def clustered(n, dim, seed):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 50, 4), dim)).astype(np.float32)
    points = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return unit(points)


def test_large_shards_get_an_approximate_index_with_high_recall(tmp_path):
    n, dim = 20_000, 64
    vectors = clustered(n, dim, seed=1)
    chunks = [f"c{i}" for i in range(n)]
    base = OrgShard.empty("acme", "test:embedder", dim)
    approximate = base.with_documents([update("big.txt", chunks, vectors)], approximate_threshold=10_000)
    exact = base.with_documents([update("big.txt", chunks, vectors)], approximate_threshold=n + 1)
    assert (approximate.index_type, exact.index_type) == ("hnsw", "flat")
    queries = clustered(200, dim, seed=2)
    recall = np.mean(
        [
            len({c.text for c, _ in approximate.search(q, "", 10)} & {c.text for c, _ in exact.search(q, "", 10)}) / 10
            for q in queries
        ]
    )
    assert recall >= 0.95
    store = FileShardStore(tmp_path)
    store.write(approximate)
    assert (store.current_version_dir() / "index.faiss").is_file()
    loaded = store.load("acme")
    assert loaded.index_type == "hnsw"
    assert [c.text for c, _ in loaded.search(queries[0], "", 10)] == [c.text for c, _ in approximate.search(queries[0], "", 10)]


def test_adding_documents_to_a_graph_index_grows_a_copy_of_it(monkeypatch):
    n, dim = 3_000, 64
    vectors = clustered(n + 500, dim, seed=3)
    base = OrgShard.empty("acme", "test:embedder", dim)
    first = base.with_documents([update("a.txt", [f"a{i}" for i in range(n)], vectors[:n])], approximate_threshold=1_000)
    rebuilds = []
    monkeypatch.setattr("services.retrieval.shard.build_index", lambda *args: rebuilds.append(args) or pytest.fail("rebuilt"))
    grown = first.with_documents([update("b.txt", [f"b{i}" for i in range(500)], vectors[n:])], approximate_threshold=1_000)
    assert rebuilds == [] and grown.index_type == "hnsw"
    assert (first.index.ntotal, grown.index.ntotal) == (n, n + 500)  # the live version is untouched
    assert [c.text for c, _ in grown.search(vectors[n + 7], "", 1)] == ["b7"]
    assert [c.text for c, _ in grown.search(vectors[11], "", 1)] == ["a11"]


def test_replacing_a_document_in_a_graph_index_rebuilds_it():
    n, dim = 3_000, 64
    vectors = clustered(n, dim, seed=4)
    first = OrgShard.empty("acme", "test:embedder", dim).with_documents(
        [update("a.txt", [f"a{i}" for i in range(n // 2)], vectors[: n // 2]), update("b.txt", [f"b{i}" for i in range(n // 2)], vectors[n // 2 :])],
        approximate_threshold=1_000,
    )
    replaced = first.with_documents([update("a.txt", ["new a"], vectors[:1])], approximate_threshold=1_000)
    assert replaced.index.ntotal == n // 2 + 1 and [c.text for c, _ in replaced.search(vectors[0], "", 1)] == ["new a"]


def test_shards_do_not_need_pickle(monkeypatch, tmp_path):
    import pickle

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    store = FileShardStore(tmp_path)
    store.write(shard_with(update("a.txt", ["one"])))
    assert store.load("acme").chunks[0].text == "one"


def test_a_missing_index_file_is_reported_as_corruption(tmp_path):
    store = FileShardStore(tmp_path)
    n, dim = 300, 16
    vectors = unit(RNG.standard_normal((n, dim)))
    store.write(OrgShard.empty("acme", "test:embedder", dim).with_documents([update("a.txt", [f"t{i}" for i in range(n)], vectors)], 10))
    (store.current_version_dir() / "index.faiss").unlink()
    with pytest.raises(ShardCorruptError):
        store.load("acme")
    assert store.newest_version() == 1


class HashingEmbedder:
    """A deterministic stand-in for the model, so the ingest logic can be tested without loading it."""

    id = "test:hashing"
    dimension = DIM

    def embed(self, texts):
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        seeds = [int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") for text in texts]
        return unit([np.random.default_rng(seed).standard_normal(DIM) for seed in seeds])


def test_a_damaged_shard_can_be_rebuilt(tmp_path):
    import asyncio

    from services.common.providers import ProviderMeter
    from services.retrieval.knowledge import KnowledgeBase, UploadedDocument
    from services.retrieval.shard_cache import ShardCache
    from tests.conftest import copy_sample_org

    copy_sample_org(tmp_path)
    knowledge = KnowledgeBase(tmp_path, HashingEmbedder(), ShardCache(tmp_path, 10**9), 1000, ProviderMeter("retrieval", tmp_path))
    document = UploadedDocument("hours.txt", b"We open at nine every weekday.")
    asyncio.run(knowledge.ingest("acme", [document]))
    chunks_file = FileShardStore(tmp_path / "acme" / "vector_store").current_version_dir() / "chunks.jsonl"
    chunks_file.write_text("damaged")
    fresh = KnowledgeBase(tmp_path, HashingEmbedder(), ShardCache(tmp_path, 10**9), 1000, ProviderMeter("retrieval", tmp_path))
    with pytest.raises(ShardCorruptError):
        asyncio.run(fresh.ingest("acme", [document]))
    rebuilt = asyncio.run(fresh.ingest("acme", [document], rebuild=True))
    assert rebuilt.shard.version == 2 and [c.text for c in rebuilt.shard.chunks] == ["We open at nine every weekday."]
