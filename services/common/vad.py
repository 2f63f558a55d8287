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
