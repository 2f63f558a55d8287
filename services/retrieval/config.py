"""Retrieval service settings (environment variables prefixed `RETRIEVAL_`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
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
    # Where shards live: `file` (data/{org}/vector_store, one replica) or `s3://bucket/prefix` (any S3-compatible
    # store shared by every replica; the endpoint from AWS_ENDPOINT_URL, credentials from the usual AWS variables).
    store: str = "file"
    # A loaded shard is checked against the store's pointer at most this often; a newer version is swapped in.
    refresh_seconds: float = Field(default=5.0, gt=0)
    # Versions kept in the store (the current one included); older ones are removed after each write.
    keep_versions: int = Field(default=2, ge=1)
    # Local copies of shards fetched from object storage; default `{VOICEAGENT_DATA_DIR}/.shard-cache`.
    cache_dir: Path | None = None
    aws_endpoint_url: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL")
    aws_region: str = Field(default="us-east-1", validation_alias="AWS_REGION")

    @field_validator("store")
    @classmethod
    def _store_is_file_or_s3(cls, value: str) -> str:
        if value != "file" and not (value.startswith("s3://") and len(value) > len("s3://")):
            raise ValueError("RETRIEVAL_STORE must be 'file' or 's3://bucket/prefix'")
        return value

    @property
    def shard_cache_dir(self) -> Path:
        return self.cache_dir or self.data_dir / ".shard-cache"
