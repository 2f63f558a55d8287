"""Retrieval service settings (environment variables prefixed `RETRIEVAL_`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import DEFAULT_GRPC_PORTS, DEFAULT_METRICS_PORTS, ServiceSettings


class RetrievalSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RETRIEVAL_", extra="ignore", populate_by_name=True)

    grpc_port: int = DEFAULT_GRPC_PORTS["retrieval"]
    metrics_port: int = DEFAULT_METRICS_PORTS["retrieval"]
    embedder: Literal["local", "openai"] = "local"
    embed_batch_size: int = Field(default=64, ge=1, le=2048)
    openai_api_key: str = Field(default="", validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    openai_embedding_model: str = Field(default="text-embedding-3-small", validation_alias="OPENAI_EMBEDDING_MODEL")
    openai_timeout_seconds: float = 30.0
    # Ingest and DeleteDocument need `authorization: Bearer <token>` metadata with one of these comma-separated
    # tokens (several during a rotation). Without any, writes are refused unless allow_open_writes is on.
    admin_token: str = ""
    # Local development only (`voiceagent up` sets it): writes without a token.
    allow_open_writes: bool = False

    @property
    def admin_tokens(self) -> list[str]:
        return [token.strip() for token in self.admin_token.split(",") if token.strip()]
    # Shards at or above this many chunks get an approximate (HNSW) index; see README "Performance".
    approximate_index_threshold: int = Field(default=50_000, ge=1)
    # Loaded shards are evicted, least recently used first, to stay under this budget.
    shard_memory_budget_mb: int = Field(default=2048, ge=1)
    max_document_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
