"""Retrieval replicas sharing one bucket, and clients that reach them as the cluster's do (used by the replica
tests and `bench/retrieval_store_bench.py`)."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from services.cli.launcher import ServiceProcess
from services.common.generated.voiceagent.v1 import retrieval_pb2 as pb
from services.common.generated.voiceagent.v1 import retrieval_pb2_grpc
from tests.conftest import copy_sample_org
from tests.integration.conftest import start_retrieval
from tests.s3_server import S3Server

REFRESH_SECONDS = 1.0
QUESTION = pb.SearchRequest(org_id="acme", query="What time do you open on Saturday?", top_k=3)


def start_replicas(s3: S3Server, bucket: str, root: Path, count: int = 2, refresh_seconds: float = REFRESH_SECONDS) -> list[ServiceProcess]:
    """`count` retrieval processes on the bucket, each with its own local cache, sharing one data directory of
    org configs (as pods share the org ConfigMap)."""
    data_dir = root / "data"
    if not data_dir.exists():
        copy_sample_org(data_dir)
    env = {**s3.env, "RETRIEVAL_STORE": f"s3://{bucket}/shards", "RETRIEVAL_REFRESH_SECONDS": str(refresh_seconds)}
    logs = [root / f"replica-{uuid.uuid4().hex[:6]}" for _ in range(count)]
    for directory in logs:
        directory.mkdir()
    return [start_retrieval(data_dir, directory, RETRIEVAL_CACHE_DIR=str(directory / "cache"), **env) for directory in logs]


def balanced_channel(replicas: list[ServiceProcess]) -> grpc.Channel:
    """One channel over every replica with gRPC's round robin: what `dns:///retrieval-headless` gives in a cluster."""
    addresses = ",".join(replica.address for replica in replicas)
    return grpc.insecure_channel(f"ipv4:{addresses}", options=[("grpc.lb_policy_name", "round_robin"),
                                                               ("grpc.max_reconnect_backoff_ms", 1000)])


def call_with_retry(method, request, timeout: float = 3.0):
    """As the gateway calls: one deadline for the stage, a call refused with UNAVAILABLE tried once more."""
    deadline = time.monotonic() + timeout
    for attempt in range(2):
        try:
            return method(request, timeout=max(0.001, deadline - time.monotonic()))
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE or attempt == 1:
                raise
    raise AssertionError("unreachable")


@dataclass
class CallsOutcome:
    answered: int = 0
    answered_with_hits: int = 0
    answered_after_the_kill: int = 0
    failures: list[str] = field(default_factory=list)


def calls_while_a_replica_dies(replicas: list[ServiceProcess], calls: int, turns: int, concurrency: int = 10) -> CallsOutcome:
    """`calls` callers searching once per turn (0.2 s apart), `concurrency` at a time, through one balanced
    channel; the first replica is killed (SIGKILL) once a fifth of the turns were answered."""
    outcome = CallsOutcome()
    killed = threading.Event()
    lock = threading.Lock()
    with balanced_channel(replicas) as channel:
        stub = retrieval_pb2_grpc.RetrievalStub(channel)

        def call(number: int) -> None:
            for turn in range(turns):
                try:
                    hits = call_with_retry(stub.Search, QUESTION).hits
                    with lock:
                        outcome.answered += 1
                        outcome.answered_with_hits += bool(hits)
                        outcome.answered_after_the_kill += killed.is_set()
                except grpc.RpcError as error:
                    with lock:
                        outcome.failures.append(f"call {number} turn {turn}: {error.code().name} {error.details()}")
                time.sleep(0.2)

        with ThreadPoolExecutor(concurrency) as pool:
            futures = [pool.submit(call, number) for number in range(calls)]
            while outcome.answered + len(outcome.failures) < calls * turns // 5:
                time.sleep(0.02)
            replicas[0].kill()
            killed.set()
            for future in futures:
                future.result()
    return outcome
