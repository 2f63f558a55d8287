"""Calls through the gateway with every service a real process, driven exactly as Twilio drives them."""

from __future__ import annotations

import json
import secrets
import urllib.request
from collections.abc import Iterator

import grpc
import httpx
import pytest

from services.cli.call_simulator import LOCAL_ACCOUNT_SID, RecordingServer, TwimlAnswer
from services.common import audio
from services.common.generated.voiceagent.v1 import common_pb2, tts_pb2, tts_pb2_grpc
from services.gateway.idle import STILL_THERE
from services.gateway.twiml import RATE_LIMITED, UNKNOWN_NUMBER
from tests.conftest import copy_sample_org
from tests.integration.stack import AUTH_TOKEN, running_system, write_org

pytestmark = pytest.mark.slow

ACME = "+14155550100"
SAY_ORG = "+14155550111"
CALLS_PER_WINDOW = 4


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[dict]:
    data_dir = tmp_path_factory.mktemp("data")
    copy_sample_org(data_dir)
    write_org(data_dir, "sayco", SAY_ORG, speech_mode="say", twilio_voice="Polly.Matthew")
    with running_system(
        data_dir, tmp_path_factory.mktemp("logs"), GATEWAY_CALLS_PER_WINDOW=str(CALLS_PER_WINDOW), GATEWAY_CALLER_IDLE_SECONDS="4"
    ) as system:
        yield {"services": system.services, "gateway": system.gateway, "recordings": system.recordings, "sim": system.sim}


@pytest.fixture(scope="module")
def voice(stack):
    with grpc.insecure_channel(stack["services"]["tts"].address) as channel:
        stub = tts_pb2_grpc.TextToSpeechStub(channel)
        telephone = common_pb2.AudioFormat(encoding=audio.WAV, sample_rate_hz=8000)
        yield lambda text: stub.Synthesize(tts_pb2.SynthesizeRequest(text=text, format=telephone), timeout=30).audio


def silence_wav(seconds: float = 1.5) -> bytes:
    import numpy as np

    return audio.wav_bytes(audio.Audio(np.zeros(int(8000 * seconds), dtype=np.float32), 8000))


def metric(gateway, line_start: str) -> float:
    text = urllib.request.urlopen(gateway.metrics_url, timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start))


def test_a_call_with_memory_across_turns_then_goodbye(stack, voice):
    turns = [voice("What time do you open on Saturday?"), voice("And on Sundays?"), voice("No thanks, goodbye.")]
    reports = stack["sim"].call(ACME, "+15555550101", turns)
    greeting, first, second, last = reports
    assert greeting.twiml.plays and greeting.twiml.record_action.endswith("/voice/recording-callback")
    assert audio.decode(greeting.audio[0], audio.WAV).sample_rate == 8000
    assert "saturday" in first.details["transcript"].lower()
    assert "Saturday from 10:00 am to 4:00 pm" in first.details["answer"]
    assert first.details["sources"][0] == "opening-hours.md#0" and not first.details["fallbacks"]
    assert set(first.details["stage_ms"]) == {"download", "stt", "retrieval", "llm", "tts", "turn"}
    # "And on Sundays?" only makes sense with the first question in memory.
    assert "closed on Sundays" in second.details["answer"]
    assert last.twiml.hangup and not last.twiml.record_action and last.details["outcome"] == "caller_done"
    assert all(report.audio for report in reports)


def test_the_status_callback_ends_the_call(stack, voice):
    gateway = stack["gateway"]
    before = metric(gateway, 'voiceagent_gateway_calls_total{org="acme",outcome="completed"}')
    stack["sim"].call(ACME, "+15555550102", [voice("Where can I park?")])
    assert metric(gateway, 'voiceagent_gateway_calls_total{org="acme",outcome="completed"}') == before + 1
    assert metric(gateway, "voiceagent_gateway_active_calls") == 0
    assert metric(gateway, 'voiceagent_gateway_stage_duration_seconds_count{org="acme",stage="stt"}') >= 1


def inbound_params(caller: str = "+15555550103", to: str = ACME, call_sid: str = "") -> dict[str, str]:
    """A new call's inbound webhook (a new CallSid each time unless one is given)."""
    call_sid = call_sid or "CA" + secrets.token_hex(16)
    return {"AccountSid": LOCAL_ACCOUNT_SID, "CallSid": call_sid, "From": caller, "To": to, "CallStatus": "ringing"}


def test_unsigned_or_wrongly_signed_webhooks_are_refused(stack):
    sim, gateway = stack["sim"], stack["gateway"]
    params = inbound_params()
    unsigned = httpx.post(f"{gateway.address}/voice/inbound", data=params)
    assert unsigned.status_code == 403
    assert sim.post("/voice/inbound", params, signature="bm90IGEgc2lnbmF0dXJl").status_code == 403
    other_url = sim.validator.compute_signature(f"{gateway.address}/voice/status", params)
    assert sim.post("/voice/inbound", params, signature=other_url).status_code == 403
    tampered = sim.validator.compute_signature(f"{gateway.address}/voice/inbound", params)
    assert sim.post("/voice/inbound", {**params, "To": SAY_ORG}, signature=tampered).status_code == 403
    assert sim.post("/voice/recording-callback", {**params, "RecordingUrl": "x"}, signature="x").status_code == 403
    assert '"event": "webhook.rejected"' in gateway.log_tail(200)
    assert "+15555550103" not in gateway.log_tail(200)
    assert metric(gateway, 'voiceagent_gateway_webhooks_rejected_total{reason="invalid"}') >= 4


