"""What the agent says on a Media Stream: sentences synthesised as they come, sent when allowed.

A reply can be prepared before it may be heard: when stt reports a pause
with a tentative transcript, the answer is generated and its first sentence
synthesised while the pause is being confirmed, and the reply is released
the moment the final transcript agrees (or dropped when the caller goes on).
Milestones are timed from the end of the caller's speech, which is known
only once the final arrives, so they are remembered and observed then.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from itertools import count

import grpc

from services.common import audio, media_streams
from services.common.generated.voiceagent.v1 import common_pb2, tts_pb2, tts_pb2_grpc
from services.common.logs import get_logger
from services.common.sentences import lead_phrase
from services.gateway.call_log import fallback_reasons
from services.gateway.metrics import FALLBACKS, STREAM_LATENCY

log = get_logger(__name__)

TELEPHONE = common_pb2.AudioFormat(encoding=audio.MULAW, sample_rate_hz=8000)
FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law


class Milestones:
    """When a turn reached final_transcript, first_token, first_audio and first_frame_sent."""

    def __init__(self, org_label: str) -> None:
        self.org_label = org_label
        self.reached_at: dict[str, float] = {}
        self.speech_ended_at: float | None = None

    def reach(self, name: str) -> None:
        if name in self.reached_at:
            return
        self.reached_at[name] = time.perf_counter()
        if self.speech_ended_at is not None:
            self._observe(name)

    def speech_ended(self, at: float) -> None:
        """The caller's speech ended at `at`: observe what was reached before anyone knew."""
        self.speech_ended_at = at
        for name in self.reached_at:
            self._observe(name)

    def _observe(self, name: str) -> None:
        STREAM_LATENCY.labels(name, self.org_label).observe(self._seconds(name))
        if name == "first_frame_sent":  # the last milestone of a turn: one log line with all of them
            log.info("stream.turn_latency", **{f"{reached}_ms": round(self._seconds(reached) * 1000) for reached in self.reached_at})

    def _seconds(self, name: str) -> float:
        return max(0.0, self.reached_at[name] - self.speech_ended_at)

    def as_ms(self) -> dict[str, float]:
        """Each milestone reached, in ms after the end of the caller's speech (empty before it is known)."""
        if self.speech_ended_at is None:
            return {}
        return {name: round(self._seconds(name) * 1000, 1) for name in self.reached_at}


@dataclass
class AnswerNotes:
    """What an answer was built from, filled in as it is generated: the chunks it cites, and the stages that
    fell back (as "stage:REASON")."""

    sources: list[str] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)
    # The documents did not answer, so the org's fallback was said.
    unanswered: bool = False
    # The answer ended by offering to take a message for a callback.
    offered: bool = False
    # Words that hold the caller's phone number (a read-back): stored masked, whatever the org's policy.
    private: bool = False

    def reasons(self) -> list[str]:
        return fallback_reasons(self.fallbacks, self.unanswered)


@dataclass
class Voice:
    """How and where a reply is spoken: the tts stub, the org's voice and the WebSocket sender."""

    tts: tts_pb2_grpc.TextToSpeechStub
    org_id: str
    voice: str
    call_sid: str
    timeout_seconds: float
    org_label: str
    send: Callable[[dict], Awaitable[None]]
    # Ends the stream so Twilio speaks the fallback after <Connect>.
    hand_back: Callable[[], Awaitable[None]]
    # Called with the reply when an answer (a released reply with a history entry) has been sent in full.
    answered: Callable[[Reply], Awaitable[None]]
    mark_numbers: Iterator[int] = field(default_factory=lambda: count(1))
    # The org's BCP 47 tag: tts reads phone numbers and dates the way its region does.
    language: str = ""


class Reply:
    """One thing the agent says, from its sentences to frames and marks on the WebSocket."""

    def __init__(
        self, voice: Voice, sentences: AsyncIterator[str], milestones: Milestones | None = None, question: str = "",
        notes: AnswerNotes | None = None,
    ) -> None:
        self.voice = voice
        self.milestones = milestones
        # The caller's words this reply answers (empty for greetings and fixed messages).
        self.question = question
        self.notes = notes or AnswerNotes()
        # The turn's index in the call store once recorded: a barge-in updates that turn rather than adding one.
        self.turn_index: int | None = None
        # Sentences sent so far, each with the mark that follows it.
        self.marks: list[tuple[str, str]] = []
        # The ["agent", text] history entry this reply keeps up to date, once released.
        self.entry: list[str] | None = None
        self._released = asyncio.Event()
        self.task = asyncio.create_task(self._speak(sentences))

    def release(self, entry: list[str] | None = None) -> None:
        self.entry = entry
        self._released.set()

    def cancel(self) -> None:
        self.task.cancel()

    def _reach(self, milestone: str) -> None:
        if self.milestones is not None:
            self.milestones.reach(milestone)

    async def _speak(self, sentences: AsyncIterator[str]) -> None:
        try:
            first = True
            async for sentence in sentences:
                # The first sentence is spoken in two phrases when long: synthesis time grows with length.
                for phrase in lead_phrase(sentence) if first else [sentence]:
                    if not await self._say(phrase):
                        return
                first = False
            if self.entry is not None:
                await self.voice.answered(self)
        except Exception:
            # A bug must not leave the caller in silence: hand the call back for the spoken fallback.
            log.exception("stream.reply_crashed", fallback="twiml_after_connect")
            await self.voice.hand_back()

    async def _say(self, phrase: str) -> bool:
        """Synthesise, send (once released) and mark one phrase; False when tts failed and the call was handed back."""
        voice = self.voice
        request = tts_pb2.SynthesizeRequest(org_id=voice.org_id, text=phrase, voice=voice.voice, format=TELEPHONE, language=voice.language)
        try:
            chunks = voice.tts.StreamSynthesize(request, timeout=voice.timeout_seconds, metadata=[("x-call-sid", voice.call_sid)])
            async for chunk in chunks:
                self._reach("first_audio")
                await self._released.wait()
                for start in range(0, len(chunk.audio), FRAME_BYTES):
                    await voice.send(media_streams.media(chunk.audio[start : start + FRAME_BYTES]))
                    self._reach("first_frame_sent")
        except grpc.aio.AioRpcError as error:
            # Without tts the stream cannot speak at all.
            FALLBACKS.labels("tts", error.code().name, voice.org_label).inc()
            log.warning("stream.tts_failed", code=error.code().name, fallback="twiml_after_connect")
            await voice.hand_back()
            return False
        await self._released.wait()
        mark = f"m{next(voice.mark_numbers)}"
        self.marks.append((mark, phrase))
        await voice.send(media_streams.mark(mark))
        if self.entry is not None:
            self.entry[1] = " ".join(said for _, said in self.marks)
        return True
