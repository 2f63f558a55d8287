"""Speech recognisers behind one interface, chosen by `STT_BACKEND`."""

from __future__ import annotations

from services.stt.backends.base import Recognition, SpeechRecognizer
from services.stt.config import SttSettings

__all__ = ["Recognition", "SpeechRecognizer", "create_recognizer"]


def create_recognizer(settings: SttSettings) -> SpeechRecognizer:
    """The configured recogniser; imports its engine only when it is the one chosen."""
    if settings.backend == "openai":
        from services.stt.backends.openai import OpenAIWhisper

        return OpenAIWhisper(settings.openai_api_key, settings.openai_base_url, settings.openai_model, settings.openai_timeout_seconds)
    from services.stt.backends.moonshine import MoonshineRecognizer

    return MoonshineRecognizer()
