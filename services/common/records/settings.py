"""Where the call store lives and how much the recorder may hold, from the environment (DESIGN section 9)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SQLITE_FILE_NAME = "voiceagent.db"


def default_database_url(data_dir: Path) -> str:
    """SQLite beside the org directories: `make demo` needs no database server."""
    return f"sqlite:///{Path(data_dir) / SQLITE_FILE_NAME}"


class RecordsSettings(BaseSettings):
    """`VOICEAGENT_DATABASE_URL` (default SQLite under `VOICEAGENT_DATA_DIR`) and the recorder's bounds."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default=Path("data"), validation_alias="VOICEAGENT_DATA_DIR")
    database_url_setting: str = Field(default="", validation_alias="VOICEAGENT_DATABASE_URL")
    # Records waiting for the writer thread; beyond this they go straight to the spool.
    queue_size: int = Field(default=10_000, validation_alias="VOICEAGENT_RECORDS_QUEUE_SIZE")
    # Records written while the database is down wait on disk, up to this many megabytes.
    spool_max_mb: float = Field(default=256.0, validation_alias="VOICEAGENT_RECORDS_SPOOL_MAX_MB")
    # Key for caller numbers stored hashed; unset, a random key is kept in the data directory.
    hash_key: str = Field(default="", validation_alias="VOICEAGENT_RECORDS_HASH_KEY")

    @property
    def database_url(self) -> str:
        return self.database_url_setting or default_database_url(self.data_dir)

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "records-spool"


class EventSettings(BaseSettings):
    """The event deliverer's schedule; the per-org secrets are read where they are used (records.signing)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    # How long an event is retried before it is abandoned: three days, so a receiver down over a weekend loses nothing.
    retry_hours: float = Field(default=72.0, ge=24.0, validation_alias="VOICEAGENT_EVENTS_RETRY_HOURS")
    # The first retry waits this long; each next one twice as long, up to retry_max_seconds.
    retry_first_seconds: float = Field(default=10.0, gt=0, validation_alias="VOICEAGENT_EVENTS_RETRY_FIRST_SECONDS")
    retry_max_seconds: float = Field(default=3600.0, gt=0, validation_alias="VOICEAGENT_EVENTS_RETRY_MAX_SECONDS")
    # Per attempt: a receiver that has not answered by then is treated as down.
    timeout_seconds: float = Field(default=10.0, gt=0, validation_alias="VOICEAGENT_EVENTS_TIMEOUT_SECONDS")
    # How often the outbox is asked for due events when there were none.
    poll_seconds: float = Field(default=1.0, gt=0, validation_alias="VOICEAGENT_EVENTS_POLL_SECONDS")
