"""Running caller turns through the stt service's live endpointing and judging where each turn ended.

The live transcription (voice activity, pauses, the end-of-turn verdict,
recognition) runs in-process exactly as in the service, fed 20 ms frames as
fast as it takes them. Time on a real line is reconstructed: a transcript
recognised from a pause at stream time P, taking d seconds of CPU, is ready
at P + d; the turn's end is known at the later of that and the moment the
endpointer ended it. Recognitions are cached by audio, so candidates that
hear the same speech pay (and are charged) the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from bench.turn_taking.corpus import RATE, Turn
from services.common import audio
from services.common.audio import Audio
from services.common.generated.voiceagent.v1 import stt_pb2
from services.common.vad import VoiceActivity
from services.stt.endpointing import Endpointer
from services.stt.live import LiveTranscription

FRAME = RATE // 50
SpeechEvent = stt_pb2.SpeechEvent
# An end reported this long before the true end of speech is a cut-off, not endpointing jitter.
CUT_TOLERANCE_SECONDS = 0.05


@dataclass(frozen=True)
class Candidate:
    """One way of ending turns: the detector of speech frames and the endpointer's timing."""

    name: str
    detector: str  # "vad" (voice activity, the service's) or "energy" (the loudness rule of before)
    end_silence_ms: int
    pause_ms: int = 200
    incomplete_silence_ms: int = 0

    def endpointer(self) -> Endpointer:
        if self.detector == "vad":
            detect: Callable[[np.ndarray], bool] = VoiceActivity(RATE).feed
        else:
            detect = lambda frame: audio.rms_dbfs(frame) >= audio.SPEECH_DBFS  # noqa: E731 - the loudness rule of before
        return Endpointer(RATE, detect, 120, self.end_silence_ms, 60, self.pause_ms, self.incomplete_silence_ms)


@dataclass
class Outcome:
    turn: Turn
    # Stream times at which the turn was ended (with its transcript ready), and the transcripts.
    ends: list[float] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0

    @property
    def cut_off(self) -> bool:
        """Ended before the caller finished: inside a pause, or anywhere before the true end of speech."""
        return any(end < self.turn.speech_end - CUT_TOLERANCE_SECONDS for end in self.ends)

    @property
    def never_ended(self) -> bool:
        return not any(end >= self.turn.speech_end - CUT_TOLERANCE_SECONDS for end in self.ends)

    @property
    def latency(self) -> float | None:
        """Seconds from the true end of speech to the end of the turn (with its transcript)."""
        after = [end for end in self.ends if end >= self.turn.speech_end - CUT_TOLERANCE_SECONDS]
        return after[0] - self.turn.speech_end if after else None


class CachedRecogniser:
    """The offline recogniser, timed; the same audio is recognised once and costs the same every time."""

    def __init__(self, recognizer) -> None:
        self.recognizer = recognizer
        self.cache: dict[str, tuple[str, float]] = {}
        # CPU seconds actually spent recognising (cache misses), so the rest of a run's CPU can be told apart.
        self.spent = 0.0

    def recognise(self, samples: np.ndarray) -> tuple[str, float]:
        key = hashlib.sha1(samples.tobytes()).hexdigest()
        if key not in self.cache:
            started = time.process_time()
            text = self.recognizer.transcribe(Audio(samples, RATE).resampled(16000), "").text
            self.cache[key] = (text, time.process_time() - started)
            self.spent += self.cache[key][1]
        return self.cache[key]


async def run_turn(turn: Turn, candidate: Candidate, recogniser: CachedRecogniser) -> Outcome:
    outcome = Outcome(turn)
    endpointer = candidate.endpointer()
    # When each recognition was asked for (stream seconds) and how long it took.
    started: list[tuple[float, float]] = []

    async def recognise(samples: np.ndarray) -> stt_pb2.Transcript:
        text, seconds = recogniser.recognise(samples)
        started.append((endpointer.seconds_seen, seconds))
        return stt_pb2.Transcript(text=text)

    live = LiveTranscription(endpointer, recognise, RATE, partial_every_seconds=None)
    line = audio.mulaw_decode(turn.mulaw())
    cpu, recognising = time.process_time(), recogniser.spent
    for offset in range(0, len(line), FRAME):
        await live.feed(line[offset : offset + FRAME])
        while not live.responses.empty():
            response = live.responses.get_nowait()
            if response.WhichOneof("response") == "final":
                asked, seconds = started[-1]
                outcome.ends.append(max(endpointer.seconds_seen, asked + seconds))
                outcome.texts.append(response.final.text)
    outcome.cpu_seconds = time.process_time() - cpu - (recogniser.spent - recognising)
    return outcome


def evaluate(turns: list[Turn], candidate: Candidate, recogniser: CachedRecogniser) -> list[Outcome]:
    async def run_all() -> list[Outcome]:
        return [await run_turn(turn, candidate, recogniser) for turn in turns]

    return asyncio.run(run_all())


@dataclass
class Summary:
    turns: int
    cut_offs: int
    incomplete_turns: int
    never_ended: int
    p50_ms: float
    p95_ms: float
    complete_p50_ms: float
    cpu_percent: float  # of one core, per second of call audio, for voice activity and the end-of-turn logic


def summarise(outcomes: list[Outcome]) -> Summary:
    paused = [o for o in outcomes if o.turn.utterance.kind != "complete"]
    latencies = [o.latency * 1000 for o in outcomes if o.latency is not None and not o.cut_off]
    complete = [o.latency * 1000 for o in outcomes if o.turn.utterance.kind == "complete" and o.latency is not None]
    audio_seconds = sum(len(o.turn.samples) / RATE for o in outcomes)

    def percentile(values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) if values else float("nan")

    return Summary(
        turns=len(outcomes),
        cut_offs=sum(o.cut_off for o in paused),
        incomplete_turns=len(paused),
        never_ended=sum(o.never_ended for o in outcomes),
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        complete_p50_ms=percentile(complete, 50),
        cpu_percent=100 * sum(o.cpu_seconds for o in outcomes) / audio_seconds,
    )
