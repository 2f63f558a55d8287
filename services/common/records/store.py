"""Opening the call store: one engine per process, tuned for SQLite or PostgreSQL.

SQLite is shared by the gateway's writer thread and the CLI or console reading at the same time, so it runs
in WAL mode (readers never block the writer) with a busy timeout, and foreign keys are switched on (SQLite
leaves them off). PostgreSQL connections give up after a few seconds, so a database that is down is noticed
quickly and the recorder spools instead of waiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

CONNECT_TIMEOUT_SECONDS = 5
SQLITE_BUSY_TIMEOUT_MS = 5_000


class UnsupportedDatabaseError(ValueError):
    """The URL names a database the call store is not tested on."""


def create_store_engine(url: str, statement_timeout_ms: int | None = None) -> Engine:
    """An engine for `url` (`sqlite:///…` or `postgresql+psycopg://…`); SQLite's directory is created.

    `statement_timeout_ms` bounds how long a statement may wait: PostgreSQL's statement_timeout, SQLite's busy
    timeout (how long to wait for another connection's lock).
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    elif backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise UnsupportedDatabaseError(f"use postgresql+psycopg:// (psycopg 3), not {parsed.drivername}")
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        if statement_timeout_ms:
            connect_args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    else:
        raise UnsupportedDatabaseError(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://")
    engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    if backend == "sqlite":
        busy_timeout_ms = int(statement_timeout_ms or SQLITE_BUSY_TIMEOUT_MS)

        @event.listens_for(engine, "connect")
        def _configure_sqlite(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


class RecordStore:
    """The engine and a session factory: what the CLI, console and recorder hold."""

    def __init__(self, url: str, statement_timeout_ms: int | None = None) -> None:
        self.url = url
        self.engine = create_store_engine(url, statement_timeout_ms)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed when the block ends normally and rolled back when it raises."""
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()
