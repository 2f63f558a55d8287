"""Speech-to-text settings (environment variables prefixed `STT_`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import DEFAULT_GRPC_PORTS, DEFAULT_METRICS_PORTS, ServiceSettings


class SttSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="STT_", extra="ignore", populate_by_name=True)

    grpc_port: int = DEFAULT_GRPC_PORTS["stt"]
    metrics_port: int = DEFAULT_METRICS_PORTS["stt"]
    backend: Literal["local", "openai"] = "local"
    # Longer recordings are refused rather than tying up a worker (a caller's turn is seconds).
    max_audio_seconds: float = Field(default=120.0, gt=0)
    # Silero VAD's speech probability that starts speech (it stops 0.15 lower); higher is stricter in noise.
    vad_threshold: float = Field(default=0.5, gt=0.15, lt=1.0)
    # Streaming: this much silence after speech ends an utterance (the main latency lever).
    end_of_speech_silence_ms: int = Field(default=600, ge=100, le=5000)
    # Streaming: the longest caller turn. A caller who talks on is answered in parts; speech that never stops
    # (a room of other people talking behind the caller) still ends a turn here.
    max_turn_seconds: float = Field(default=20.0, gt=1, le=120)
    # Streaming: shorter bursts than this are noise, not the start of speech.
    min_speech_ms: int = Field(default=120, ge=20)
    partial_interval_ms: int = Field(default=1000, ge=200)
    openai_api_key: str = Field(default="", validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    openai_model: str = Field(default="whisper-1", validation_alias="OPENAI_STT_MODEL")
    openai_timeout_seconds: float = 30.0
