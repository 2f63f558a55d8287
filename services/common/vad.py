"""Voice activity from Silero VAD: is this moment of audio a person speaking?

A loudness threshold calls steady street or car noise speech, so a noisy
caller's turn never ended. Silero VAD (MIT, its ONNX model ships inside the
`silero-vad` wheel) tells speech from noise; it runs here in the onnxruntime
the service already has, without torch (the package's own helpers import
torch, so only its model file is used). It reads 8 kHz audio natively in
32 ms windows (256 samples plus 32 of context from the window before) and
keeps a recurrent state per stream; other rates are resampled to 16 kHz.
"""

from __future__ import annotations

import importlib.util
from collections import deque
from functools import cache
from pathlib import Path

import numpy as np
import onnxruntime
import soxr

# Probability above which a window starts speech, and below which (hysteresis) speech stops: Silero's defaults.
SPEECH_THRESHOLD = 0.5
HYSTERESIS = 0.15
_WINDOW = {8000: 256, 16000: 512}
_CONTEXT = {8000: 32, 16000: 64}


class VadUnavailableError(RuntimeError):
    """The Silero model file is missing: the service cannot tell speech from noise."""


def model_path() -> Path:
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise VadUnavailableError("the silero-vad package is not installed (pip install -e .)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise VadUnavailableError(f"Silero VAD model not found at {path}")
    return path


@cache
def _session() -> onnxruntime.InferenceSession:
    """One model for every stream in the process (runs are thread-safe; the state lives in each stream)."""
    options = onnxruntime.SessionOptions()
    # A window is ~0.3 ms of work: threads would cost more to wake than they save.
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(str(model_path()), sess_options=options, providers=["CPUExecutionProvider"])


def load() -> None:
    """Load the model now (at start-up), not on the first caller's first frame."""
    _session()


class VoiceActivity:
    """Speech or not, for one audio stream fed in pieces of any size, at any sample rate."""

    def __init__(self, sample_rate: int, threshold: float = SPEECH_THRESHOLD) -> None:
        self.model_rate = sample_rate if sample_rate in _WINDOW else 16000
        self._resampler = None if sample_rate == self.model_rate else soxr.ResampleStream(sample_rate, self.model_rate, 1, dtype="float32")
        self.window = _WINDOW[self.model_rate]
        self.threshold = threshold
        self.speaking = False
        self.probability = 0.0
        self._pending = np.zeros(0, dtype=np.float32)
        self._context = np.zeros(_CONTEXT[self.model_rate], dtype=np.float32)
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._rate = np.array(self.model_rate, dtype=np.int64)

    def feed(self, samples: np.ndarray) -> bool:
        """Consume audio; whether the caller is speaking as of the last complete window."""
        samples = np.asarray(samples, dtype=np.float32)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        self._pending = np.concatenate([self._pending, samples])
        while len(self._pending) >= self.window:
            window, self._pending = self._pending[: self.window], self._pending[self.window :]
            self._update(self._probability(window))
        return self.speaking

    def _probability(self, window: np.ndarray) -> float:
        model_input = np.concatenate([self._context, window])[np.newaxis, :]
        output, self._state = _session().run(None, {"input": model_input, "state": self._state, "sr": self._rate})
        self._context = window[-len(self._context) :]
        return float(output[0, 0])

    def _update(self, probability: float) -> None:
        self.probability = probability
        if probability >= self.threshold:
            self.speaking = True
        elif probability < self.threshold - HYSTERESIS:
            self.speaking = False


def contains_speech(samples: np.ndarray, sample_rate: int, threshold: float = SPEECH_THRESHOLD) -> bool:
    """Whether any window of a recording is speech; stops at the first one (most recordings start talking)."""
    detector = VoiceActivity(sample_rate, threshold)
    step = detector.window * 8
    return any(detector.feed(samples[start : start + step]) for start in range(0, len(samples), step))


class CallerVoice:
    """Is the caller speaking? Voice activity, plus two rules for voices that are not the caller's.

    Silero calls any voice speech, including a room of other people talking behind the caller (babble), so
    a turn would never end. The caller is the voice nearest the phone, so a frame is the caller's only when
    it is also (1) within `CALLER_RANGE_DB` of the caller's own speaking level (tracked from their loudest
    speech, slowly forgetting it), and (2) when the background itself sounds like speech, at least
    `BABBLE_MARGIN_DB` above the background's level (tracked as the quietest recent 100 ms). In quiet or
    steady noise the second rule is off and the first only trims the faint tail of each word.
    """

    CALLER_RANGE_DB = 20.0
    BABBLE_MARGIN_DB = 13.0
    _SMOOTHING_FRAMES = 5  # 100 ms of 20 ms frames
    _FLOOR_FRAMES = 75  # 1.5 s: long enough to find a gap between the caller's words
    _BACKGROUND_FRAMES = 100
    _LEVEL_DECAY_DB = 0.01  # per speech frame: a caller who moves the phone away is followed within seconds

    def __init__(self, sample_rate: int, threshold: float = SPEECH_THRESHOLD) -> None:
        self.voice = VoiceActivity(sample_rate, threshold)
        self._recent_power: deque[float] = deque(maxlen=self._SMOOTHING_FRAMES)
        self._smoothed_db: deque[float] = deque(maxlen=self._FLOOR_FRAMES)
        self._background_speechlike: deque[bool] = deque(maxlen=self._BACKGROUND_FRAMES)
        self._caller_level_db = float("-inf")

    def __call__(self, frame: np.ndarray) -> bool:
        voiced = self.voice.feed(frame)
        power = float(np.mean(np.square(frame, dtype=np.float64))) if len(frame) else 0.0
        self._recent_power.append(power)
        level_db = _db(sum(self._recent_power) / len(self._recent_power))
        self._smoothed_db.append(level_db)
        floor_db = min(self._smoothed_db)
        if level_db <= floor_db + 3:  # a frame of background: does it sound like speech?
            self._background_speechlike.append(self.voice.probability >= self.voice.threshold)
        if voiced:
            self._caller_level_db = max(level_db, self._caller_level_db - self._LEVEL_DECAY_DB)
        if not voiced or level_db < self._caller_level_db - self.CALLER_RANGE_DB:
            return False
        return not self._babble() or _db(power) >= floor_db + self.BABBLE_MARGIN_DB

    def _babble(self) -> bool:
        heard = self._background_speechlike
        return len(heard) >= self._BACKGROUND_FRAMES // 4 and sum(heard) > 0.3 * len(heard)


def _db(power: float) -> float:
    return 10 * np.log10(power) if power > 0 else -200.0
