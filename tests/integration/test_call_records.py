"""Calls are remembered: records of real calls through the gateway, messages taken for a callback, handoff."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import grpc
import pytest

from services.cli.call_simulator import LOCAL_ACCOUNT_SID
from services.cli.stream_simulator import MediaStreamCaller
from services.common import audio
from services.common.generated.voiceagent.v1 import common_pb2, tts_pb2, tts_pb2_grpc
from services.common.records import queries
from services.common.records.settings import default_database_url
from services.common.records.store import RecordStore
from services.gateway.callbacks import ASK_NAME, NO_ONE_AVAILABLE, OFFER, TRANSFERRING
from tests.conftest import copy_sample_org
from tests.fakes.twilio_rest import FakeTwilioRest
from tests.integration.stack import AUTH_TOKEN, running_system, write_org

pytestmark = pytest.mark.slow

ACME = "+14155550100"
OPEN = "+14155550140"  # someone takes transfers at any hour
CLOSED = "+14155550141"  # no one ever does
STREAMING_OPEN = "+14155550142"
TEAM = "+14155550123"
ALWAYS = {day: "00:00-24:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[dict]:
    data_dir = tmp_path_factory.mktemp("data")
    copy_sample_org(data_dir)
    write_org(data_dir, "openco", OPEN, handoff={"number": TEAM, "timezone": "UTC", "hours": ALWAYS})
    write_org(data_dir, "closedco", CLOSED, handoff={"number": TEAM, "timezone": "UTC", "hours": {}})
    write_org(data_dir, "streamhelp", STREAMING_OPEN, conversation_mode="streaming", handoff={"number": TEAM, "timezone": "UTC", "hours": ALWAYS})
    twilio = FakeTwilioRest(LOCAL_ACCOUNT_SID, AUTH_TOKEN).start()
    try:
        with running_system(data_dir, tmp_path_factory.mktemp("logs"), GATEWAY_TWILIO_API_URL=twilio.url) as system:
            with grpc.insecure_channel(system.services["tts"].address) as channel:
                stub = tts_pb2_grpc.TextToSpeechStub(channel)

                def say(text: str, encoding: int = audio.WAV) -> bytes:
                    telephone = common_pb2.AudioFormat(encoding=encoding, sample_rate_hz=8000)
                    return stub.Synthesize(tts_pb2.SynthesizeRequest(text=text, format=telephone), timeout=30).audio

                yield {"system": system, "say": say, "twilio": twilio, "store": RecordStore(default_database_url(data_dir))}
    finally:
        twilio.stop()


def recorded(stack, call_sid: str, until=lambda detail: detail.call.ended_at is not None, timeout: float = 10.0) -> queries.CallDetail:
    """The call as the store has it, once `until` holds (records are written off the call path)."""
    deadline = time.monotonic() + timeout
    while True:
        with stack["store"].session() as session:
            detail = queries.get_call(session, call_sid)
        if detail is not None and until(detail):
            return detail
        assert time.monotonic() < deadline, f"the call store did not get {call_sid} in time: {detail}"
        time.sleep(0.2)


def test_a_turn_based_call_is_recorded_with_each_turn_and_its_outcome(stack):
    sim, say = stack["system"].sim, stack["say"]
    reports = sim.call(ACME, "+15555550201", [say("What time do you open on Saturday?"), say("That's all, goodbye.")], call_sid="CA" + "1" * 32)
    assert reports[-1].twiml.hangup
    detail = recorded(stack, "CA" + "1" * 32)
    call = detail.call
    assert call.org_id == "acme" and call.mode == "turns" and call.outcome == "caller_done" and call.duration_seconds == 30
    assert call.caller_number and "5555550201" not in call.caller_number  # stored hashed, the org's default
    assert {"stt:local", "llm:local"} <= set(call.cost_usd) and sum(call.cost_usd.values()) == 0  # offline models cost nothing
    first = detail.turns[0]
    assert "saturday" in first.caller_text.lower() and first.answer_text and first.sources and not first.fallback
    assert {"stt", "retrieval", "llm"} <= set(first.latency_ms)


def test_when_the_documents_have_no_answer_the_caller_leaves_a_message_for_a_callback(stack):
    sim, say = stack["system"].sim, stack["say"]
    lines = ["Do you sell grand pianos?", "Yes, please.", "My name is John Smith.", "I want a quote for a repair.", "Yes, that's right."]
    reports = sim.call(ACME, "+15035550142", [say(line) for line in lines], call_sid="CA" + "2" * 32)
    answers = [report.details["answer"] for report in reports[1:]]
    assert answers[0].endswith(OFFER) and answers[1] == ASK_NAME
    assert "john" in answers[2].lower() and "5 0 3, 5 5 5, 0 1 4 2" in answers[3]
    assert "call you back on 5 0 3, 5 5 5, 0 1 4 2" in answers[4]
    detail = recorded(stack, "CA" + "2" * 32, until=lambda detail: detail.callbacks)
    callback = detail.callbacks[0]
    assert callback.number == "+15035550142" and "john" in callback.name.lower() and "repair" in callback.message.lower()
    assert callback.status == "new" and detail.turns[0].fallback and "not_in_documents" in detail.turns[0].fallback_reasons


def test_in_opening_hours_a_caller_who_asks_for_a_person_is_transferred_and_an_unanswered_transfer_takes_a_message(stack):
    sim, say = stack["system"].sim, stack["say"]
    reports = sim.call(OPEN, "+15555550203", [say("Can I talk to a person, please?")], call_sid="CA" + "3" * 32)
    transfer = reports[1]
    assert transfer.twiml.dial == TEAM and transfer.details["answer"] == TRANSFERRING and transfer.twiml.dial_action
    params = {**sim.call_params(OPEN, "+15555550203", "CA" + "3" * 32), "DialCallStatus": "no-answer"}
    after = sim.post(transfer.twiml.dial_action, params)
    assert json.loads(after.headers["X-Voiceagent-Turn"])["answer"] == NO_ONE_AVAILABLE and "<Record" in after.text
    detail = recorded(stack, "CA" + "3" * 32, until=lambda detail: detail.handoffs)
    assert detail.handoffs[0].number == TEAM and detail.handoffs[0].trigger == "asked"


def test_out_of_hours_a_caller_who_asks_for_a_person_is_offered_a_message(stack):
    sim, say = stack["system"].sim, stack["say"]
    reports = sim.call(CLOSED, "+15555550204", [say("I'd like to speak to a representative.")])
    assert reports[1].twiml.dial is None and reports[1].details["answer"] == NO_ONE_AVAILABLE


def test_pressing_zero_asks_for_a_person(stack):
    sim = stack["system"].sim
    common = sim.call_params(OPEN, "+15555550205")
    greeting = sim.ring(common)
    url = stack["system"].recordings.add(stack["say"]("Hello?"))
    pressed = sim.post(greeting.twiml.record_action, {**common, "RecordingUrl": url, "RecordingSid": "RE1", "Digits": "0"})
    assert f">{TEAM}</Dial>" in pressed.text


def test_a_streaming_caller_who_asks_for_a_person_is_transferred_through_twilios_rest_api(stack):
    sim, say = stack["system"].sim, stack["say"]
    common = sim.call_params(STREAMING_OPEN, "+15555550206", "CA" + "6" * 32)
    url, parameters = sim.stream(common)

    async def ask():
        async with MediaStreamCaller(url, parameters, call_sid=common["CallSid"], account_sid=LOCAL_ACCOUNT_SID) as caller:
            await caller.wait_for_answer()
            await caller.say(say("Can I speak to someone on your team?", audio.MULAW))
            deadline = time.monotonic() + 30
            while not stack["twilio"].updates and time.monotonic() < deadline:
                await asyncio.sleep(0.1)

    asyncio.run(ask())
    assert stack["twilio"].updates, "the gateway did not redirect the call"
    call_sid, redirected = stack["twilio"].updates[-1]
    assert call_sid == "CA" + "6" * 32 and f">{TEAM}</Dial>" in redirected and "/voice/handoff-ended" in redirected
    # Nobody answers the transfer: the call goes on as a turn-based call that takes a message, then ends.
    after = sim.post("/voice/handoff-ended", {**common, "DialCallStatus": "no-answer"})
    assert json.loads(after.headers["X-Voiceagent-Turn"])["answer"] == NO_ONE_AVAILABLE and "<Record" in after.text
    sim.hang_up(common)
    detail = recorded(stack, call_sid, until=lambda detail: detail.handoffs and detail.call.ended_at is not None)
    assert detail.call.mode == "streaming" and detail.call.outcome == "transferred" and detail.call.turns_count >= 1
    assert [turn.turn_index for turn in detail.turns] == sorted({turn.turn_index for turn in detail.turns})
