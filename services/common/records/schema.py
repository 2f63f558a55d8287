"""Migrations, run from code: `voiceagent db upgrade` applies them, services check them at start-up.

The Alembic scripts ship inside this package (`migrations/`), so there is no alembic.ini to find and an
installed wheel migrates as well as a checkout. A service must never run against a schema older than its
code (it would fail on the first write, mid-call), so `require_current_schema` refuses to start and says
what to run; a database it cannot reach is a different matter (the recorder spools until it is back).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from services.common.logs import get_logger
from services.common.records.store import create_store_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
UPGRADE_COMMAND = "voiceagent db upgrade"

log = get_logger(__name__)


class SchemaState(enum.StrEnum):
    CURRENT = "current"
    BEHIND = "behind"  # includes a database with no tables yet
    AHEAD = "ahead"  # written by newer code: this code does not know its revision
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class SchemaStatus:
    state: SchemaState
    current: str | None
    head: str
    detail: str = ""


class SchemaNotCurrentError(RuntimeError):
    """The database's schema does not match this code; the message says what to run."""


def alembic_config(url: str, engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic's config is ConfigParser-backed: a literal "%" in a password must be doubled.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "the records package ships no migrations"
    return head


def upgrade(url: str, revision: str = "head") -> None:
    """Apply every migration up to `revision` (idempotent: a current schema is left alone)."""
    engine = create_store_engine(url)
    try:
        command.upgrade(alembic_config(url, engine), revision)
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_schema(url: str) -> SchemaStatus:
    """Where the database's schema stands against this code's migrations."""
    head = head_revision()
    engine = create_store_engine(url)
    try:
        current = current_revision(engine)
    except OperationalError as error:
        return SchemaStatus(SchemaState.UNREACHABLE, None, head, str(error.orig or error).strip().splitlines()[0])
    finally:
        engine.dispose()
    if current == head:
        return SchemaStatus(SchemaState.CURRENT, current, head)
    known = {script.revision for script in ScriptDirectory.from_config(alembic_config(url)).walk_revisions()}
    if current is not None and current not in known:
        return SchemaStatus(SchemaState.AHEAD, current, head)
    return SchemaStatus(SchemaState.BEHIND, current, head)


def require_current_schema(url: str, allow_unreachable: bool = True) -> SchemaStatus:
    """Called by a service at start-up: raises SchemaNotCurrentError unless the schema matches this code.

    An unreachable database passes when `allow_unreachable` (the recorder spools until it is back, and a
    call must not depend on it), with a warning; the CLI passes False.
    """
    status = check_schema(url)
    if status.state is SchemaState.CURRENT:
        return status
    if status.state is SchemaState.UNREACHABLE:
        if allow_unreachable:
            log.warning("records.database_unreachable", detail=status.detail)
            return status
        raise SchemaNotCurrentError(f"the call store cannot be reached: {status.detail}")
    if status.state is SchemaState.AHEAD:
        raise SchemaNotCurrentError(
            f"the call store's schema is at revision {status.current}, which this code does not know "
            f"(its newest is {status.head}): run a newer voiceagent, or downgrade the database"
        )
    at = f"revision {status.current}" if status.current else "no revision (an empty database)"
    raise SchemaNotCurrentError(
        f"the call store's schema is behind: it is at {at}, this code needs {status.head}. Run `{UPGRADE_COMMAND}`"
        " (with the same VOICEAGENT_DATABASE_URL) before starting the service."
    )
