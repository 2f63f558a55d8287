"""Retrieval replicas sharing one S3 bucket (moto's S3 server), as real processes called over gRPC.

Clients reach the replicas the way the cluster's do: one channel over every
replica's address with gRPC's round-robin policy, a refused call retried once
on another replica within the stage deadline (what the gateway does).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from services.cli.launcher import ServiceProcess
from services.common.generated.voiceagent.v1 import retrieval_pb2 as pb
from services.common.generated.voiceagent.v1 import retrieval_pb2_grpc
from tests.integration.conftest import ADMIN, ingest_requests, sample_documents
from tests.integration.replicas import QUESTION, REFRESH_SECONDS, calls_while_a_replica_dies, start_replicas
from tests.s3_server import S3Server

pytestmark = pytest.mark.slow

@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    return s3_server.create_bucket(f"shards-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def replicas(s3_server: S3Server, bucket: str, tmp_path: Path) -> Iterator[list[ServiceProcess]]:
    started = start_replicas(s3_server, bucket, tmp_path)
    yield started
    for replica in started:
        replica.stop()


def stub_of(replica: ServiceProcess, channels: list[grpc.Channel]) -> retrieval_pb2_grpc.RetrievalStub:
    channel = grpc.insecure_channel(replica.address)
    channels.append(channel)
    return retrieval_pb2_grpc.RetrievalStub(channel)


@pytest.fixture
def stubs(replicas: list[ServiceProcess]) -> Iterator[list[retrieval_pb2_grpc.RetrievalStub]]:
    channels: list[grpc.Channel] = []
    yield [stub_of(replica, channels) for replica in replicas]
    for channel in channels:
        channel.close()


def test_a_document_ingested_through_one_replica_is_found_through_the_other_within_the_refresh_bound(stubs):
    first, second = stubs
    first.Ingest(ingest_requests("acme", sample_documents()), metadata=ADMIN, timeout=120)
    assert second.Search(QUESTION, timeout=30).hits  # the second replica now has the shard loaded
    note = {"bike-wash.txt": b"Bike wash: we clean your bicycle with biodegradable soap for twelve dollars."}
    first.Ingest(ingest_requests("acme", note), metadata=ADMIN, timeout=60)
    published = time.monotonic()
    question = pb.SearchRequest(org_id="acme", query="how much is a bike wash", top_k=1)
    while second.Search(question, timeout=5).hits[0].document != "bike-wash.txt":
        assert time.monotonic() - published < 10, "never became searchable on the other replica"
        time.sleep(0.05)
    assert time.monotonic() - published <= REFRESH_SECONDS + 1.0


def test_concurrent_ingests_through_both_replicas_both_land(stubs):
    first, second = stubs
    batches = [{f"notes-{side}-{n}.txt": f"Note {n} from side {side}: the shop lends pumps.".encode() for n in range(3)}
               for side in ("a", "b")]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda pair: pair[0].Ingest(ingest_requests("acme", pair[1]), metadata=ADMIN, timeout=120),
                                zip(stubs, batches)))
    assert all(result.documents_ingested == 3 for result in results)
    expected = sorted(name for batch in batches for name in batch)
    for stub in (first, second):
        deadline = time.monotonic() + REFRESH_SECONDS + 5
        while sorted(d.name for d in stub.ListDocuments(pb.ListDocumentsRequest(org_id="acme")).documents) != expected:
            assert time.monotonic() < deadline, "a concurrent ingest was lost"
            time.sleep(0.1)


def test_warm_loads_the_shard_on_a_replica_that_has_not_served_the_org(stubs):
    first, second = stubs
    first.Ingest(ingest_requests("acme", sample_documents()), metadata=ADMIN, timeout=120)
    warmed = second.Warm(pb.WarmRequest(org_id="acme"), timeout=30)
    assert (warmed.already_loaded, warmed.shard.documents) == (False, len(sample_documents()))
    assert second.Warm(pb.WarmRequest(org_id="acme"), timeout=5).already_loaded
    error = pytest.raises(grpc.RpcError, second.Warm, pb.WarmRequest(org_id="nobody"), timeout=5).value
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_a_damaged_version_is_data_loss_on_a_fresh_replica_while_a_loaded_one_keeps_serving(s3_server, bucket, tmp_path, replicas, stubs):
    first, _ = stubs
    first.Ingest(ingest_requests("acme", sample_documents()), metadata=ADMIN, timeout=120)
    assert first.Search(QUESTION, timeout=30).hits
    note = {"bike-wash.txt": b"Bike wash: we clean your bicycle with biodegradable soap for twelve dollars."}
    second_version = first.Ingest(ingest_requests("acme", note), metadata=ADMIN, timeout=60).shard.version
    client = s3_server.client()
    [vectors] = [key for key in s3_server.keys(bucket, f"shards/acme/v{second_version:08d}") if key.endswith("vectors.npy")]
    body = bytearray(client.get_object(Bucket=bucket, Key=vectors)["Body"].read())
    body[-8:] = b"\x00" * 8
    client.put_object(Bucket=bucket, Key=vectors, Body=bytes(body))
    # The replica that wrote it keeps serving from memory; a replica that must fetch it refuses to serve it.
    [fresh] = start_replicas(s3_server, bucket, tmp_path, count=1)
    try:
        with grpc.insecure_channel(fresh.address) as channel:
            error = pytest.raises(grpc.RpcError, retrieval_pb2_grpc.RetrievalStub(channel).Search, QUESTION, timeout=30).value
        assert error.code() == grpc.StatusCode.DATA_LOSS and "checksum" in error.details()
    finally:
        fresh.stop()
    assert first.Search(QUESTION, timeout=10).hits


def test_killing_a_replica_during_fifty_calls_costs_no_turn(s3_server, bucket, tmp_path):
    replicas = start_replicas(s3_server, bucket, tmp_path)
    try:
        with grpc.insecure_channel(replicas[0].address) as channel:
            retrieval_pb2_grpc.RetrievalStub(channel).Ingest(ingest_requests("acme", sample_documents()), metadata=ADMIN, timeout=120)
        outcome = calls_while_a_replica_dies(replicas, calls=50, turns=3)
    finally:
        for replica in replicas:
            replica.stop()
    assert outcome.failures == []
    assert outcome.answered == 150 and outcome.answered_with_hits == 150
    assert outcome.answered_after_the_kill >= 60  # plenty of turns were answered by the survivor alone
