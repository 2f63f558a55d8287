"""Streaming calls over Twilio Media Streams, with every service a real process."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import numpy as np
import pytest

from services.cli.call_simulator import LOCAL_ACCOUNT_SID
from services.cli.stream_simulator import MediaStreamCaller
from services.common import audio
from services.common.generated.voiceagent.v1 import common_pb2, stt_pb2, stt_pb2_grpc
from tests.conftest import copy_sample_org
from tests.integration.stack import AUTH_TOKEN, caller_speech, running_system, write_org
from tests.twilio_messages import TO_TWILIO, shape

pytestmark = pytest.mark.slow

STREAM_NUMBER = "+14155550133"
IDLE_SECONDS = 4
CALLER_IDLE_SECONDS = 6
CALLERS = itertools.count(1)
TELEPHONE = common_pb2.AudioFormat(encoding=audio.MULAW, sample_rate_hz=8000)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[dict]:
    data_dir = tmp_path_factory.mktemp("data")
    copy_sample_org(data_dir)
    write_org(data_dir, "streamco", STREAM_NUMBER, conversation_mode="streaming")
    with running_system(
        data_dir, tmp_path_factory.mktemp("logs"), GATEWAY_STREAM_IDLE_SECONDS=str(IDLE_SECONDS),
        GATEWAY_CALLER_IDLE_SECONDS=str(CALLER_IDLE_SECONDS),
    ) as system:
        speech = caller_speech(
            system.services,
            ["What time do you open on Saturday?", "And on Sundays?", "Where can I park?", "Is there customer parking behind the shop?",
             "Okay.", "I'd like to book a repair for", "my road bike."],
            audio.MULAW,
        )
        yield {"services": system.services, "gateway": system.gateway, "sim": system.sim, "speech": speech, "data": data_dir}


def open_stream(stack) -> tuple[str, dict[str, str]]:
    """The inbound webhook's <Connect><Stream>: the WebSocket URL and the parameters Twilio passes on."""
    import xml.etree.ElementTree as ElementTree

    # A new caller each time: one number may only place a few calls an hour (GATEWAY_CALLS_PER_WINDOW).
    caller = next(CALLERS)
    params = {"AccountSid": LOCAL_ACCOUNT_SID, "CallSid": f"CA{caller:032d}", "From": f"+1555555{caller:04d}", "To": STREAM_NUMBER}
    body = stack["sim"].post("/voice/inbound", params).text
    stream = ElementTree.fromstring(body).find("Connect/Stream")
    return stream.get("url"), {p.get("name"): p.get("value") for p in stream.findall("Parameter")}, params["CallSid"]


def transcribe(stack, mulaw: bytes) -> str:
    with grpc.insecure_channel(stack["services"]["stt"].address) as channel:
        return stt_pb2_grpc.SpeechToTextStub(channel).Transcribe(stt_pb2.TranscribeRequest(audio=mulaw, format=TELEPHONE), timeout=30).text


