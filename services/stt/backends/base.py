"""The speech-recogniser interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.common.audio import Audio

# Every recogniser gets 16 kHz mono: what Moonshine and Whisper are trained on.
RECOGNIZER_RATE = 16000


@dataclass(frozen=True)
class Recognition:
    text: str
    # 0..1 where the engine reports one, else 0.
    confidence: float = 0.0
    language: str = ""


class SpeechRecognizer(Protocol):
    # Label for metrics and cost accounting ("local", "openai").
    provider: str

    def load(self) -> None:
        """Load weights or check credentials; called once before the service reports SERVING."""

    def transcribe(self, audio: Audio, language: str) -> Recognition:
        """Text of 16 kHz mono audio."""
        ...
