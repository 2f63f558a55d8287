"""Ingestion never starves search: uploads run one at a time on their own worker, and searches go past them."""

import asyncio
import threading
import time

import numpy as np

from services.common.providers import ProviderMeter
from services.retrieval.knowledge import KnowledgeBase, UploadedDocument
from services.retrieval.shard_cache import ShardCache
from tests.conftest import copy_sample_org


class SlowEmbedder:
    """Random unit vectors, slowly, noting which threads embed and how many at once."""

    id = "test:slow"
    dimension = 8

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = self.most_active = 0
        self.threads: list[str] = []

    def load(self) -> None:
        pass

    def embed(self, texts):
        with self.lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
            self.threads.append(threading.current_thread().name)
        try:
            time.sleep(0.02 * max(1, len(texts) // 8))
            vectors = np.random.default_rng(len(texts)).standard_normal((len(texts), self.dimension)).astype(np.float32)
            return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        finally:
            with self.lock:
                self.active -= 1


def test_concurrent_uploads_run_one_at_a_time_and_a_search_is_answered_meanwhile(tmp_path):
    copy_sample_org(tmp_path)
    embedder = SlowEmbedder()
    knowledge = KnowledgeBase(tmp_path, embedder, ShardCache(tmp_path, 1 << 30), 50_000, ProviderMeter("test", tmp_path))
    document = " ".join(f"Sentence {n} explains how to adjust the brakes in {n} steps." for n in range(400)).encode()

    async def scenario():
        await knowledge.ingest("acme", [UploadedDocument("seed.txt", b"We open at nine every day.")])
        uploads = [asyncio.create_task(knowledge.ingest("acme", [UploadedDocument(f"manual-{n}.txt", document)])) for n in range(4)]
        await asyncio.sleep(0.05)
        result = await knowledge.search("acme", "when do you open", 3, -1.0)
        searched_while_uploading = not all(upload.done() for upload in uploads)
        await asyncio.gather(*uploads)
        return result, searched_while_uploading

    result, searched_while_uploading = asyncio.run(scenario())
    assert result.hits and searched_while_uploading
    ingest_threads = {name for name in embedder.threads if name.startswith("ingest")}
    assert len(ingest_threads) == 1 and embedder.threads.count(next(iter(ingest_threads))) > 4
    assert any(not name.startswith("ingest") for name in embedder.threads)  # the query was embedded elsewhere
    assert embedder.most_active <= 2  # one upload slice, and at most the query beside it
