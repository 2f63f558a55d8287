"""Console settings: `CONSOLE_*`, plus the shared names of DESIGN section 9 (RETRIEVAL_ADDR, LLM_ADDR,
RETRIEVAL_ADMIN_TOKEN, VOICEAGENT_DATA_DIR, VOICEAGENT_DATABASE_URL through RecordsSettings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.records.org_sources import SOURCE_VARIABLE, SOURCES
from services.common.settings import default_address


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore", populate_by_name=True)

    http_host: str = "0.0.0.0"
    http_port: int = 8080
    data_dir: Path = Field(default=Path("data"), validation_alias="VOICEAGENT_DATA_DIR")
    log_level: str = Field(default="INFO", validation_alias="VOICEAGENT_LOG_LEVEL")
    # Where org configs are edited: "files" (data/{org}/config.json) or "database" (see records.org_sources).
    org_configs: str = Field(default="files", validation_alias=SOURCE_VARIABLE, pattern="^(" + "|".join(SOURCES) + ")$")

    # Signs session cookies and CSRF tokens (32 bytes or more, e.g. `openssl rand -hex 32`). Unset, a random key
    # is made at start-up: sessions end when the console restarts and replicas would not share them.
    session_key: str = ""
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # Cookies only over https: on behind TLS (the Kubernetes manifests set it); off for http://127.0.0.1.
    secure_cookies: bool = False
    # This many failed sign-ins for one address within lockout_minutes lock it for lockout_minutes.
    lockout_attempts: int = Field(default=5, ge=1)
    lockout_minutes: float = Field(default=15.0, gt=0)

    retrieval_addr: str = Field(default=default_address("retrieval"), validation_alias="RETRIEVAL_ADDR")
    llm_addr: str = Field(default=default_address("llm"), validation_alias="LLM_ADDR")
    # The retrieval service's admin token(s), comma-separated as the service takes them; the first is sent.
    retrieval_admin_token: str = Field(default="", validation_alias="RETRIEVAL_ADMIN_TOKEN")
    retrieval_timeout_seconds: float = 5.0
    ingest_timeout_seconds: float = 300.0
    llm_timeout_seconds: float = 15.0
    # One upload (all its files together) may be at most this large.
    max_upload_mb: float = Field(default=25.0, gt=0)

    calls_per_page: int = Field(default=50, ge=1, le=500)

    @property
    def admin_token(self) -> str:
        return next((token.strip() for token in self.retrieval_admin_token.split(",") if token.strip()), "")
