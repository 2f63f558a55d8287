"""OpenAI Whisper (audio transcriptions) through the official SDK."""

from __future__ import annotations

import openai

from services.common.audio import Audio, wav_bytes
from services.common.openai_client import OpenAIBackend, ProviderError
from services.stt.backends.base import Recognition


class OpenAIWhisper(OpenAIBackend):
    def transcribe(self, audio: Audio, language: str) -> Recognition:
        options = {"language": language.split("-")[0].lower()} if language else {}
        try:
            result = self.client.audio.transcriptions.create(
                model=self.model,
                file=("speech.wav", wav_bytes(audio), "audio/wav"),
                response_format="verbose_json",
                **options,
            )
        except openai.OpenAIError as exc:
            raise ProviderError(f"OpenAI transcription failed: {exc}") from exc
        return Recognition(text=(result.text or "").strip(), language=getattr(result, "language", "") or language)