def test_recordings_outside_the_allowlist_are_never_fetched(stack, voice):
    sim = stack["sim"]
    elsewhere = RecordingServer(LOCAL_ACCOUNT_SID, AUTH_TOKEN)
    try:
        for number, url in enumerate([
            elsewhere.add(voice("What time do you open?")),
            "http://169.254.169.254/latest/meta-data/",
            "https://api.twilio.com.evil.example/2010-04-01/x",
            "file:///etc/passwd",
            f"{stack['recordings'].base_url}../../etc/passwd",
        ]):
            params = inbound_params(f"+1555555020{number}", call_sid=f"CA{number:032d}")
            action = TwimlAnswer.parse(sim.post("/voice/inbound", params).text).record_action
            response = sim.post(action, {**params, "RecordingUrl": url})
            answer = TwimlAnswer.parse(response.text)
            assert response.status_code == 200 and answer.record_action  # the call goes on
            assert json.loads(response.headers["X-Voiceagent-Turn"])["fallbacks"] == ["download:refused"]
        assert elsewhere.requests == []
    finally:
        elsewhere.close()


def test_an_unknown_number_gets_a_polite_goodbye(stack):
    response = stack["sim"].post("/voice/inbound", inbound_params(to="+14155559999"))
    answer = TwimlAnswer.parse(response.text)
    assert response.status_code == 200 and answer.says == [UNKNOWN_NUMBER] and answer.hangup


def test_a_silent_caller_is_asked_once_whether_they_are_still_there_then_let_go(stack):
    """Each silent recording is one recording timeout of silence; the stack's idle limit is two of them."""
    reports = stack["sim"].call(ACME, "+15555550105", [silence_wav()] * 6)
    assert len(reports) == 5  # greeting, then four silent turns; the fifth is never asked for
    listening, prompt, listening_again, goodbye = reports[1:]
    assert listening.details["outcome"] == "silence" and not listening.twiml.says and not listening.twiml.plays
    assert listening.twiml.record_action and not listening.twiml.hangup
    assert prompt.details["outcome"] == "idle_prompt" and prompt.details["answer"] == STILL_THERE
    assert listening_again.details["outcome"] == "silence"
    assert goodbye.twiml.hangup and goodbye.details["outcome"] == "no_input"


def test_callers_over_the_rate_limit_are_refused(stack):
    sim = stack["sim"]
    answers = [TwimlAnswer.parse(sim.post("/voice/inbound", inbound_params("+15555550106")).text) for _ in range(CALLS_PER_WINDOW + 1)]
    assert all(answer.record_action for answer in answers[:CALLS_PER_WINDOW])
    assert answers[-1].says == [RATE_LIMITED] and answers[-1].hangup
    assert TwimlAnswer.parse(sim.post("/voice/inbound", inbound_params("+15555550107")).text).record_action


def test_an_org_can_speak_through_twilio_say(stack, voice):
    reports = stack["sim"].call(SAY_ORG, "+15555550108", [voice("How much does a basic tune-up cost?")])
    greeting, answer = reports
    assert greeting.twiml.says and not greeting.twiml.plays
    assert "75 dollars" in answer.twiml.says[0] and not answer.twiml.plays
    assert '<Say voice="Polly.Matthew">' in stack["sim"].post("/voice/inbound", inbound_params("+15555550109", SAY_ORG)).text


def test_audio_urls_are_signed(stack, voice):
    greeting = stack["sim"].post("/voice/inbound", inbound_params("+15555550110"))
    url = TwimlAnswer.parse(greeting.text).plays[0]
    assert httpx.get(url).status_code == 200
    assert httpx.get(url.replace("&s=", "&s=0")).status_code == 403
    assert httpx.get(url.split("?")[0]).status_code == 422


def test_health_and_readiness(stack):
    gateway = stack["gateway"]
    assert httpx.get(f"{gateway.address}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{gateway.address}/readyz")
    assert ready.status_code == 200 and ready.json()["services"] == {"stt": True, "retrieval": True, "llm": True, "tts": True}


def test_a_caller_who_says_nothing_is_prompted_then_let_go(stack):
    """Twilio sends no recording when the caller is silent; it follows the <Redirect> after <Record>."""
    sim = stack["sim"]
    params = inbound_params("+15555550120", call_sid="CA" + "5" * 32)
    answer = TwimlAnswer.parse(sim.post("/voice/inbound", params).text)
    outcomes = []
    while answer.no_input_action:
        response = sim.post(answer.no_input_action, params)
        outcomes.append(json.loads(response.headers["X-Voiceagent-Turn"])["outcome"])
        answer = TwimlAnswer.parse(response.text)
    assert outcomes == ["silence", "idle_prompt", "silence", "no_input"]
    assert answer.hangup and not answer.record_action


def test_a_retried_inbound_webhook_gets_the_same_answer_and_counts_once(stack):
    sim, gateway = stack["sim"], stack["gateway"]
    params = inbound_params("+15555550112", call_sid="CA" + "7" * 32)
    active = metric(gateway, "voiceagent_gateway_active_calls")
    answers = {sim.post("/voice/inbound", params).text for _ in range(CALLS_PER_WINDOW + 3)}
    assert len(answers) == 1 and TwimlAnswer.parse(answers.pop()).record_action
    assert metric(gateway, "voiceagent_gateway_active_calls") == active + 1
    # The retries did not count against the caller: their next call is still taken.
    assert TwimlAnswer.parse(sim.post("/voice/inbound", inbound_params("+15555550112")).text).record_action
    sim.post("/voice/status", {**params, "CallStatus": "completed"})
