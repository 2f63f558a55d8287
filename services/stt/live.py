"""One live transcription: audio frames in; speech events and transcripts out, in order.

Recognition of a whole utterance takes about a quarter of its length on a
CPU, and the caller hears nothing until it is done. So when the caller
merely pauses, the speech so far is recognised at once (a *tentative*
transcript the client may prepare an answer from); if the pause becomes the
end of the utterance, that same recognition is the final transcript, and
the final arrives almost as soon as the end of speech is confirmed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import numpy as np

from services.common.generated.voiceagent.v1 import stt_pb2
from services.stt.endpointing import Endpointer

Recognise = Callable[[np.ndarray], Awaitable[stt_pb2.Transcript]]
Response = stt_pb2.StreamTranscribeResponse
SpeechEvent = stt_pb2.SpeechEvent


def _event(kind: int, offset: float) -> Response:
    return Response(event=SpeechEvent(kind=kind, offset_seconds=offset))


class LiveTranscription:
    def __init__(self, endpointer: Endpointer, recognise: Recognise, sample_rate: int, partial_every_seconds: float | None) -> None:
        self.endpointer = endpointer
        self.recognise = recognise
        self.sample_rate = sample_rate
        self.partial_every = partial_every_seconds
        self.next_partial = partial_every_seconds
        # Responses for the client; None once the stream is over.
        self.responses: asyncio.Queue[Response | None] = asyncio.Queue()
        # Recognition of the speech before the current pause, while that pause lasts.
        self._tentative: asyncio.Task[stt_pb2.Transcript] | None = None

    async def feed(self, samples: np.ndarray) -> None:
        events = self.endpointer.feed(samples)
        if events.started_at is not None:
            self.responses.put_nowait(_event(SpeechEvent.SPEECH_STARTED, events.started_at))
            self.next_partial = self.partial_every
        if events.resumed:
            self._tentative = None  # the caller went on: that recognition is out of date
            self.responses.put_nowait(_event(SpeechEvent.SPEECH_RESUMED, self.endpointer.seconds_seen))
        if events.paused is not None:
            self._tentative = asyncio.create_task(self.recognise(events.paused.samples))
            self._tentative.add_done_callback(self._send_tentative)
        for utterance in events.finished:
            self.responses.put_nowait(_event(SpeechEvent.SPEECH_ENDED, utterance.end_seconds))
            # No speech since the pause: the utterance is what was already being recognised.
            recognition, self._tentative = self._tentative, None
            await self._send_final(await recognition if recognition is not None else await self.recognise(utterance.samples))
        await self._maybe_partial()

    async def finish(self) -> None:
        """The audio has ended: the utterance in progress, if any, is final."""
        leftover = self.endpointer.flush()
        if leftover is not None:
            self.responses.put_nowait(_event(SpeechEvent.SPEECH_ENDED, leftover.end_seconds))
            self._tentative = None
            await self._send_final(await self.recognise(leftover.samples))

    async def _send_final(self, transcript: stt_pb2.Transcript) -> None:
        if transcript.text:
            self.responses.put_nowait(Response(final=transcript))

    def _send_tentative(self, task: asyncio.Task[stt_pb2.Transcript]) -> None:
        if task.cancelled() or task.exception() is not None or task is not self._tentative:
            return  # out of date, or failed: the final (which awaits this task) reports the failure
        if task.result().text:
            self.responses.put_nowait(Response(tentative=task.result()))

    async def _maybe_partial(self) -> None:
        if self.partial_every is None or not self.endpointer.in_speech:
            return
        speech = self.endpointer.speech_so_far()
        if len(speech) / self.sample_rate >= self.next_partial:
            self.next_partial += self.partial_every
            self.responses.put_nowait(Response(partial=await self.recognise(speech)))
