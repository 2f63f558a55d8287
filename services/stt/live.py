"""One live transcription: audio frames in; speech events and transcripts out, in order.

Recognition of a whole utterance takes about a quarter of its length on a
CPU, and the caller hears nothing until it is done. So when the caller
merely pauses, the speech so far is recognised at once (a *tentative*
transcript the client may prepare an answer from); if the pause becomes the
end of the utterance, that same recognition is the final transcript, and
the final arrives almost as soon as the end of speech is confirmed.

When the endpointer asks whether the words before a pause finish the turn,
that same recognition is awaited and judged (`turn_end.is_complete`); audio
arriving meanwhile waits in the stream, so nothing is lost or reordered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import numpy as np

from services.common.generated.voiceagent.v1 import stt_pb2
from services.stt.endpointing import Endpointer, Utterance
from services.stt.turn_end import is_complete

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
        # The latest tentative recognition, current or not, until it completes.
        self._recognising: asyncio.Task[stt_pb2.Transcript] | None = None

    async def feed(self, samples: np.ndarray) -> None:
        # Frame by frame, so that events within one chunk of audio are reported in the order they happened.
        for start in range(0, len(samples), self.endpointer.frame):
            await self._feed_frame(samples[start : start + self.endpointer.frame])

    async def _feed_frame(self, samples: np.ndarray) -> None:
        events = self.endpointer.feed(samples)
        if events.started_at is not None:
            self.responses.put_nowait(_event(SpeechEvent.SPEECH_STARTED, events.started_at))
            self.next_partial = self.partial_every
        if events.resumed:
            self._tentative = None  # the caller went on: that recognition is out of date
            self.responses.put_nowait(_event(SpeechEvent.SPEECH_RESUMED, self.endpointer.seconds_seen))
        if events.paused is not None:
            self.responses.put_nowait(_event(SpeechEvent.SPEECH_PAUSED, events.paused.end_seconds))
            if self._recognising is None or self._recognising.done():
                # One recognition at a time: a caller who keeps pausing does not queue up out-of-date work.
                self._start_recognition(events.paused)
                self._tentative.add_done_callback(self._send_tentative)
        for utterance in events.finished:
            await self._end(utterance)
        if events.undecided is not None:
            await self._decide(events.undecided)
        await self._maybe_partial()

    def _start_recognition(self, speech: Utterance) -> None:
        self._tentative = self._recognising = asyncio.create_task(self.recognise(speech.samples))

    async def _decide(self, speech: Utterance) -> None:
        """Does the turn end at this pause? Judged on the recognition of the speech before it (started at the
        pause, or now if another was still running then)."""
        if self._tentative is None:
            self._start_recognition(speech)
        try:
            text = (await self._tentative).text
        except Exception:
            text = ""  # the final reports the failure: end the turn now rather than wait on words we cannot read
        finished = self.endpointer.decide(is_complete(text))
        if finished is not None:
            await self._end(finished)

    async def finish(self) -> None:
        """The audio has ended: the utterance in progress, if any, is final."""
        leftover = self.endpointer.flush()
        if leftover is not None:
            await self._end(leftover)

    async def _end(self, utterance: Utterance) -> None:
        """End of an utterance. With no speech since the pause, it is what was already being recognised.
        Awaited before more audio is read, so a final always comes before the next utterance's events."""
        self.responses.put_nowait(_event(SpeechEvent.SPEECH_ENDED, utterance.end_seconds))
        recognition, self._tentative = self._tentative, None
        transcript = await recognition if recognition is not None else await self.recognise(utterance.samples)
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
