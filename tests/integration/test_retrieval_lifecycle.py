"""Process lifecycle: a killed ingestion loses nothing, SIGTERM drains in-flight calls."""

from __future__ import annotations

import signal
import threading
import time
import urllib.request

import grpc
import pytest

from services.common.generated.voiceagent.v1 import retrieval_pb2 as pb
from services.common.generated.voiceagent.v1 import retrieval_pb2_grpc
from tests.conftest import copy_sample_org
from tests.integration.conftest import ADMIN, ingest_requests, sample_documents, start_retrieval

pytestmark = pytest.mark.slow

QUESTION = pb.SearchRequest(org_id="acme", query="What time do you open on Saturday?", top_k=3)


def large_batch(count: int = 40) -> dict[str, bytes]:
    """Enough text that embedding it takes seconds, so signals land mid-ingestion."""
    return {
        f"manual-{i:02d}.txt": "\n\n".join(
            f"Manual {i} section {s}: the derailleur of model {i} needs adjusting every {s} months." for s in range(120)
        ).encode()
        for i in range(count)
    }


def ingest_in_background(address: str, documents: dict[str, bytes]) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        with grpc.insecure_channel(address) as channel:
            try:
                outcome["response"] = retrieval_pb2_grpc.RetrievalStub(channel).Ingest(
                    ingest_requests("acme", documents), metadata=ADMIN, timeout=120
                )
            except grpc.RpcError as error:
                outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_killing_the_process_during_ingestion_leaves_the_previous_shard_searchable(tmp_path):
    data_dir = tmp_path / "data"
    copy_sample_org(data_dir)
    service = start_retrieval(data_dir, tmp_path)
    try:
        with grpc.insecure_channel(service.address) as channel:
            first = retrieval_pb2_grpc.RetrievalStub(channel).Ingest(
                ingest_requests("acme", sample_documents()), metadata=ADMIN, timeout=120
            )
        for delay in (0.5, 2.0):
            thread, outcome = ingest_in_background(service.address, large_batch())
            time.sleep(delay)
            service.kill()
            thread.join()
            assert outcome["error"].code() == grpc.StatusCode.UNAVAILABLE
            service = start_retrieval(data_dir, tmp_path)
            with grpc.insecure_channel(service.address) as channel:
                stub = retrieval_pb2_grpc.RetrievalStub(channel)
                shard = stub.DescribeShard(pb.DescribeShardRequest(org_id="acme"))
                assert (shard.version, shard.chunks) == (first.shard.version, first.shard.chunks)
                assert stub.Search(QUESTION, timeout=10).hits[0].document == "opening-hours.md"
        leftovers = sorted(p.name for p in (data_dir / "acme" / "vector_store").iterdir())
        assert leftovers == ["CURRENT", f"v{first.shard.version:08d}"]
    finally:
        service.kill()


def test_sigterm_lets_an_ingestion_in_flight_finish_before_exiting(tmp_path):
    data_dir = tmp_path / "data"
    copy_sample_org(data_dir)
    service = start_retrieval(data_dir, tmp_path, RETRIEVAL_SHUTDOWN_GRACE_SECONDS="60")
    try:
        thread, outcome = ingest_in_background(service.address, large_batch(20))
        time.sleep(1.0)
        service.signal(signal.SIGTERM)
        thread.join()
        assert "error" not in outcome, outcome.get("error")
        assert outcome["response"].documents_ingested == 20
        assert service.process.wait(30) == 0
        assert '"event": "service.draining"' in service.log_tail(200)
    finally:
        service.kill()
    restarted = start_retrieval(data_dir, tmp_path)
    try:
        with grpc.insecure_channel(restarted.address) as channel:
            shard = retrieval_pb2_grpc.RetrievalStub(channel).DescribeShard(pb.DescribeShardRequest(org_id="acme"))
        assert shard.documents == 20
    finally:
        restarted.stop()


def test_the_openai_embedder_serves_through_a_compatible_server(tmp_path, fake_openai):
    data_dir = tmp_path / "data"
    copy_sample_org(data_dir)
    service = start_retrieval(
        data_dir,
        tmp_path,
        RETRIEVAL_EMBEDDER="openai",
        OPENAI_API_KEY=fake_openai.api_key,
        OPENAI_BASE_URL=fake_openai.base_url,
        OPENAI_EMBEDDING_MODEL="text-embedding-3-small",
    )
    try:
        with grpc.insecure_channel(service.address) as channel:
            stub = retrieval_pb2_grpc.RetrievalStub(channel)
            response = stub.Ingest(ingest_requests("acme", sample_documents()), metadata=ADMIN, timeout=60)
            assert response.shard.embedder == "openai:text-embedding-3-small"
            assert response.shard.dimension == 64
            hits = stub.Search(pb.SearchRequest(org_id="acme", query="bike rental prices per day", top_k=3), timeout=10).hits
            assert "price-list.pdf" in {hit.document for hit in hits}
        embedding_calls = [r for r in fake_openai.requests if r["path"] == "/v1/embeddings"]
        assert len(embedding_calls) >= 3  # warm-up, ingestion, query
        metrics = urllib.request.urlopen(service.metrics_url, timeout=5).read().decode()
        usage = 'voiceagent_provider_usage_total{org="acme",provider="openai",service="retrieval",unit="characters"}'
        assert usage in metrics
        assert 'voiceagent_provider_cost_usd_total{org="acme",provider="openai",service="retrieval"}' in metrics
    finally:
        service.stop()


def test_a_service_that_cannot_start_its_embedder_exits_with_an_error(tmp_path):
    from services.cli.launcher import ServiceProcess

    service = ServiceProcess(
        "retrieval", {"VOICEAGENT_DATA_DIR": str(tmp_path), "RETRIEVAL_EMBEDDER": "openai", "OPENAI_API_KEY": ""},
        log_path=tmp_path / "bad.log",
    ).start()
    assert service.process.wait(60) == 1
    assert "OPENAI_API_KEY" in service.log_tail(50)


def test_health_is_not_serving_until_the_embedder_answers(tmp_path, fake_openai):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from services.cli.launcher import ServiceProcess

    # The local model now loads in about a second, so the start-up is held open by an embedding provider that
    # does not answer the warm-up until the test has seen the service report NOT_SERVING.
    fake_openai.answering.clear()
    env = {"VOICEAGENT_DATA_DIR": str(tmp_path), "RETRIEVAL_EMBEDDER": "openai", "OPENAI_API_KEY": fake_openai.api_key,
           "OPENAI_BASE_URL": fake_openai.base_url}
    service = ServiceProcess("retrieval", env, log_path=tmp_path / "r.log").start()
    statuses = []
    try:
        with grpc.insecure_channel(service.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and health_pb2.HealthCheckResponse.SERVING not in statuses:
                try:
                    reply = health.Check(health_pb2.HealthCheckRequest(service="voiceagent.v1.Retrieval"), timeout=1)
                    statuses.append(reply.status)
                except grpc.RpcError:
                    pass
                if statuses:
                    fake_openai.answering.set()
                time.sleep(0.05)
    finally:
        fake_openai.answering.set()
        service.stop()
    # The port opens before the embedder answers: the first answers are NOT_SERVING, the last SERVING.
    assert statuses[0] == health_pb2.HealthCheckResponse.NOT_SERVING
    assert statuses[-1] == health_pb2.HealthCheckResponse.SERVING
