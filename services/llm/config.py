"""Answer-generation settings (environment variables prefixed `LLM_`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import DEFAULT_GRPC_PORTS, DEFAULT_METRICS_PORTS, ServiceSettings


class LlmSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LLM_", extra="ignore", populate_by_name=True)

    grpc_port: int = DEFAULT_GRPC_PORTS["llm"]
    metrics_port: int = DEFAULT_METRICS_PORTS["llm"]
    backend: Literal["extractive", "openai"] = "extractive"
    max_tokens: int = Field(default=150, ge=16, le=4096)
    max_sentences: int = Field(default=3, ge=1, le=10)
    temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    max_question_characters: int = Field(default=2000, ge=1)
    openai_api_key: str = Field(default="", validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    openai_model: str = Field(default="gpt-4o", validation_alias="OPENAI_CHAT_MODEL")
    openai_timeout_seconds: float = 20.0
