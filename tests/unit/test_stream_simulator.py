"""The simulated Twilio side of a Media Stream sends what Twilio sends, in the documented shapes and order."""

import asyncio
import base64
import json
import time

from websockets.asyncio.server import serve

from services.cli.stream_simulator import MediaStreamCaller
from tests.twilio_messages import FROM_TWILIO, TO_TWILIO, shape


async def converse_with_recording_server() -> tuple[list[dict], MediaStreamCaller, dict[str, float]]:
    """A WebSocket server that plays the gateway's part (one second of audio and a mark) and records what it gets."""
    received: list[dict] = []
    times: dict[str, float] = {}

    async def gateway(ws):
        async for raw in ws:
            message = json.loads(raw)
            received.append(message)
            if message["event"] == "mark":
                times["mark_returned"] = time.perf_counter()
            if message["event"] == "start":
                sid = message["start"]["streamSid"]
                for _ in range(50):
                    await ws.send(json.dumps({**TO_TWILIO["media"], "streamSid": sid, "media": {"payload": base64.b64encode(b"\xff" * 160).decode()}}))
                await ws.send(json.dumps({**TO_TWILIO["mark"], "streamSid": sid, "mark": {"name": "m1"}}))
                times["mark_sent"] = time.perf_counter()

    async with serve(gateway, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with MediaStreamCaller(f"ws://127.0.0.1:{port}", {"org_id": "acme", "call_sid": "CA1", "token": "t"}) as caller:
            await caller.wait_for_answer(quiet_seconds=0.3)
            await caller.press("5")
            await caller.say(b"\x00" * 1600)
        await asyncio.sleep(0.2)
    return received, caller, times


def test_the_simulator_speaks_twilios_protocol():
    received, caller, times = asyncio.run(converse_with_recording_server())
    events = [message["event"] for message in received]
    assert events[:2] == ["connected", "start"] and events[-1] == "stop"
    for message in received:
        assert shape(message) == shape(FROM_TWILIO[message["event"]]), message["event"]
    numbers = [int(message["sequenceNumber"]) for message in received[1:]]
    assert numbers == list(range(1, len(received)))  # every message after `connected`, counted from 1
    stream_sids = {message["streamSid"] for message in received[1:]}
    assert stream_sids == {caller.stream_sid}
    # The mark came back only after the second of audio before it had played.
    assert [message["mark"]["name"] for message in received if message["event"] == "mark"] == ["m1"]
    assert times["mark_returned"] - times["mark_sent"] >= 0.9
    assert len(caller.heard) == 50 * 160
