"""Alembic's entry point for the call store; run through services.common.records.schema, never by hand.

`render_as_batch` lets later migrations alter columns on SQLite too (it rebuilds the table), so one script
serves both databases. On PostgreSQL the migration holds an advisory lock for its transaction: a migration
Job and an operator running `voiceagent db upgrade` at the same moment take turns instead of colliding.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, text

from services.common.records.models import Base
from services.common.records.store import create_store_engine

config = context.config
# Any fixed number: every voiceagent migrator asks for the same lock.
MIGRATION_LOCK_ID = 0x766F_6963_6561_6765


def run_migrations() -> None:
    engine: Engine | None = config.attributes.get("engine")
    owned = engine is None
    if engine is None:
        engine = create_store_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": MIGRATION_LOCK_ID})
            context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, compare_type=True)
            context.run_migrations()
    finally:
        if owned:
            engine.dispose()


if context.is_offline_mode():
    raise SystemExit("the call store's migrations run online only: use `voiceagent db upgrade`")
run_migrations()
