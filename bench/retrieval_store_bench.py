"""`make bench`: retrieval replicas over object storage — cold loads, freshness, start-up, a replica killed.

Everything runs on this machine: the S3 API is moto's server on loopback
(`moto_server`), so the cold-load figures are this machine's CPU and disk,
not a network; the retrieval and llm processes are started exactly as a pod
starts them (`python -m services.<name>`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.tables import print_header, print_row  # noqa: E402
from services.cli.launcher import ServiceProcess  # noqa: E402
from services.common.generated.voiceagent.v1 import retrieval_pb2 as pb  # noqa: E402
from services.common.generated.voiceagent.v1 import retrieval_pb2_grpc  # noqa: E402
from services.retrieval.ingest import Chunk  # noqa: E402
from services.retrieval.shard import DocumentRecord, DocumentUpdate, OrgShard  # noqa: E402
from services.retrieval.stores import ANY_VERSION  # noqa: E402
from services.retrieval.stores.s3 import S3Location, S3Stores  # noqa: E402
from tests.conftest import REPO_ROOT, copy_sample_org  # noqa: E402
from tests.integration.conftest import ADMIN, ingest_requests, sample_documents  # noqa: E402
from tests.integration.replicas import calls_while_a_replica_dies, start_replicas  # noqa: E402
from tests.s3_server import CREDENTIALS, S3Server  # noqa: E402

DIMENSION = 384
APPROXIMATE_THRESHOLD = 50_000  # the service's default
WORDS_PER_CHUNK = 60
QUERIES = 200


def synthetic_shard(chunks: int, seed: int = 0) -> OrgShard:
    """A shard as ingestion builds it (dense index, lexical index, documents of 100 chunks), of clustered unit
    vectors and chunks of about 400 characters of words from a 5,000-word vocabulary."""
    rng = np.random.default_rng(seed)
    vocabulary = np.array(["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), rng.integers(3, 10))) for _ in range(5000)])
    centres = rng.standard_normal((max(chunks // 50, 4), DIMENSION)).astype(np.float32)
    vectors = centres[rng.integers(0, len(centres), chunks)] + 0.35 * rng.standard_normal((chunks, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    updates = []
    for start in range(0, chunks, 100):
        name = f"manual-{start // 100:05d}.txt"
        texts = [" ".join(vocabulary[rng.integers(0, len(vocabulary), WORDS_PER_CHUNK)]) for _ in range(start, min(start + 100, chunks))]
        record = DocumentRecord(name, "0" * 64, sum(map(len, texts)), len(texts), "2026-11-27T00:00:00Z")
        updates.append(DocumentUpdate(record, [Chunk(name, i, text) for i, text in enumerate(texts)], vectors[start : start + len(texts)]))
    return OrgShard.empty("acme", "bench:synthetic", DIMENSION).with_documents(updates, APPROXIMATE_THRESHOLD)


def search_latencies(shard: OrgShard) -> np.ndarray:
    rng = np.random.default_rng(1)
    latencies = []
    for _ in range(QUERIES):
        query = shard.vectors[int(rng.integers(0, len(shard.chunks)))]
        words = " ".join(shard.chunks[int(rng.integers(0, len(shard.chunks)))].text.split()[:6])
        started = time.perf_counter()
        shard.search(np.asarray(query), words, 5)
        latencies.append(time.perf_counter() - started)
    return np.asarray(latencies) * 1000


def bench_cold_loads(s3: S3Server, sizes: list[int]) -> None:
    print("\nCold load of one org's shard from the store (moto S3 on loopback): a replica that never had it\n")
    print_header(["chunks", "index", "objects MB", "publish s", "cold load s", "from local copy s", "search p50 ms", "search p99 ms"])
    for size in sizes:
        bucket = s3.create_bucket(f"bench-{uuid.uuid4().hex[:12]}")
        shard = synthetic_shard(size)
        with tempfile.TemporaryDirectory() as root:
            def store(replica: str):
                return S3Stores(S3Location(bucket, "shards"), Path(root) / replica, 2, s3.endpoint)("acme")

            started = time.perf_counter()
            store("writer").write(shard, ANY_VERSION)
            published = time.perf_counter() - started
            size_mb = sum(path.stat().st_size for path in (Path(root) / "writer" / "acme").rglob("*") if path.is_file()) / 1e6
            reader = store("reader")
            started = time.perf_counter()
            loaded = reader.load("acme")
            cold = time.perf_counter() - started
            del loaded
            started = time.perf_counter()
            loaded = reader.load("acme")
            local = time.perf_counter() - started
            latencies = search_latencies(loaded)
        print_row([f"{size:,}", shard.index_type, f"{size_mb:.0f}", f"{published:.1f}", f"{cold:.2f}", f"{local:.2f}",
                   f"{np.percentile(latencies, 50):.2f}", f"{np.percentile(latencies, 99):.2f}"])
        del shard, loaded


def bench_freshness(s3: S3Server, rounds: int, refresh_seconds: float) -> None:
    print(f"\nFreshness: a document ingested through replica A, searched through replica B every 50 ms "
          f"(RETRIEVAL_REFRESH_SECONDS={refresh_seconds:g})\n")
    bucket = s3.create_bucket(f"bench-{uuid.uuid4().hex[:12]}")
    with tempfile.TemporaryDirectory() as root:
        replicas = start_replicas(s3, bucket, Path(root), refresh_seconds=refresh_seconds)
        try:
            channels = [grpc.insecure_channel(replica.address) for replica in replicas]
            first, second = (retrieval_pb2_grpc.RetrievalStub(channel) for channel in channels)
            first.Ingest(ingest_requests("acme", sample_documents()), metadata=ADMIN, timeout=120)
            second.Search(pb.SearchRequest(org_id="acme", query="opening hours"), timeout=30)
            delays = []
            for n in range(rounds):
                name = f"note-{n}.txt"
                first.Ingest(ingest_requests("acme", {name: f"Note {n}: the zorblax{n} service costs {n} dollars.".encode()}),
                             metadata=ADMIN, timeout=60)
                published = time.monotonic()
                question = pb.SearchRequest(org_id="acme", query=f"how much is zorblax{n}", top_k=1)
                while second.Search(question, timeout=5).hits[0].document != name:
                    time.sleep(0.05)
                delays.append(time.monotonic() - published)
                time.sleep(float(np.random.default_rng(n).uniform(0, refresh_seconds)))  # land at any point of the cycle
            for channel in channels:
                channel.close()
        finally:
            for replica in replicas:
                replica.stop()
    print_header(["ingests", "bound s", "median s", "max s"])
    print_row([str(rounds), f"{refresh_seconds + 1:g}", f"{statistics.median(delays):.2f}", f"{max(delays):.2f}"])


def time_to_serving(name: str, env: dict[str, str], log_dir: Path) -> float:
    started = time.monotonic()
    service = ServiceProcess(name, env, log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log").start()
    try:
        service.wait_serving(timeout=180)
        return time.monotonic() - started
    finally:
        service.stop()


def torch_embedder_load_seconds() -> float:
    """What the services used to spend before SERVING: importing torch and sentence-transformers, loading MiniLM."""
    probe = ("import time; started = time.monotonic()\n"
             "from sentence_transformers import SentenceTransformer\n"
             "from services.common.minilm import model_directory\n"
             "SentenceTransformer(str(model_directory()), device='cpu').encode(['warm-up'])\n"
             "print(time.monotonic() - started)\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def bench_start_up(s3: S3Server, runs: int) -> None:
    print(f"\nStart-up: process start to SERVING (median of {runs}; the embedder is loaded and has embedded once)\n")
    bucket = s3.create_bucket(f"bench-{uuid.uuid4().hex[:12]}")
    with tempfile.TemporaryDirectory() as root:
        data_dir = Path(root) / "data"
        copy_sample_org(data_dir)
        base = {"VOICEAGENT_DATA_DIR": str(data_dir)}
        cases = [
            ("retrieval", "file store", base),
            ("retrieval", "s3 store", {**base, **CREDENTIALS, "AWS_ENDPOINT_URL": s3.endpoint, "RETRIEVAL_STORE": f"s3://{bucket}/shards"}),
            ("llm", "extractive", base),
        ]
        print_header(["service", "configuration", "median s", "max s"])
        for name, configuration, env in cases:
            seconds = [time_to_serving(name, env, Path(root)) for _ in range(runs)]
            print_row([name, configuration, f"{statistics.median(seconds):.2f}", f"{max(seconds):.2f}"])
    loads = [torch_embedder_load_seconds() for _ in range(runs)]
    print_row(["(before)", "torch + sentence-transformers import and MiniLM load alone", f"{statistics.median(loads):.2f}", f"{max(loads):.2f}"])


def bench_replica_killed(s3: S3Server, calls: int) -> None:
    print(f"\nOne of two replicas killed (SIGKILL) during {calls} calls of 3 turns (round robin over both, one retry)\n")
    bucket = s3.create_bucket(f"bench-{uuid.uuid4().hex[:12]}")
    with tempfile.TemporaryDirectory() as root:
        replicas = start_replicas(s3, bucket, Path(root))
        try:
            with grpc.insecure_channel(replicas[0].address) as channel:
                retrieval_pb2_grpc.RetrievalStub(channel).Ingest(ingest_requests("acme", sample_documents()), metadata=ADMIN, timeout=120)
            outcome = calls_while_a_replica_dies(replicas, calls=calls, turns=3)
        finally:
            for replica in replicas:
                replica.stop()
    print_header(["calls", "turns", "answered", "answered after the kill", "failed turns"])
    print_row([str(calls), str(calls * 3), str(outcome.answered), str(outcome.answered_after_the_kill), str(len(outcome.failures))])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000", help="shard sizes for the cold-load rows")
    parser.add_argument("--freshness-rounds", type=int, default=5)
    parser.add_argument("--refresh-seconds", type=float, default=5.0, help="RETRIEVAL_REFRESH_SECONDS (the default is 5)")
    parser.add_argument("--start-up-runs", type=int, default=3)
    parser.add_argument("--calls", type=int, default=50)
    options = parser.parse_args()
    # The store clients in this process sign with the test credentials, which only ever reach moto.
    os.environ.update(CREDENTIALS)
    s3 = S3Server().start()
    try:
        bench_cold_loads(s3, [int(size) for size in options.sizes.split(",")])
        bench_freshness(s3, options.freshness_rounds, options.refresh_seconds)
        bench_start_up(s3, options.start_up_runs)
        bench_replica_killed(s3, options.calls)
    finally:
        s3.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
