"""A live transcription: the order of events and transcripts, and recognition started at a pause."""

import asyncio

import numpy as np

from services.common.generated.voiceagent.v1 import stt_pb2
from services.stt.endpointing import Endpointer
from services.stt.live import LiveTranscription
from tests.unit.test_endpointing import RATE, loud, silence, speech

SpeechEvent = stt_pb2.SpeechEvent
FRAME = RATE // 50


class WordsRecogniser:
    """Hears the given words, one recognition after another."""

    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)
        self.calls = 0

    async def __call__(self, samples: np.ndarray) -> stt_pb2.Transcript:
        self.calls += 1
        return stt_pb2.Transcript(text=self.texts[min(self.calls, len(self.texts)) - 1])


class SlowRecogniser:
    """Names the audio by its length after `seconds`, as a recogniser on a busy CPU would take time."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = self.in_flight = self.most_in_flight = 0

    async def __call__(self, samples: np.ndarray) -> stt_pb2.Transcript:
        self.calls += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(self.seconds)
        self.in_flight -= 1
        return stt_pb2.Transcript(text=f"{len(samples) / RATE:.2f} seconds")


def describe(response: stt_pb2.StreamTranscribeResponse) -> tuple[str, str]:
    kind = response.WhichOneof("response")
    if kind == "event":
        return kind, SpeechEvent.Kind.Name(response.event.kind)
    return kind, getattr(response, kind).text


async def transcribe(
    signal: np.ndarray, recogniser: SlowRecogniser, pause_ms: int, frame_seconds: float, chunk: int = FRAME,
    end_silence_ms: int = 600, incomplete_silence_ms: int = 0,
) -> list[tuple[str, str]]:
    """Feed chunks of 20 ms `frame_seconds` apart (0.02 is real time); everything the client would receive."""
    endpointer = Endpointer(
        RATE, loud, min_speech_ms=120, end_silence_ms=end_silence_ms, max_utterance_seconds=30, pause_ms=pause_ms,
        incomplete_silence_ms=incomplete_silence_ms,
    )
    live = LiveTranscription(endpointer, recogniser, RATE, partial_every_seconds=None)
    for offset in range(0, len(signal), chunk):
        await live.feed(signal[offset : offset + chunk])
        await asyncio.sleep(frame_seconds)
    await live.finish()
    live.responses.put_nowait(None)
    received = []
    while (response := live.responses.get_nowait()) is not None:
        received.append(describe(response))
    return received


def test_a_pause_that_ends_the_turn_is_recognised_once_and_early():
    recogniser = SlowRecogniser(0.1)
    received = asyncio.run(transcribe(np.concatenate([speech(1.0), silence(1.0)]), recogniser, pause_ms=200, frame_seconds=0.005))
    assert [kind for kind, _ in received] == ["event", "event", "tentative", "event", "final"]
    assert received[0] == ("event", "SPEECH_STARTED") and received[1] == ("event", "SPEECH_PAUSED")
    assert received[3] == ("event", "SPEECH_ENDED")
    assert received[2][1] == received[4][1]  # the final is the recognition started at the pause
    assert recogniser.calls == 1


def test_speech_after_a_pause_discards_its_transcript():
    recogniser = SlowRecogniser(0.02)
    signal = np.concatenate([speech(1.0), silence(0.3), speech(0.6), silence(1.0)])
    received = asyncio.run(transcribe(signal, recogniser, pause_ms=200, frame_seconds=0.005))
    assert [description for description in received if description[0] == "event"] == [
        ("event", "SPEECH_STARTED"), ("event", "SPEECH_PAUSED"), ("event", "SPEECH_RESUMED"), ("event", "SPEECH_PAUSED"),
        ("event", "SPEECH_ENDED"),
    ]
    tentative = [text for kind, text in received if kind == "tentative"]
    final = [text for kind, text in received if kind == "final"]
    assert len(tentative) == 2 and final == tentative[-1:]
    assert received.index(("event", "SPEECH_RESUMED")) > received.index(("tentative", tentative[0]))


def test_a_recognition_still_running_at_the_end_of_the_turn_is_awaited_not_repeated():
    recogniser = SlowRecogniser(0.5)  # much slower than the 400 ms between the pause and the end, fed at 4x real time
    received = asyncio.run(transcribe(np.concatenate([speech(1.0), silence(1.0)]), recogniser, pause_ms=200, frame_seconds=0.005))
    assert [kind for kind, _ in received] == ["event", "event", "event", "final"]  # too late to be worth a tentative
    assert recogniser.calls == 1


def test_without_pauses_the_end_of_speech_starts_recognition():
    recogniser = SlowRecogniser(0.01)
    received = asyncio.run(transcribe(np.concatenate([speech(1.0), silence(1.0)]), recogniser, pause_ms=0, frame_seconds=0))
    assert [kind for kind, _ in received] == ["event", "event", "final"]
    assert recogniser.calls == 1


def test_silence_has_no_events_and_no_recognition():
    recogniser = SlowRecogniser(0.01)
    assert asyncio.run(transcribe(silence(2.0), recogniser, pause_ms=200, frame_seconds=0)) == []
    assert recogniser.calls == 0


def test_a_caller_who_keeps_pausing_has_one_recognition_in_flight_at_a_time():
    recogniser = SlowRecogniser(0.6)
    # Eight pauses of 240 ms, one every half second: each would start a recognition that takes longer.
    halting = np.concatenate([np.concatenate([speech(0.26), silence(0.24)]) for _ in range(8)] + [silence(1.0)])
    received = asyncio.run(transcribe(halting, recogniser, pause_ms=200, frame_seconds=0.02))
    assert received.count(("event", "SPEECH_RESUMED")) >= 4 and received[-1][0] == "final"
    assert recogniser.most_in_flight == 1 and recogniser.calls < 8


def test_events_in_one_large_chunk_come_in_the_order_they_happened():
    recogniser = SlowRecogniser(0.0)
    signal = np.concatenate([speech(1.0), silence(0.8), speech(1.0), silence(0.8)])
    received = asyncio.run(transcribe(signal, recogniser, pause_ms=0, frame_seconds=0, chunk=len(signal)))
    assert received == [
        ("event", "SPEECH_STARTED"), ("event", "SPEECH_ENDED"), ("final", received[2][1]),
        ("event", "SPEECH_STARTED"), ("event", "SPEECH_ENDED"), ("final", received[5][1]),
    ]


def test_a_complete_question_ends_the_turn_at_the_short_silence():
    recogniser = WordsRecogniser("What time do you open on Saturday?")
    signal = np.concatenate([speech(1.0), silence(0.3)])
    received = asyncio.run(transcribe(signal, recogniser, pause_ms=150, frame_seconds=0, end_silence_ms=250, incomplete_silence_ms=1500))
    assert received[-2:] == [("event", "SPEECH_ENDED"), ("final", "What time do you open on Saturday?")]


def test_an_unfinished_phrase_keeps_the_turn_open_until_the_caller_goes_on():
    recogniser = WordsRecogniser("My number is five oh three", "My number is five oh three five five five oh one four two")
    signal = np.concatenate([speech(1.0), silence(0.9), speech(1.0), silence(0.4)])
    received = asyncio.run(transcribe(signal, recogniser, pause_ms=150, frame_seconds=0, end_silence_ms=250, incomplete_silence_ms=1500))
    events = [text for kind, text in received if kind == "event"]
    assert events == ["SPEECH_STARTED", "SPEECH_PAUSED", "SPEECH_RESUMED", "SPEECH_PAUSED", "SPEECH_ENDED"]
    assert [text for kind, text in received if kind == "final"] == ["My number is five oh three five five five oh one four two"]


def test_a_caller_who_never_finishes_the_phrase_is_answered_after_the_longest_wait():
    async def finals_after(silence_seconds: float) -> list[str]:
        """Finals sent while the stream is still open (no end-of-audio flush)."""
        endpointer = Endpointer(RATE, loud, 120, 250, 30, pause_ms=150, incomplete_silence_ms=1500)
        live = LiveTranscription(endpointer, WordsRecogniser("I'd like to book a repair for"), RATE, partial_every_seconds=None)
        await live.feed(np.concatenate([speech(1.0), silence(silence_seconds)]))
        live.responses.put_nowait(None)
        received = []
        while (response := live.responses.get_nowait()) is not None:
            received.append(describe(response))
        return [text for kind, text in received if kind == "final"]

    assert asyncio.run(finals_after(1.4)) == []
    assert asyncio.run(finals_after(1.6)) == ["I'd like to book a repair for"]
