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
import json
import secrets
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from services.common import audio, media_streams
from services.common.vad import VoiceActivity

FRAME_BYTES = 160
FRAME_SECONDS = 0.02
SILENCE = b"\xff" * FRAME_BYTES
TURN_DETAILS = "turn:"


def last_speech_frame(frames: list[bytes]) -> int:
    """Index of the last 20 ms frame the voice activity detector scores as speech (the last frame if none is).
    The score itself, not the detector's hysteresis: that holds on for a while after the voice stops."""
    detector = VoiceActivity(8000)
    speech = []
    for index, frame in enumerate(frames):
        detector.feed(audio.mulaw_decode(frame))
        if detector.probability >= detector.threshold:
            speech.append(index)
    return speech[-1] if speech else len(frames) - 1


@dataclass
class StreamTurn:
    """One caller turn: when its first frame and its last frame of speech were sent, when the first answer
    frame arrived after that, and (from a gateway with GATEWAY_TURN_DETAILS_HEADER) what the gateway heard,
    answered and cited."""

    started_at: float | None = None
    speech_ended_at: float | None = None
    first_frame_at: float | None = None
    details: dict = field(default_factory=dict)

    @property
    def latency_ms(self) -> float | None:
        return None if self.first_frame_at is None or self.speech_ended_at is None else (self.first_frame_at - self.speech_ended_at) * 1000

    @property
    def answer_started_s(self) -> float | None:
        """Seconds from the first frame of the caller's turn to the first frame of the answer."""
        return None if self.first_frame_at is None or self.started_at is None else self.first_frame_at - self.started_at


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
        # Frames to send, each with its turn and whether it is the turn's first frame or its last of speech.
        self._mic: asyncio.Queue[tuple[bytes, StreamTurn | None, str | None]] = asyncio.Queue()
        self._spoken = asyncio.Event()
        self._queue: list[bytes | str] = []  # frames and mark names, in play order
        self._sequence = 0
        await self._send(media_streams.connected())
        await self._send(media_streams.start(self.stream_sid, self.call_sid, self.account_sid, self.parameters))
        self._tasks = [asyncio.create_task(task) for task in (self._microphone(), self._receive(), self._player())]
        return self

    async def __aexit__(self, *exc_info) -> None:
        try:
            await self._send(media_streams.stop(self.stream_sid, self.call_sid, self.account_sid))
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
            frame, turn, moment = (SILENCE, None, None) if self._mic.empty() else self._mic.get_nowait()
            chunk += 1
            try:
                await self._send(media_streams.inbound_media(self.stream_sid, frame, chunk))
            except ConnectionClosed:
                self._spoken.set()  # the gateway hung up: nothing more can be said
                return
            if moment in ("first", "first_and_last_speech"):
                turn.started_at = time.perf_counter()
                self.turns.append(turn)
            if moment in ("last_speech", "first_and_last_speech"):
                turn.speech_ended_at = time.perf_counter()
            if self._mic.empty() and frame is not SILENCE:
                self._spoken.set()
            await asyncio.sleep(max(0.0, started + chunk * FRAME_SECONDS - time.perf_counter()))

    async def _receive(self) -> None:
        async for raw in self.ws:
            self.events.append((time.perf_counter(), json.loads(raw)))
            message = media_streams.parse_outbound(raw)
            if isinstance(message, media_streams.Media):
                turn = self.turns[-1] if self.turns else None
                if turn is not None and turn.speech_ended_at is not None and turn.first_frame_at is None:
                    turn.first_frame_at = time.perf_counter()
                self._queue.append(message.payload)
            elif isinstance(message, media_streams.Mark) and message.name.startswith(TURN_DETAILS):
                # The gateway's account of the turn (simulator only): not a mark Twilio would play.
                answered = [turn for turn in self.turns if turn.first_frame_at is not None and not turn.details]
                if answered:
                    answered[-1].details = json.loads(message.name[len(TURN_DETAILS) :])
            elif isinstance(message, media_streams.Mark):
                self._queue.append(message.name)
            elif isinstance(message, media_streams.Clear):
                marks = [item for item in self._queue if isinstance(item, str)]
                self._queue.clear()
                for name in marks:
                    await self._send(media_streams.played(self.stream_sid, name))

    async def _player(self) -> None:
        while True:
            if self._queue and isinstance(self._queue[0], str):
                await self._send(media_streams.played(self.stream_sid, self._queue.pop(0)))
                continue
            if self._queue:
                self.heard.extend(self._queue.pop(0))
            await asyncio.sleep(FRAME_SECONDS)

    @property
    def playing(self) -> bool:
        return bool(self._queue)

    async def say(self, mulaw: bytes) -> StreamTurn:
        """Speak in real time, every frame exactly as given (noise and pauses included); returns once the last
        frame is sent. The turn's latency clock starts at its last frame of speech (by voice activity, as the
        server hears it): trailing silence or noise is the wait for the end of the turn."""
        frames = [mulaw[start : start + FRAME_BYTES].ljust(FRAME_BYTES, b"\xff") for start in range(0, len(mulaw), FRAME_BYTES)]
        if not frames:
            raise ValueError("nothing to say: the audio is empty")
        last_speech = last_speech_frame(frames)
        turn = StreamTurn()
        self._spoken.clear()
        for index, frame in enumerate(frames):
            moment = {(True, True): "first_and_last_speech", (True, False): "first", (False, True): "last_speech"}.get(
                (index == 0, index == last_speech)
            )
            self._mic.put_nowait((frame, turn, moment))
        await self._spoken.wait()
        return turn

    async def press(self, digit: str) -> None:
        """A keypress, which Twilio reports on the stream."""
        await self._send(media_streams.dtmf(self.stream_sid, digit))

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
