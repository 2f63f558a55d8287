"""Finding where a caller's turn starts and ends in a live audio stream.

Twilio delivers 20 ms frames; a voice activity detector says whether each is
speech. Speech starts after `min_speech_ms` of speech frames (so a click is
not a caller). A `pause_ms` of silence reports the speech so far, so
recognition (and the answer) can start while the end of the turn is still
uncertain. How long the silence must then last depends on what was said:
with `incomplete_silence_ms` set, the endpointer stops at `end_silence_ms`
and asks for a verdict on the words so far (`decide`): a complete question
ends the turn there, an incomplete phrase ("my number is five oh three")
waits up to `incomplete_silence_ms` for the caller to go on. Without it,
`end_silence_ms` of silence always ends the turn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

FRAME_MS = 20
# Audio kept from before the detected start, so the first syllable is not clipped.
PRE_ROLL_MS = 200

SpeechDetector = Callable[[np.ndarray], bool]


@dataclass
class Utterance:
    start_seconds: float
    end_seconds: float
    samples: np.ndarray


@dataclass
class EndpointEvents:
    started_at: float | None = None
    finished: list[Utterance] = field(default_factory=list)
    # The speech so far, at a pause that may turn out to be the end of the utterance.
    paused: Utterance | None = None
    # Speech went on after a reported pause.
    resumed: bool = False
    # The pause is long enough to end a complete turn: call `decide` with the verdict on the words so far.
    undecided: Utterance | None = None


class Endpointer:
    def __init__(
        self,
        sample_rate: int,
        is_speech: SpeechDetector,
        min_speech_ms: int,
        end_silence_ms: int,
        max_utterance_seconds: float,
        pause_ms: int = 0,
        incomplete_silence_ms: int = 0,
    ) -> None:
        self.sample_rate = sample_rate
        self.frame = sample_rate * FRAME_MS // 1000
        self.is_speech = is_speech
        self.min_speech_frames = max(1, min_speech_ms // FRAME_MS)
        self.end_silence_frames = max(1, end_silence_ms // FRAME_MS)
        # 0, or not shorter than the end silence: no pauses are reported.
        self.pause_frames = pause_ms // FRAME_MS if 0 < pause_ms // FRAME_MS < self.end_silence_frames else 0
        # The longest wait after an incomplete phrase; 0 (or no pauses): every turn ends at the end silence.
        waits = self.pause_frames and incomplete_silence_ms > end_silence_ms
        self.incomplete_silence_frames = incomplete_silence_ms // FRAME_MS if waits else 0
        self.pre_roll_frames = PRE_ROLL_MS // FRAME_MS
        # A caller who never pauses still gets transcribed in pieces no longer than the batch limit.
        self.max_utterance_frames = max(1, int(max_utterance_seconds * 1000) // FRAME_MS)
        self._pending = np.zeros(0, dtype=np.float32)
        self._frames_seen = 0
        self._recent: list[np.ndarray] = []  # frames before speech started (pre-roll and candidates)
        self._speech_run = 0
        self._silence_run = 0
        self._utterance: list[np.ndarray] = []
        self._utterance_start = 0.0
        self._paused = False
        # Silence that ends the current pause: unknown (None) until `decide` is called, when verdicts are asked for.
        self._required_silence: int | None = None

    @property
    def in_speech(self) -> bool:
        return bool(self._utterance)

    @property
    def seconds_seen(self) -> float:
        return self._seconds(self._frames_seen)

    def speech_so_far(self) -> np.ndarray:
        return np.concatenate(self._utterance) if self._utterance else np.zeros(0, dtype=np.float32)

    def _seconds(self, frames: int) -> float:
        return frames * FRAME_MS / 1000

    def _fixed_end(self) -> int | None:
        return None if self.incomplete_silence_frames else self.end_silence_frames

    def feed(self, samples: np.ndarray) -> EndpointEvents:
        """Consume audio; report a speech start and any utterances that ended within it.

        Stops early (keeping the rest of the audio) when a verdict is needed: call `decide`, then `feed` again
        (an empty array continues with what is kept)."""
        events = EndpointEvents()
        self._pending = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32)])
        while len(self._pending) >= self.frame:
            frame, self._pending = self._pending[: self.frame], self._pending[self.frame :]
            self._frames_seen += 1
            speech = self.is_speech(frame)
            if self.in_speech:
                self._continue_utterance(frame, speech, events)
                if events.undecided is not None:
                    return events
                continue
            self._recent = (self._recent + [frame])[-(self.pre_roll_frames + self.min_speech_frames) :]
            self._speech_run = self._speech_run + 1 if speech else 0
            if self._speech_run >= self.min_speech_frames:
                self._utterance = list(self._recent)
                self._utterance_start = self._seconds(self._frames_seen - len(self._recent))
                self._recent, self._silence_run, self._required_silence = [], 0, self._fixed_end()
                events.started_at = self._utterance_start
        return events

    def _continue_utterance(self, frame: np.ndarray, speech: bool, events: EndpointEvents) -> None:
        self._utterance.append(frame)
        self._silence_run = 0 if speech else self._silence_run + 1
        if speech and self._paused:
            events.resumed, self._paused, self._required_silence = True, False, self._fixed_end()
        if len(self._utterance) >= self.max_utterance_frames:
            events.finished.append(self._finish())
        elif self._required_silence is not None and self._silence_run >= self._required_silence:
            events.finished.append(self._finish())
        elif self._required_silence is None and self._silence_run == self.end_silence_frames:
            events.undecided = self._so_far()
        elif self.pause_frames and self._silence_run == self.pause_frames:
            events.paused, self._paused = self._so_far(), True

    def decide(self, complete: bool) -> Utterance | None:
        """The verdict on the words before this pause: a complete turn ends now (returned); an incomplete one
        waits for the caller to go on, up to the incomplete-phrase silence."""
        if complete:
            return self._finish()
        self._required_silence = self.incomplete_silence_frames
        return None

    def _so_far(self) -> Utterance:
        # Keep only a little of the trailing silence: it adds latency to recognition, not accuracy.
        trailing = max(0, self._silence_run - self.pre_roll_frames)
        frames = self._utterance[: len(self._utterance) - trailing]
        return Utterance(self._utterance_start, self._seconds(self._frames_seen - self._silence_run), np.concatenate(frames))

    def _finish(self) -> Utterance:
        utterance = self._so_far()
        self._utterance, self._speech_run, self._silence_run, self._paused = [], 0, 0, False
        return utterance

    def flush(self) -> Utterance | None:
        """The utterance in progress when the stream ends, if any."""
        return self._finish() if self.in_speech else None
