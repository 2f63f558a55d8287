"""The speech-synthesiser interface."""

from __future__ import annotations

from typing import Protocol

from services.common.audio import Audio


class UnknownVoiceError(ValueError):
    """The requested voice does not exist for this backend."""


class SpeechSynthesizer(Protocol):
    # Label for metrics and cost accounting ("local", "polly").
    provider: str
    default_voice: str

    def load(self) -> None:
        """Load the voice model or check credentials; called once before SERVING."""

    def synthesize(self, text: str, voice: str, speaking_rate: float) -> Audio:
        """Audio of one sentence or short passage at the engine's own sample rate."""
        ...
