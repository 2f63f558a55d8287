"""The services on their vendor backends, as real processes against local vendor-API servers.

Each also shows that a provider outage is UNAVAILABLE with a logged reason,
and that the service keeps serving once the provider is back.
"""

from __future__ import annotations

import grpc
import pytest

from services.cli.launcher import ServiceProcess
from services.common import audio
from services.common.generated.voiceagent.v1 import (
    common_pb2,
    llm_pb2,
    llm_pb2_grpc,
    stt_pb2,
    stt_pb2_grpc,
    tts_pb2,
    tts_pb2_grpc,
)
from tests.conftest import copy_sample_org
from tests.speech import spoken_mulaw

pytestmark = pytest.mark.slow


def start(name: str, tmp_path, **env: str) -> ServiceProcess:
    copy_sample_org(tmp_path / "data")
    env = {"VOICEAGENT_DATA_DIR": str(tmp_path / "data"), "RETRIEVAL_ALLOW_OPEN_WRITES": "true", **env}
    return ServiceProcess(name, env, tmp_path / f"{name}.log").start().wait_serving()


def outage_then_recovery(call, provider, log_source: ServiceProcess):
    provider.fail_with = 503
    with pytest.raises(grpc.RpcError) as error:
        call()
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert '"event": "request.failed"' in log_source.log_tail(100)
    provider.fail_with = None
    return call()


def test_stt_on_openai_whisper(tmp_path, fake_openai):
    service = start("stt", tmp_path, STT_BACKEND="openai", OPENAI_API_KEY=fake_openai.api_key, OPENAI_BASE_URL=fake_openai.base_url)
    speech = spoken_mulaw("What time do you open on Saturday?")
    seconds = len(speech) / 8000
    request = stt_pb2.TranscribeRequest(org_id="acme", audio=speech, format=common_pb2.AudioFormat(encoding=audio.MULAW, sample_rate_hz=8000))
    try:
        with grpc.insecure_channel(service.address) as channel:
            stub = stt_pb2_grpc.SpeechToTextStub(channel)
            transcript = stub.Transcribe(request, timeout=20)
            assert transcript.text == fake_openai.transcript
            assert transcript.usage.provider == "openai" and transcript.usage.estimated_cost_usd == pytest.approx(seconds * 0.006 / 60)
            assert outage_then_recovery(lambda: stub.Transcribe(request, timeout=20), fake_openai, service).text == fake_openai.transcript
    finally:
        service.stop()


def test_llm_on_openai_chat_with_streaming(tmp_path, fake_openai):
    service = start("llm", tmp_path, LLM_BACKEND="openai", OPENAI_API_KEY=fake_openai.api_key, OPENAI_BASE_URL=fake_openai.base_url, OPENAI_CHAT_MODEL="gpt-4o")
    request = llm_pb2.GenerateRequest(
        org_id="acme", question="When do you open on Saturday?", context=[llm_pb2.ContextChunk(text="Saturday 10 to 4.", chunk_id="h#0")]
    )
    try:
        with grpc.insecure_channel(service.address) as channel:
            stub = llm_pb2_grpc.GenerationStub(channel)
            answer = stub.Generate(request, timeout=20)
            assert answer.text == "Sure! We open at ten on Saturdays. Closing is at four."
            assert answer.model == "gpt-4o" and answer.usage.quantity == 138
            assert answer.usage.estimated_cost_usd == pytest.approx(138 * 0.03 / 1000)
            deltas = list(stub.StreamGenerate(request, timeout=20))
            assert len(deltas) > 5 and deltas[-1].done and deltas[-1].response.text == answer.text
            recovered = outage_then_recovery(lambda: list(stub.StreamGenerate(request, timeout=20)), fake_openai, service)
            assert recovered[-1].done
    finally:
        service.stop()


def test_tts_on_polly(tmp_path, fake_polly):
    service = start(
        "tts", tmp_path, TTS_BACKEND="polly", POLLY_ENDPOINT_URL=fake_polly.endpoint_url, POLLY_VOICE="Ruth",
        AWS_ACCESS_KEY_ID="test-access-key", AWS_SECRET_ACCESS_KEY="test-secret-key",
    )
    request = tts_pb2.SynthesizeRequest(org_id="acme", text="We open at 10:00 am.", format=common_pb2.AudioFormat(encoding=audio.MULAW))
    try:
        with grpc.insecure_channel(service.address) as channel:
            stub = tts_pb2_grpc.TextToSpeechStub(channel)
            response = stub.Synthesize(request, timeout=20)
            spoken = "We open at ten A M."  # what Polly was asked to say, after normalisation
            assert fake_polly.requests[-1]["body"]["Text"] == spoken and fake_polly.requests[-1]["body"]["VoiceId"] == "Ruth"
            assert response.format.sample_rate_hz == 8000 and len(response.audio) == pytest.approx(len(spoken) * 0.02 * 8000, abs=2)
            assert response.voice == "Ruth" and response.usage.provider == "polly"
            assert response.usage.estimated_cost_usd == pytest.approx(len(spoken) * 0.000004)
            assert outage_then_recovery(lambda: stub.Synthesize(request, timeout=20), fake_polly, service).audio
    finally:
        service.stop()
