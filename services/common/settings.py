"""Typed settings read from the environment, with defaults that run offline.

Each service subclasses `ServiceSettings` with its own `env_prefix`, so
`RETRIEVAL_GRPC_PORT` configures retrieval and `STT_GRPC_PORT` speech-to-text;
the names are a public interface (DESIGN section 9).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Default ports, one table so services, the CLI and manifests agree.
DEFAULT_GRPC_PORTS: dict[str, int] = {"stt": 50051, "retrieval": 50052, "llm": 50053, "tts": 50054}
DEFAULT_METRICS_PORTS: dict[str, int] = {"stt": 9091, "retrieval": 9092, "llm": 9093, "tts": 9094}


def default_address(service: str) -> str:
    """Where a client finds `service` when `<NAME>_ADDR` is not set."""
    return f"127.0.0.1:{DEFAULT_GRPC_PORTS[service]}"


class ServiceSettings(BaseSettings):
    """What every gRPC service needs: where to listen, where data lives, how to stop."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    grpc_host: str = "0.0.0.0"
    grpc_port: int
    # 0 disables the metrics endpoint (used by tests that run several servers in one process).
    metrics_port: int
    data_dir: Path = Field(default=Path("data"), validation_alias="VOICEAGENT_DATA_DIR")
    log_level: str = Field(default="INFO", validation_alias="VOICEAGENT_LOG_LEVEL")
    # In-flight calls get this long to finish after SIGTERM before they are cancelled.
    shutdown_grace_seconds: float = 10.0
    max_message_bytes: int = 64 * 1024 * 1024
