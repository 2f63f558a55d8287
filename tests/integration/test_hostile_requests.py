"""Requests built to make logging the bottleneck are refused, and the service stays responsive.

Regression tests for the hardening issue's first defect: an unsigned webhook
field, a query string or an invalid org id of tens or hundreds of kilobytes
used to freeze a service for seconds to minutes inside log redaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import httpx
import pytest

from services.cli.launcher import GatewayProcess, free_port
from services.common.generated.voiceagent.v1 import retrieval_pb2 as pb
from tests.conftest import copy_sample_org

pytestmark = pytest.mark.slow

# A log line may carry a few capped fields and a capped traceback, never the request's payload.
MAX_LOG_LINE_CHARS = 16_000


def assert_log_lines_bounded(log_text: str) -> None:
    lines = log_text.splitlines()
    assert lines and all(len(line) < MAX_LOG_LINE_CHARS for line in lines), max(map(len, lines))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[GatewayProcess]:
    data_dir = tmp_path_factory.mktemp("data")
    copy_sample_org(data_dir)
    nowhere = f"127.0.0.1:{free_port()}"
    env = {"VOICEAGENT_DATA_DIR": str(data_dir), "TWILIO_AUTH_TOKEN": "token",
           **{f"{name}_ADDR": nowhere for name in ("STT", "RETRIEVAL", "LLM", "TTS")}}
    process = GatewayProcess(env, tmp_path_factory.mktemp("logs") / "gateway.log").start().wait_serving()
    yield process
    process.stop()


def test_an_unsigned_webhook_with_a_huge_field_is_refused_and_logged_briefly(gateway):
    with httpx.Client(base_url=gateway.address, timeout=30) as client:
        reply = client.post("/voice/inbound", data={"CallSid": "CA1", "From": "A" * 900_000, "To": "+14155550100"})
        assert reply.status_code == 403
        assert client.get("/healthz", timeout=5).status_code == 200
    rejected = [json.loads(line) for line in gateway.log_path.read_text().splitlines() if "webhook.rejected" in line]
    assert rejected and rejected[-1]["caller"].endswith("more characters]")
    assert_log_lines_bounded(gateway.log_path.read_text())


def test_a_huge_query_string_is_answered_and_logged_briefly(gateway):
    with httpx.Client(base_url=gateway.address, timeout=30) as client:
        assert client.get("/nope?" + "q" * 40_000).status_code in (400, 404, 414, 431)
        assert client.get("/healthz", timeout=5).status_code == 200
    assert_log_lines_bounded(gateway.log_path.read_text())


def test_a_huge_org_id_gets_a_short_invalid_argument(retrieval, stub):
    with pytest.raises(grpc.RpcError) as caught:
        stub.Search(pb.SearchRequest(org_id="A" * 40_000, query="opening hours"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid org id" in caught.value.details() and len(caught.value.details()) < 300
    assert_log_lines_bounded(retrieval.log_path.read_text())
