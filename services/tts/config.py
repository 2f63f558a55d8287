"""Text-to-speech settings (environment variables prefixed `TTS_`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import DEFAULT_GRPC_PORTS, DEFAULT_METRICS_PORTS, ServiceSettings


class TtsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TTS_", extra="ignore", populate_by_name=True)

    grpc_port: int = DEFAULT_GRPC_PORTS["tts"]
    metrics_port: int = DEFAULT_METRICS_PORTS["tts"]
    # local: Piper (espeak-ng if Piper cannot load); espeak: espeak-ng only; polly: Amazon Polly.
    backend: Literal["local", "espeak", "polly"] = "local"
    max_text_characters: int = Field(default=3000, ge=1)
    polly_voice: str = Field(default="Joanna", validation_alias="POLLY_VOICE")
    polly_engine: str = Field(default="neural", validation_alias="POLLY_ENGINE")
    # Tests and private endpoints; empty means the AWS default for the region.
    polly_endpoint_url: str | None = Field(default=None, validation_alias="POLLY_ENDPOINT_URL")
    aws_region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    polly_timeout_seconds: float = 10.0
