"""OpenAI Whisper (audio transcriptions) through the official SDK."""

from __future__ import annotations

import openai

from services.common.audio import Audio, wav_bytes
from services.common.openai_client import ProviderError, openai_client
from services.stt.backends.base import Recognition


class OpenAIWhisper:
    provider = "openai"

    def __init__(self, api_key: str, base_url: str | None, model: str, timeout_seconds: float) -> None:
        self.model = model
        self._settings = (api_key, base_url, timeout_seconds)
        self._client: openai.OpenAI | None = None

    def load(self) -> None:
        self._client = openai_client(*self._settings)

    def transcribe(self, audio: Audio, language: str) -> Recognition:
        if self._client is None:
            self.load()
        options = {"language": language.split("-")[0].lower()} if language else {}
        try:
            result = self._client.audio.transcriptions.create(
                model=self.model,
                file=("speech.wav", wav_bytes(audio), "audio/wav"),
                response_format="verbose_json",
                **options,
            )
        except openai.OpenAIError as exc:
            raise ProviderError(f"OpenAI transcription failed: {exc}") from exc
        return Recognition(text=(result.text or "").strip(), language=getattr(result, "language", "") or language)