def metric(gateway, prefix: str) -> float:
    text = urllib.request.urlopen(gateway.metrics_url, timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def test_inbound_hands_streaming_orgs_to_the_websocket(stack):
    url, parameters, call_sid = open_stream(stack)
    assert url.startswith("ws://") and url.endswith("/voice/stream")
    assert parameters["org_id"] == "streamco" and parameters["call_sid"] == call_sid and parameters["token"]
    body = stack["sim"].post("/voice/inbound", {"AccountSid": LOCAL_ACCOUNT_SID, "CallSid": "CA" + "8" * 32, "From": "+15555550502", "To": STREAM_NUMBER}).text
    assert body.index("<Connect>") < body.index("/voice/stream-ended</Redirect>")  # asked what next if the stream ends


def test_a_stream_that_broke_off_is_followed_by_the_orgs_fallback_spoken_by_twilio(stack):
    _, _, call_sid = open_stream(stack)
    params = {"AccountSid": LOCAL_ACCOUNT_SID, "CallSid": call_sid, "To": STREAM_NUMBER}
    after = stack["sim"].post("/voice/stream-ended", params).text
    assert "mechanics will call you back" in after and after.index("<Say") < after.index("<Hangup")


def test_a_dropped_websocket_ends_the_call_cleanly(stack):
    url, parameters, call_sid = open_stream(stack)
    before = metric(stack["gateway"], 'voiceagent_gateway_calls_total{org="streamco",outcome="disconnected"}')

    async def hang_up_abruptly():
        caller = MediaStreamCaller(url, parameters, call_sid=call_sid)
        await caller.__aenter__()
        await caller.wait_for_answer()
        for task in caller._tasks:
            task.cancel()
        caller.ws.transport.abort()

    asyncio.run(hang_up_abruptly())
    deadline = time.monotonic() + 10
    while metric(stack["gateway"], 'voiceagent_gateway_calls_total{org="streamco",outcome="disconnected"}') == before:
        assert time.monotonic() < deadline, "the gateway did not notice the dropped stream"
        time.sleep(0.2)
    assert '"event": "stream.ended"' in stack["gateway"].log_tail(200)


def test_a_streaming_conversation_with_memory(stack):
    url, parameters, call_sid = open_stream(stack)

    async def conversation():
        async with MediaStreamCaller(url, parameters, call_sid=call_sid) as caller:
            await caller.wait_for_answer()  # the greeting
            greeting = bytes(caller.heard)
            await caller.say(stack["speech"]["What time do you open on Saturday?"])
            await caller.wait_for_answer()
            first = bytes(caller.heard[len(greeting):])
            await caller.say(stack["speech"]["And on Sundays?"])
            await caller.wait_for_answer()
            second = bytes(caller.heard[len(greeting) + len(first):])
            return caller, greeting, first, second

    caller, greeting, first, second = asyncio.run(conversation())
    assert "thanks for calling" in transcribe(stack, greeting).lower()
    assert "saturday" in transcribe(stack, first).lower()
    assert "closed on sundays" in transcribe(stack, second).lower()
    assert all(turn.latency_ms is not None and turn.latency_ms < 5000 for turn in caller.turns)
    assert len(caller.received("mark")) >= 3 and not caller.received("clear")
    assert metric(stack["gateway"], 'voiceagent_gateway_stream_latency_seconds_count{milestone="first_frame_sent",org="streamco"}') >= 2


def test_talking_over_the_agent_stops_it_and_only_what_was_heard_is_remembered(stack):
    url, parameters, call_sid = open_stream(stack)
    before = metric(stack["gateway"], 'voiceagent_gateway_barge_ins_total{org="streamco"}')

    async def interrupt():
        async with MediaStreamCaller(url, parameters, call_sid=call_sid) as caller:
            await caller.wait_for_answer()
            await caller.until_answering(await caller.say(stack["speech"]["What time do you open on Saturday?"]))
            # Over the answer; a question with enough words of its own that, however much of it is heard, it is
            # never taken for a follow-up of the first.
            await caller.say(stack["speech"]["Is there customer parking behind the shop?"])
            await caller.wait_for_answer()
            return caller

    caller = asyncio.run(interrupt())
    assert caller.received("clear"), "the agent did not stop talking"
    assert metric(stack["gateway"], 'voiceagent_gateway_barge_ins_total{org="streamco"}') == before + 1
    log = stack["gateway"].log_tail(400)
    assert '"event": "stream.barge_in"' in log and '"heard_characters": 0' in log
    assert "parking" in transcribe(stack, bytes(caller.heard[-8000 * 6:])).lower()


def test_back_channel_words_and_background_noise_do_not_interrupt(stack):
    url, parameters, call_sid = open_stream(stack)
    street = audio.mulaw_encode(np.random.default_rng(7).normal(0, 10 ** (-30 / 20), 8000 * 2).astype(np.float32))

    async def listen_politely():
        async with MediaStreamCaller(url, parameters, call_sid=call_sid) as caller:
            await caller.wait_for_answer()
            await caller.until_answering(await caller.say(stack["speech"]["What time do you open on Saturday?"]))
            await caller.say(stack["speech"]["Okay."])
            await caller.say(street)
            await caller.wait_for_answer(expect_new_audio=False)
            return caller

    caller = asyncio.run(listen_politely())
    assert not caller.received("clear")


def test_a_caller_who_hesitates_mid_sentence_is_not_cut_off(stack):
    url, parameters, call_sid = open_stream(stack)
    pause = b"\xff" * (8000 * 7 // 10)  # 700 ms of silence

    async def hesitate():
        async with MediaStreamCaller(url, parameters, call_sid=call_sid) as caller:
            await caller.wait_for_answer()
            await caller.say(stack["speech"]["I'd like to book a repair for"] + pause + stack["speech"]["my road bike."])
            await caller.wait_for_answer(quiet_seconds=1.5)
            return caller

    caller = asyncio.run(hesitate())
    answered = [turn for turn in caller.turns if turn.details]
    assert len(answered) == 1, [turn.details for turn in caller.turns]
    assert "road bike" in answered[0].details["caller"].lower() and "repair" in answered[0].details["caller"].lower()


def test_a_silent_caller_is_asked_whether_they_are_still_there_then_let_go(stack):
    url, parameters, call_sid = open_stream(stack)

    async def say_nothing():
        async with MediaStreamCaller(url, parameters, call_sid=call_sid) as caller:
            await caller.wait_for_answer()
            greeting = len(caller.heard)
            deadline = time.monotonic() + 3 * CALLER_IDLE_SECONDS + 15
            while caller.ws.close_code is None and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            return caller, bytes(caller.heard[greeting:])

    caller, after_greeting = asyncio.run(say_nothing())
    assert caller.ws.close_code == 1000, "the gateway did not end the call"
    heard = transcribe(stack, after_greeting).lower()
    assert "still there" in heard and "goodbye" in heard.replace("good bye", "goodbye")
    params = {"AccountSid": LOCAL_ACCOUNT_SID, "CallSid": call_sid, "To": STREAM_NUMBER}
    after = stack["sim"].post("/voice/stream-ended", params).text
    assert "<Hangup" in after and "<Say" not in after  # ended by the agent: no fallback


def test_the_gateway_answers_in_twilios_documented_shapes_and_ignores_keypresses(stack):
    url, parameters, call_sid = open_stream(stack)

    async def call():
        async with MediaStreamCaller(url, parameters, call_sid=call_sid) as caller:
            await caller.wait_for_answer()
            greeting = len(caller.heard)
            await caller.press("7")
            await caller.say(stack["speech"]["Where can I park?"])
            await caller.wait_for_answer()
            return caller, bytes(caller.heard[greeting:])

    caller, answer = asyncio.run(call())
    assert caller.received("media") and caller.received("mark")
    for _, message in caller.events:
        assert shape(message) == shape(TO_TWILIO[message["event"]]), message
        assert message["streamSid"] == caller.stream_sid
    payloads = [base64.b64decode(message["media"]["payload"]) for message in caller.received("media")]
    assert all(0 < len(payload) <= 160 for payload in payloads)  # 20 ms frames of 8 kHz mu-law
    assert "parking" in transcribe(stack, answer).lower()
    log = stack["gateway"].log_tail(200)
    assert '"event": "stream.dtmf_ignored"' in log and '"digit"' not in log


@pytest.mark.parametrize("intrusion", ["forged token", "another call's token", "another org"])
def test_a_stream_without_a_valid_token_for_its_call_is_refused(stack, intrusion):
    url, parameters, call_sid = open_stream(stack)
    _, other_parameters, other_call_sid = open_stream(stack)
    if intrusion == "forged token":
        parameters = {**parameters, "token": "9999999999.forged"}
    elif intrusion == "another call's token":  # a token that is valid, but for a different call
        parameters = {**parameters, "call_sid": other_call_sid, "token": other_parameters["token"]}
    else:
        parameters = {**parameters, "org_id": "acme"}

    async def intrude():
        async with MediaStreamCaller(url, parameters, call_sid=call_sid) as caller:
            await asyncio.wait_for(caller.ws.wait_closed(), timeout=10)
            return caller.ws.close_code, caller.received("media")

    code, audio_sent = asyncio.run(intrude())
    assert code == 1008 and audio_sent == []


def test_a_stream_token_opens_one_stream_once(stack):
    url, parameters, call_sid = open_stream(stack)

    async def second_socket_and_replay():
        async with MediaStreamCaller(url, parameters, call_sid=call_sid) as caller:
            await caller.wait_for_answer()  # the first socket is answered
            async with MediaStreamCaller(url, parameters, call_sid=call_sid) as intruder:
                await asyncio.wait_for(intruder.ws.wait_closed(), timeout=10)
                second = intruder.ws.close_code, intruder.received("media")
        async with MediaStreamCaller(url, parameters, call_sid=call_sid) as replay:  # after the call's `stop`
            await asyncio.wait_for(replay.ws.wait_closed(), timeout=10)
            return second, (replay.ws.close_code, replay.received("media"))

    second, replay = asyncio.run(second_socket_and_replay())
    assert second == (1008, []) and replay == (1008, [])


def test_voiceagent_call_stream_reports_latency_and_writes_what_was_heard(stack, tmp_path):
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    question = tmp_path / "question.wav"
    question.write_bytes(audio.wav_bytes(audio.decode(stack["speech"]["Where can I park?"], audio.MULAW)))
    env = {**os.environ, "GATEWAY_URL": stack["gateway"].address, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "VOICEAGENT_DATA_DIR": str(stack["data"])}
    result = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "call", "--org", "streamco", "--stream", "--wav", str(question),
         "-o", str(tmp_path), "--json"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["turns"]) == 1 and 0 < report["turns"][0]["latency_ms"] < 5000
    turn = report["turns"][0]
    assert "park" in turn["caller"].lower() and "parking" in turn["agent"].lower() and turn["sources"]
    assert turn["latency_ms"] / 1000 < turn["answer_started_s"] < 10
    heard = audio.decode((tmp_path / "call-stream-heard.wav").read_bytes(), audio.WAV)
    assert heard.duration_seconds > 3


def test_voiceagent_call_stream_says_what_happened_when_the_call_is_refused(stack, tmp_path):
    import os
    import subprocess
    import sys

    from services.gateway.twiml import RATE_LIMITED
    from tests.conftest import REPO_ROOT

    caller = "+15555550999"
    for number in range(10):  # GATEWAY_CALLS_PER_WINDOW's default: this caller's next call is refused
        stack["sim"].post("/voice/inbound", {"CallSid": f"CA{number:030d}99", "From": caller, "To": STREAM_NUMBER})
    question = tmp_path / "question.wav"
    question.write_bytes(audio.wav_bytes(audio.decode(stack["speech"]["Where can I park?"], audio.MULAW)))
    env = {**os.environ, "GATEWAY_URL": stack["gateway"].address, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "VOICEAGENT_DATA_DIR": str(stack["data"])}
    result = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "call", "--org", "streamco", "--stream", "--wav", str(question),
         "--caller", caller, "-o", str(tmp_path)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0 and "did not take the call" in result.stderr and RATE_LIMITED in result.stderr
    assert "not in streaming mode" not in result.stderr


async def raw_stream(url: str, messages: list, wait: float = 15.0) -> tuple[int | None, list[str]]:
    """Send exactly these frames, then wait for the gateway to close: its close code and what it sent."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async with connect(url) as ws:
        received = []
        try:
            for message in messages:
                await ws.send(message)
            async with asyncio.timeout(wait):
                async for frame in ws:
                    received.append(frame)
        except TimeoutError:
            return None, received
        except ConnectionClosed:
            pass
        return ws.close_code, received


@pytest.mark.parametrize(
    "first", [b"\x00\x01binary", "[1, 2, 3]", '"a string"', "not json", '{"event": "start", "start": {"customParameters": [1]}}'],
    ids=["binary frame", "json array", "json string", "not json", "bad start"],
)
def test_anything_but_a_valid_start_is_refused_with_1008_and_no_traceback(stack, first):
    url, _, _ = open_stream(stack)
    code, received = asyncio.run(raw_stream(url, [first]))
    assert code == 1008 and received == []
    assert "Traceback" not in stack["gateway"].log_tail(300)


def test_a_huge_token_expiry_is_refused_cleanly(stack):
    url, parameters, call_sid = open_stream(stack)
    start = {"event": "start", "streamSid": "MZ1", "start": {"callSid": call_sid, "customParameters": {**parameters, "token": "9" * 200 + ".x"}}}
    code, _ = asyncio.run(raw_stream(url, [json.dumps({"event": "connected"}), json.dumps(start)]))
    assert code == 1008 and "Traceback" not in stack["gateway"].log_tail(300)


def test_malformed_messages_after_start_are_ignored_and_the_call_goes_on(stack):
    url, parameters, call_sid = open_stream(stack)
    before = metric(stack["gateway"], "voiceagent_gateway_stream_malformed_messages_total")

    async def conversation_with_junk():
        async with MediaStreamCaller(url, parameters, call_sid=call_sid) as caller:
            await caller.wait_for_answer()  # the greeting
            for junk in ("{bad json", '{"event": "media", "media": {"payload": "***"}}', '{"event": "media"}', '{"event": "mark"}', "[]"):
                await caller.ws.send(junk)
            await caller.say(stack["speech"]["Where can I park?"])
            await caller.wait_for_answer()
            return caller.turns[-1].latency_ms

    assert asyncio.run(conversation_with_junk()) is not None  # answered after the junk
    assert metric(stack["gateway"], "voiceagent_gateway_stream_malformed_messages_total") == before + 5
    assert "Traceback" not in stack["gateway"].log_tail(300)


def test_a_stream_that_goes_quiet_is_closed(stack):
    url, parameters, call_sid = open_stream(stack)
    before = metric(stack["gateway"], 'voiceagent_gateway_calls_total{org="streamco",outcome="idle_timeout"}')
    start = {"event": "start", "streamSid": "MZ1", "start": {"callSid": call_sid, "customParameters": parameters}}
    code, _ = asyncio.run(raw_stream(url, [json.dumps({"event": "connected"}), json.dumps(start)], wait=IDLE_SECONDS + 10))
    assert code == 1000
    assert metric(stack["gateway"], 'voiceagent_gateway_calls_total{org="streamco",outcome="idle_timeout"}') == before + 1


@contextmanager
def stage_down(stack, name: str) -> Iterator[None]:
    """The named model service killed for the duration, then restarted on its ports for the next test."""
    service = stack["services"][name]
    service.kill()
    try:
        yield
    finally:
        service.start().wait_serving()


def ask_while_the_greeting_plays_out(stack, question: str, kill: str) -> MediaStreamCaller:
    """A call that hears the greeting, loses a stage, then asks; returns once the agent answered or hung up."""
    url, parameters, call_sid = open_stream(stack)

    async def call():
        async with MediaStreamCaller(url, parameters, call_sid=call_sid) as caller:
            await caller.wait_for_answer()
            with stage_down(stack, kill):
                await caller.say(stack["speech"][question])
                done = asyncio.create_task(caller.ws.wait_closed())
                answered = asyncio.create_task(caller.wait_for_answer(quiet_seconds=1.5))
                await asyncio.wait([done, answered], timeout=30, return_when=asyncio.FIRST_COMPLETED)
                for task in (done, answered):
                    task.cancel()
            return caller

    return asyncio.run(call())


def heard_after_greeting(caller: MediaStreamCaller) -> bytes:
    """What the caller heard after the first mark (the greeting's)."""
    first_mark = next(index for index, (_, message) in enumerate(caller.events) if message.get("event") == "mark")
    frames = [message for _, message in caller.events[first_mark:] if message.get("event") == "media"]
    return b"".join(base64.b64decode(message["media"]["payload"]) for message in frames)


def test_llm_down_the_caller_hears_the_documents_best_matching_sentence(stack):
    before = metric(stack["gateway"], 'voiceagent_gateway_fallbacks_total{org="streamco",reason="UNAVAILABLE",stage="llm"}')
    caller = ask_while_the_greeting_plays_out(stack, "Where can I park?", kill="llm")
    assert "parking" in transcribe(stack, heard_after_greeting(caller)).lower()
    assert metric(stack["gateway"], 'voiceagent_gateway_fallbacks_total{org="streamco",reason="UNAVAILABLE",stage="llm"}') == before + 1


def test_retrieval_down_the_caller_hears_the_orgs_fallback(stack):
    before = metric(stack["gateway"], 'voiceagent_gateway_fallbacks_total{org="streamco",reason="UNAVAILABLE",stage="retrieval"}')
    caller = ask_while_the_greeting_plays_out(stack, "Where can I park?", kill="retrieval")
    heard = transcribe(stack, heard_after_greeting(caller)).lower()
    assert "mechanics will call you back" in heard and "parking" not in heard
    assert metric(stack["gateway"], 'voiceagent_gateway_fallbacks_total{org="streamco",reason="UNAVAILABLE",stage="retrieval"}') == before + 1


@pytest.mark.parametrize("stage", ["stt", "tts"])
def test_stt_or_tts_down_hands_the_call_back_to_twilio_for_the_spoken_fallback(stack, stage):
    before = metric(stack["gateway"], 'voiceagent_gateway_calls_total{org="streamco",outcome="handed_back"}')
    caller = ask_while_the_greeting_plays_out(stack, "Where can I park?", kill=stage)
    # Closed by the gateway: Twilio moves on to /voice/stream-ended, which has it speak the fallback and hang up.
    assert caller.ws.close_code == 1000
    assert f'"event": "stream.{stage}_failed"' in stack["gateway"].log_tail(200)
    deadline = time.monotonic() + 10
    while metric(stack["gateway"], 'voiceagent_gateway_calls_total{org="streamco",outcome="handed_back"}') == before:
        assert time.monotonic() < deadline, "the call's outcome was not recorded"
        time.sleep(0.2)
