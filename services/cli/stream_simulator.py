"""Twilio's side of a Media Stream, for `voiceagent call --stream` and the tests.

A microphone task sends a 20 ms mu-law frame every 20 ms, as Twilio does:
the caller's speech when there is some, silence otherwise. A player task
plays what the gateway sends in real time, answers each `mark` once the
audio before it has played, and honours `clear` by dropping what is queued
(and answering its marks, as Twilio does). What was played is kept, so it
can be written to a WAV file or transcribed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from services.common import audio

FRAME_BYTES = 160
FRAME_SECONDS = 0.02
SILENCE = b"\xff" * FRAME_BYTES


@dataclass
class StreamTurn:
    """When the caller's last loud frame was sent, and when the first answer frame arrived after that."""

    speech_ended_at: float | None = None
    first_frame_at: float | None = None

    @property
    def latency_ms(self) -> float | None:
        return None if self.first_frame_at is None or self.speech_ended_at is None else (self.first_frame_at - self.speech_ended_at) * 1000


@dataclass
class MediaStreamCaller:
    url: str
    parameters: dict[str, str]
    call_sid: str = field(default_factory=lambda: "CA" + secrets.token_hex(16))
    account_sid: str = "AC" + "0" * 32
    stream_sid: str = field(default_factory=lambda: "MZ" + secrets.token_hex(16))
    events: list[tuple[float, dict]] = field(default_factory=list)
    heard: bytearray = field(default_factory=bytearray)
    turns: list[StreamTurn] = field(default_factory=list)

    async def __aenter__(self) -> MediaStreamCaller:
        self.ws: ClientConnection = await connect(self.url)
        # Frames to speak, each with the turn it ends when it is the last loud frame of what is said.
        self._mic: asyncio.Queue[tuple[bytes, StreamTurn | None]] = asyncio.Queue()
        self._spoken = asyncio.Event()
        self._queue: list[bytes | str] = []  # frames and mark names, in play order
        self._sequence = 0
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send({
            "event": "start", "streamSid": self.stream_sid,
            "start": {
                "accountSid": self.account_sid, "streamSid": self.stream_sid, "callSid": self.call_sid,
                "tracks": ["inbound"], "customParameters": self.parameters,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        })
        self._tasks = [asyncio.create_task(task) for task in (self._microphone(), self._receive(), self._player())]
        return self

    async def __aexit__(self, *exc_info) -> None:
        try:
            await self._send({"event": "stop", "streamSid": self.stream_sid, "stop": {"accountSid": self.account_sid, "callSid": self.call_sid}})
        except ConnectionClosed:
            pass  # the gateway hung up first (or refused the stream)
        finally:
            for task in self._tasks:
                task.cancel()
            await self.ws.close()

    async def _send(self, message: dict) -> None:
        """Every message after `connected` carries the next sequenceNumber, as Twilio's do."""
        if message["event"] != "connected":
            self._sequence += 1
            message = {**message, "sequenceNumber": str(self._sequence)}
        await self.ws.send(json.dumps(message))

    async def _microphone(self) -> None:
        chunk, started = 0, time.perf_counter()
        while True:
            frame, ends_turn = (SILENCE, None) if self._mic.empty() else self._mic.get_nowait()
            chunk += 1
            try:
                await self._send({"event": "media", "streamSid": self.stream_sid,
                                  "media": {"track": "inbound", "chunk": str(chunk), "timestamp": str(chunk * 20), "payload": base64.b64encode(frame).decode()}})
            except ConnectionClosed:
                self._spoken.set()  # the gateway hung up: nothing more can be said
                return
            if ends_turn is not None:
                ends_turn.speech_ended_at = time.perf_counter()
                self.turns.append(ends_turn)
            if self._mic.empty() and frame is not SILENCE:
                self._spoken.set()
            await asyncio.sleep(max(0.0, started + chunk * FRAME_SECONDS - time.perf_counter()))

    async def _receive(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            self.events.append((time.perf_counter(), message))
            event = message.get("event")
            if event == "media":
                if self.turns and self.turns[-1].first_frame_at is None:
                    self.turns[-1].first_frame_at = time.perf_counter()
                self._queue.append(base64.b64decode(message["media"]["payload"]))
            elif event == "mark":
                self._queue.append(message["mark"]["name"])
            elif event == "clear":
                marks = [item for item in self._queue if isinstance(item, str)]
                self._queue.clear()
                for name in marks:
                    await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    async def _player(self) -> None:
        while True:
            if self._queue and isinstance(self._queue[0], str):
                await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": self._queue.pop(0)}})
                continue
            if self._queue:
                self.heard.extend(self._queue.pop(0))
            await asyncio.sleep(FRAME_SECONDS)

    @property
    def playing(self) -> bool:
        return bool(self._queue)

    async def say(self, mulaw: bytes) -> StreamTurn:
        """Speak in real time; returns once the last frame is sent. The turn's latency clock starts at the
        last frame loud enough to be speech, as the server's does: trailing silence is the wait for the end."""
        frames = [mulaw[start : start + FRAME_BYTES].ljust(FRAME_BYTES, b"\xff") for start in range(0, len(mulaw), FRAME_BYTES)]
        if not frames:
            raise ValueError("nothing to say: the audio is empty")
        loud = [index for index, frame in enumerate(frames) if audio.rms_dbfs(audio.mulaw_decode(frame)) >= audio.SPEECH_DBFS]
        last_loud = loud[-1] if loud else len(frames) - 1
        turn = StreamTurn()
        self._spoken.clear()
        for index, frame in enumerate(frames):
            self._mic.put_nowait((frame, turn if index == last_loud else None))
        await self._spoken.wait()
        return turn

    async def press(self, digit: str) -> None:
        """A keypress, which Twilio reports on the stream."""
        await self._send({"event": "dtmf", "streamSid": self.stream_sid, "dtmf": {"track": "inbound_track", "digit": digit}})

    async def until_answering(self, turn: StreamTurn, timeout: float = 30.0) -> None:
        """Until the first frame of the answer to `turn` arrives (to talk over it, say)."""
        deadline = time.perf_counter() + timeout
        while turn.first_frame_at is None:
            if time.perf_counter() > deadline:
                raise TimeoutError("the agent did not start answering")
            await asyncio.sleep(0.02)

    async def wait_for_answer(self, timeout: float = 30.0, quiet_seconds: float = 1.0, expect_new_audio: bool = True) -> None:
        """Until the agent has answered (new audio since the caller last spoke, unless not expected) and
        nothing has been received or played for `quiet_seconds`."""
        deadline = time.perf_counter() + timeout
        turn = self.turns[-1] if self.turns else None
        while time.perf_counter() < deadline:
            if not expect_new_audio:
                answered = True
            else:
                answered = turn.first_frame_at is not None if turn else bool(self.received("media"))
            last = self.events[-1][0] if self.events else 0
            if answered and not self.playing and time.perf_counter() - last > quiet_seconds:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("the agent did not finish answering")

    def received(self, event: str) -> list[dict]:
        return [message for _, message in self.events if message.get("event") == event]
