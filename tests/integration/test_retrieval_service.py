"""The retrieval service over real gRPC: contract, errors, ingestion and concurrency."""

from __future__ import annotations

import json
import threading
import urllib.request

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.common.generated.voiceagent.v1 import retrieval_pb2 as pb
from services.retrieval.ingest import Chunk
from services.retrieval.shard import DocumentRecord, DocumentUpdate, OrgShard
from services.retrieval.stores.file import FileShardStore
from tests.integration.conftest import ADMIN, MAX_DOCUMENT_BYTES, ingest_requests, sample_documents
from tests.unit.test_extraction import SAMPLE_PDF, encrypted_pdf

pytestmark = pytest.mark.slow


def test_health_reports_serving_for_the_server_and_the_service(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "voiceagent.v1.Retrieval"):
        assert health.Check(health_pb2.HealthCheckRequest(service=service)).status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_retrieval_service(channel):
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    [reply] = list(reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {service.name for service in reply.list_services_response.service}
    assert {"voiceagent.v1.Retrieval", "grpc.health.v1.Health"} <= names


def test_ingesting_the_sample_org_indexes_every_document(acme_ingested):
    assert acme_ingested.documents_ingested == 5 and acme_ingested.documents_failed == 0
    assert all(result.ok and result.chunks > 0 for result in acme_ingested.results)
    assert acme_ingested.shard.chunks == acme_ingested.chunks_added == sum(r.chunks for r in acme_ingested.results)
    assert acme_ingested.shard.embedder == "local:all-MiniLM-L6-v2" and acme_ingested.shard.dimension == 384


@pytest.mark.parametrize(
    "question,document,fact",
    [
        ("What time do you open on Saturday?", "opening-hours.md", "Saturday from 10:00 am to 4:00 pm"),
        ("How much does a basic tune-up cost?", "price-list.pdf", "tune-up costs 75 dollars"),
        ("Where is the shop, what is the address?", "location.html", "1200 Southeast Hawthorne Boulevard"),
        ("Can I return something I bought?", "policies.txt", "returned within 30 days"),
    ],
)
def test_search_finds_the_passage_that_answers(stub, acme_ingested, question, document, fact):
    response = stub.Search(pb.SearchRequest(org_id="acme", query=question, top_k=3), timeout=10)
    assert len(response.hits) == 3
    assert response.hits[0].document == document
    assert any(fact in hit.text for hit in response.hits)
    assert response.hits[0].chunk_id == f"{document}#{response.hits[0].position}"
    assert all(hit.block_type in ("paragraph", "faq", "list_item", "table_row", "code") for hit in response.hits)
    assert all(hit.heading_path and -1.0 <= hit.score <= 1.0 for hit in response.hits)


def test_search_reports_words_the_documents_never_use(stub, acme_ingested):
    response = stub.Search(pb.SearchRequest(org_id="acme", query="Hey, can I pay with Venmo?", top_k=3), timeout=10)
    assert list(response.unknown_terms) == ["venmo"]
    assert not stub.Search(pb.SearchRequest(org_id="acme", query="Can I pay by card?", top_k=3), timeout=10).unknown_terms


def test_top_k_zero_uses_the_org_default_and_min_score_filters(stub, acme_ingested):
    assert len(stub.Search(pb.SearchRequest(org_id="acme", query="rentals"), timeout=10).hits) == 4
    filtered = stub.Search(pb.SearchRequest(org_id="acme", query="rentals", top_k=20, min_score=0.3), timeout=10)
    assert filtered.hits and all(hit.score >= 0.3 for hit in filtered.hits) and len(filtered.hits) < 20


def error_of(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        call(*args, **kwargs)
    return error.value


def test_unknown_org_gets_not_found(stub):
    error = error_of(stub.Search, pb.SearchRequest(org_id="nobody", query="hours"), timeout=10)
    assert error.code() == grpc.StatusCode.NOT_FOUND and "nobody" in error.details()
    assert error_of(stub.DescribeShard, pb.DescribeShardRequest(org_id="nobody")).code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    "request_,detail",
    [
        (pb.SearchRequest(org_id="acme", query="   "), "query is empty"),
        (pb.SearchRequest(org_id="acme", query="hours", top_k=-1), "top_k"),
        (pb.SearchRequest(org_id="acme", query="hours", top_k=101), "top_k"),
        (pb.SearchRequest(org_id="../acme", query="hours"), "invalid org id"),
        (pb.SearchRequest(org_id="acme", query="x" * 2001), "longer than"),
    ],
)
def test_bad_search_requests_get_invalid_argument(stub, request_, detail):
    error = error_of(stub.Search, request_, timeout=10)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and detail in error.details()


def test_an_org_with_nothing_ingested_finds_nothing(stub):
    assert list(stub.Search(pb.SearchRequest(org_id="gamma", query="hours"), timeout=10).hits) == []
    shard = stub.DescribeShard(pb.DescribeShardRequest(org_id="gamma"))
    assert (shard.chunks, shard.version, shard.updated_at) == (0, 0, "")


def test_bad_documents_get_their_own_error_and_the_rest_are_ingested(stub):
    documents = {
        "hours.txt": b"The beta shop opens at 8:00 am every weekday.",
        "corrupt.pdf": SAMPLE_PDF[: len(SAMPLE_PDF) // 3],
        "locked.pdf": encrypted_pdf("hunter2"),
        "junk.txt": bytes(range(256)) * 8,
        "slides.pptx": b"PK\x03\x04",
        "empty.md": b"",
        "huge.txt": b"All work and no play. " * (MAX_DOCUMENT_BYTES // 20),
    }
    response = stub.Ingest(ingest_requests("beta", documents), metadata=ADMIN, timeout=60)
    results = {result.name: result for result in response.results}
    assert list(results) == list(documents)
    assert results["hours.txt"].ok and results["hours.txt"].chunks == 1
    assert "corrupt or unreadable PDF" in results["corrupt.pdf"].error
    assert "encrypted" in results["locked.pdf"].error
    assert "binary" in results["junk.txt"].error
    assert "unsupported document type" in results["slides.pptx"].error
    assert "empty" in results["empty.md"].error
    assert f"larger than the limit of {MAX_DOCUMENT_BYTES} bytes" in results["huge.txt"].error
    assert (response.documents_ingested, response.documents_failed) == (1, 6)
    hits = stub.Search(pb.SearchRequest(org_id="beta", query="when does it open", top_k=1), timeout=10).hits
    assert hits[0].document == "hours.txt"


def test_reingesting_a_document_replaces_its_chunks(stub, acme_ingested):
    before = stub.DescribeShard(pb.DescribeShardRequest(org_id="acme"))
    new_hours = b"# Opening hours\n\nFrom December we open on Sundays too, from 11:00 am to 3:00 pm."
    response = stub.Ingest(ingest_requests("acme", {"opening-hours.md": new_hours}), metadata=ADMIN, timeout=60)
    old_chunks = next(r.chunks for r in acme_ingested.results if r.name == "opening-hours.md")
    assert (response.chunks_added, response.chunks_removed) == (1, old_chunks)
    assert response.shard.chunks == before.chunks - old_chunks + 1
    assert response.shard.version == before.version + 1
    hits = stub.Search(pb.SearchRequest(org_id="acme", query="Are you open on Sunday?", top_k=10), timeout=10).hits
    hour_hits = [hit for hit in hits if hit.document == "opening-hours.md"]
    assert len(hour_hits) == 1 and "open on Sundays too" in hour_hits[0].text
    # Put the original back for the other tests.
    stub.Ingest(ingest_requests("acme", {"opening-hours.md": sample_documents()["opening-hours.md"]}), metadata=ADMIN)


def test_list_delete_and_describe_documents(stub, acme_ingested):
    listed = stub.ListDocuments(pb.ListDocumentsRequest(org_id="acme"), timeout=10).documents
    assert [document.name for document in listed] == sorted(sample_documents())
    assert all(len(document.sha256) == 64 and document.chunks > 0 for document in listed)
    policies = next(document for document in listed if document.name == "policies.txt")
    deleted = stub.DeleteDocument(pb.DeleteDocumentRequest(org_id="acme", document="policies.txt"), metadata=ADMIN)
    assert deleted.chunks_removed == policies.chunks
    hits = stub.Search(pb.SearchRequest(org_id="acme", query="refund policy", top_k=20), timeout=10).hits
    assert "policies.txt" not in {hit.document for hit in hits}
    missing = error_of(stub.DeleteDocument, pb.DeleteDocumentRequest(org_id="acme", document="policies.txt"), metadata=ADMIN)
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    stub.Ingest(ingest_requests("acme", {"policies.txt": sample_documents()["policies.txt"]}), metadata=ADMIN)
    shard = stub.DescribeShard(pb.DescribeShardRequest(org_id="acme"))
    assert shard.documents == 5 and shard.index_type == "flat" and shard.updated_at.endswith("Z")


def test_writes_need_the_admin_token_and_search_does_not(stub, acme_ingested):
    for metadata in ([], [("authorization", "Bearer wrong")], [("authorization", "s3cret-admin-token")]):
        error = error_of(stub.Ingest, ingest_requests("acme", {"x.txt": b"Sneaky text."}), metadata=metadata)
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED and "RETRIEVAL_ADMIN_TOKEN" in error.details()
        delete = error_of(stub.DeleteDocument, pb.DeleteDocumentRequest(org_id="acme", document="services.md"), metadata=metadata)
        assert delete.code() == grpc.StatusCode.UNAUTHENTICATED
    assert stub.Search(pb.SearchRequest(org_id="acme", query="hours"), timeout=10).hits
    names = [d.name for d in stub.ListDocuments(pb.ListDocumentsRequest(org_id="acme")).documents]
    assert "x.txt" not in names and "services.md" in names


def test_a_shard_built_with_another_embedder_is_refused_with_a_rebuild_hint(stub, data_dir):
    dimension = 8
    vectors = np.eye(dimension, dtype=np.float32)[:1]
    record = DocumentRecord("old.txt", "0" * 64, 9, 1, "2026-01-01T00:00:00Z")
    shard = OrgShard.empty("gamma", "openai:text-embedding-3-small", dimension).with_documents(
        [DocumentUpdate(record, [Chunk("old.txt", 0, "old text.")], vectors)], 1000
    )
    FileShardStore(data_dir / "gamma" / "vector_store").write(shard)
    # gamma's empty shard was not cached earlier, so the service loads this one.
    error = error_of(stub.Search, pb.SearchRequest(org_id="gamma", query="hours"), timeout=10)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "openai:text-embedding-3-small" in error.details() and "--rebuild" in error.details()
    refused = error_of(stub.Ingest, ingest_requests("gamma", {"new.txt": b"New text."}), metadata=ADMIN)
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert stub.DescribeShard(pb.DescribeShardRequest(org_id="gamma")).embedder == "openai:text-embedding-3-small"
    rebuilt = stub.Ingest(ingest_requests("gamma", {"new.txt": b"New text about hours."}, rebuild=True), metadata=ADMIN)
    assert rebuilt.shard.embedder == "local:all-MiniLM-L6-v2" and rebuilt.shard.chunks == 1
    assert rebuilt.shard.version == shard.version + 1
    assert stub.Search(pb.SearchRequest(org_id="gamma", query="hours"), timeout=10).hits[0].document == "new.txt"


def test_concurrent_searches_during_reingestion_all_succeed(stub, acme_ingested):
    documents = sample_documents()
    documents.update({f"extra-{i}.txt": (f"Extra note {i}. " * 300).encode() for i in range(6)})
    failures: list[BaseException] = []
    answered = []
    ingesting = threading.Event()

    def search_loop():
        while not ingesting.is_set():
            try:
                hits = stub.Search(pb.SearchRequest(org_id="acme", query="opening hours on Saturday", top_k=3), timeout=10).hits
                answered.append(hits[0].document)
            except BaseException as exc:  # noqa: BLE001 - every failure is reported
                failures.append(exc)

    threads = [threading.Thread(target=search_loop) for _ in range(4)]
    for thread in threads:
        thread.start()
    response = stub.Ingest(ingest_requests("acme", documents), metadata=ADMIN, timeout=120)
    ingesting.set()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(answered) >= 8 and set(answered) == {"opening-hours.md"}
    assert response.documents_ingested == len(documents)
    for name in [n for n in documents if n.startswith("extra-")]:
        stub.DeleteDocument(pb.DeleteDocumentRequest(org_id="acme", document=name), metadata=ADMIN)


def test_metrics_count_requests_by_method_and_code(retrieval, stub, acme_ingested):
    stub.Search(pb.SearchRequest(org_id="acme", query="hours"), timeout=10)
    error_of(stub.Search, pb.SearchRequest(org_id="nobody", query="hours"), timeout=10)
    text = urllib.request.urlopen(retrieval.metrics_url, timeout=5).read().decode()
    assert 'voiceagent_grpc_server_requests_total{code="OK",method="Search",service="retrieval"}' in text
    assert 'voiceagent_grpc_server_requests_total{code="NOT_FOUND",method="Search",service="retrieval"}' in text
    assert 'voiceagent_grpc_server_request_duration_seconds_bucket{code="OK",le="0.001",method="Search",service="retrieval"}' in text
    assert "voiceagent_retrieval_embed_duration_seconds_count" in text
    assert 'voiceagent_retrieval_documents_ingested_total{outcome="failed"}' in text


def test_logs_carry_the_call_id_and_never_the_callers_number(retrieval, stub):
    error = error_of(
        stub.Search, pb.SearchRequest(org_id="+14155550123", query="hours"), metadata=[("x-call-sid", "CAlogtest42")]
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    lines = [line for line in retrieval.log_tail(400).splitlines() if "CAlogtest42" in line]
    assert lines, "no log line carried the call id"
    entry = json.loads(lines[-1])
    assert entry["event"] == "request.failed" and entry["code"] == "INVALID_ARGUMENT"
    assert "[phone]" in entry["error"]
    assert "4155550123" not in retrieval.log_tail(400)
