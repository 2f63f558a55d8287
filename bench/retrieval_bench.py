"""`make bench`: retrieval search latency, approximate-index recall and ingestion throughput.

Search is measured the way the service runs it: one query at a time against
the index `services.retrieval.shard.build_index` builds, on synthetic
clustered unit vectors of the local embedder's dimension (384). Clustered,
because real sentence embeddings are, and uniform random vectors make every
approximate index look worse than it is.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.tables import print_header, print_row  # noqa: E402
from services.retrieval.shard import build_index  # noqa: E402

DIMENSION = 384
QUERIES = 200
TOP_K = 10
GROWTH_CHUNKS = 1_000


def clustered_unit_vectors(count: int, seed: int, centres: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = centres[rng.integers(0, len(centres), count)]
    vectors = vectors + 0.35 * rng.standard_normal((count, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def single_query_latencies(index, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    latencies, results = [], []
    for query in queries:
        started = time.perf_counter()
        _, ids = index.search(query.reshape(1, -1), TOP_K)
        latencies.append(time.perf_counter() - started)
        results.append(ids[0])
    return np.asarray(latencies) * 1000, np.asarray(results)


SEARCH_HEADERS = ["chunks", "index", "build s", "p50 ms", "p99 ms", "recall@10"]


def bench_search(sizes: list[int]) -> None:
    """Prints a row as soon as it is measured: the 1M-chunk rows take minutes."""
    print("\nSearch latency (one query at a time)\n")
    print_header(SEARCH_HEADERS)
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((2000, DIMENSION)).astype(np.float32)
    growth: list[list[str]] = []
    for size in sizes:
        vectors = clustered_unit_vectors(size, seed=size, centres=centres)
        queries = clustered_unit_vectors(QUERIES, seed=size + 1, centres=centres)
        exact, kind = build_index(vectors, DIMENSION, approximate_threshold=size + 1)
        exact_ms, truth = single_query_latencies(exact, queries)
        print_row([f"{size:,}", kind, "-", f"{np.percentile(exact_ms, 50):.2f}", f"{np.percentile(exact_ms, 99):.2f}", "1.000"])
        del exact
        started = time.perf_counter()
        approximate, kind = build_index(vectors, DIMENSION, approximate_threshold=1)
        build_seconds = time.perf_counter() - started
        approx_ms, found = single_query_latencies(approximate, queries)
        recall = np.mean([len(set(a) & set(b)) / TOP_K for a, b in zip(found, truth)])
        print_row(
            [f"{size:,}", kind, f"{build_seconds:.1f}", f"{np.percentile(approx_ms, 50):.2f}", f"{np.percentile(approx_ms, 99):.2f}", f"{recall:.3f}"]
        )
        # What ingesting one more document costs once the graph exists: the shard grows a copy of it.
        added = clustered_unit_vectors(GROWTH_CHUNKS, seed=size + 2, centres=centres)
        started = time.perf_counter()
        grown = faiss.clone_index(approximate)
        grown.add(added)
        growth.append([f"{size:,}", f"{build_seconds:.1f}", f"{time.perf_counter() - started:.2f}"])
        del approximate, grown, vectors
    print(f"\nAdding a document of {GROWTH_CHUNKS:,} chunks to an HNSW shard: rebuild (as above) or grow a copy\n")
    print_header(["chunks", "rebuild s", "grow s"])
    for row in growth:
        print_row(row)


def bench_ingestion(documents: int) -> list[str]:
    """Chunks per second through extraction, chunking, local embedding and the atomic shard write."""
    from services.common.minilm import MiniLMEmbedder
    from services.common.providers import ProviderMeter
    from services.retrieval.knowledge import KnowledgeBase, UploadedDocument
    from services.retrieval.shard_cache import ShardCache
    from tests.conftest import copy_sample_org

    with tempfile.TemporaryDirectory() as data_dir:
        copy_sample_org(Path(data_dir))
        embedder = MiniLMEmbedder()
        embedder.load()
        embedder.embed(["warm-up"])
        meter = ProviderMeter("retrieval", Path(data_dir))
        knowledge = KnowledgeBase(Path(data_dir), embedder, ShardCache(Path(data_dir), 1 << 32), 50_000, meter)
        sentences = [
            f"Section {s} of manual {d} explains how to adjust the brakes of model {d}-{s} in {s % 7 + 2} steps."
            for d in range(documents)
            for s in range(60)
        ]
        uploads = [
            UploadedDocument(f"manual-{d}.txt", " ".join(sentences[d * 60 : (d + 1) * 60]).encode()) for d in range(documents)
        ]
        started = time.perf_counter()
        report = asyncio.run(knowledge.ingest("acme", uploads))
        seconds = time.perf_counter() - started
    return [f"{documents}", f"{report.chunks_added}", f"{seconds:.1f}", f"{report.chunks_added / seconds:.0f}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated shard sizes in chunks")
    parser.add_argument("--documents", type=int, default=40, help="documents for the ingestion benchmark")
    options = parser.parse_args()
    sizes = [int(size) for size in options.sizes.split(",")]
    print(f"machine: {os.cpu_count()} CPUs; {QUERIES} single queries per row, top_k={TOP_K}, dim={DIMENSION}", flush=True)
    bench_search(sizes)
    print("\nIngestion throughput (extract + chunk + local embed + shard write)\n")
    print_header(["documents", "chunks", "seconds", "chunks/s"])
    print_row(bench_ingestion(options.documents))
    return 0


if __name__ == "__main__":
    sys.exit(main())
