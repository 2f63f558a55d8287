"""Alembic's entry point for the call store; run through services.common.records.schema, never by hand.

`render_as_batch` lets later migrations alter columns on SQLite too (it rebuilds the table), so one script
serves both databases.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from services.common.records.models import Base
from services.common.records.store import create_store_engine

config = context.config


def run_migrations() -> None:
    engine: Engine | None = config.attributes.get("engine")
    owned = engine is None
    if engine is None:
        engine = create_store_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as connection:
            context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, compare_type=True)
            context.run_migrations()
    finally:
        if owned:
            engine.dispose()


if context.is_offline_mode():
    raise SystemExit("the call store's migrations run online only: use `voiceagent db upgrade`")
run_migrations()
