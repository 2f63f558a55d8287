"""Real retrieval processes on free ports, called over gRPC like any client would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from services.cli.launcher import ServiceProcess
from services.common.generated.voiceagent.v1 import retrieval_pb2 as pb
from services.common.generated.voiceagent.v1 import retrieval_pb2_grpc
from tests.conftest import SAMPLE_ORG, copy_sample_org

ADMIN_TOKEN = "s3cret-admin-token"
MAX_DOCUMENT_BYTES = 1_000_000
ADMIN = [("authorization", f"Bearer {ADMIN_TOKEN}")]


def start_retrieval(data_dir: Path, log_dir: Path, **env: str) -> ServiceProcess:
    settings = {"VOICEAGENT_DATA_DIR": str(data_dir), "RETRIEVAL_ADMIN_TOKEN": ADMIN_TOKEN, **env}
    service = ServiceProcess("retrieval", settings, log_path=log_dir / "retrieval.log")
    return service.start().wait_serving()


def ingest_requests(org_id: str, documents: dict[str, bytes], rebuild: bool = False, piece: int = 4096):
    yield pb.IngestRequest(org_id=org_id, options=pb.IngestOptions(rebuild=rebuild))
    for name, data in documents.items():
        yield pb.IngestRequest(document=pb.DocumentStart(name=name))
        for start in range(0, len(data), piece):
            yield pb.IngestRequest(data=data[start : start + piece])


def sample_documents() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((SAMPLE_ORG / "knowledge").iterdir())}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    for org in ("acme", "beta", "gamma"):
        copy_sample_org(root, org)
    return root


@pytest.fixture(scope="module")
def retrieval(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    service = start_retrieval(data_dir, tmp_path_factory.mktemp("logs"), RETRIEVAL_MAX_DOCUMENT_BYTES=str(MAX_DOCUMENT_BYTES))
    yield service
    service.stop()


@pytest.fixture(scope="module")
def channel(retrieval: ServiceProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(retrieval.address) as channel:
        yield channel


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> retrieval_pb2_grpc.RetrievalStub:
    return retrieval_pb2_grpc.RetrievalStub(channel)


@pytest.fixture(scope="module")
def acme_ingested(stub: retrieval_pb2_grpc.RetrievalStub) -> pb.IngestResponse:
    return stub.Ingest(ingest_requests("acme", sample_documents()), metadata=ADMIN, timeout=120)
