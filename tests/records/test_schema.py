"""The call store's schema: migrations build it from nothing, match the models, and services refuse a stale one."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from services.cli.main import main
from services.common.records import schema
from services.common.records.models import Base
from services.common.records.store import create_store_engine
from tests.conftest import REPO_ROOT

TABLES = {"calls", "turns", "callbacks", "handoffs", "events", "audit", "users", "sign_in_failures", "org_configs"}


def test_migrations_build_every_table_from_an_empty_database(database_url):
    schema.upgrade(database_url)
    engine = create_store_engine(database_url)
    try:
        assert TABLES <= set(inspect(engine).get_table_names())
        assert schema.current_revision(engine) == schema.head_revision()
    finally:
        engine.dispose()


def test_the_migrated_schema_matches_the_models_exactly(migrated_url):
    engine = create_store_engine(migrated_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_upgrading_twice_changes_nothing(migrated_url):
    schema.upgrade(migrated_url)
    assert schema.check_schema(migrated_url).state is schema.SchemaState.CURRENT


def test_a_service_refuses_an_empty_database_and_says_what_to_run(database_url):
    with pytest.raises(schema.SchemaNotCurrentError, match="voiceagent db upgrade"):
        schema.require_current_schema(database_url)


# One more migration after this release's head, whatever that is.
NEXT_REVISION = """
revision = "next"
down_revision = {head!r}
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
"""


def test_a_service_refuses_a_schema_behind_its_code(migrated_url, tmp_path, monkeypatch):
    # Newer code: this release's migrations plus one more.
    newer = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS_DIR, newer, ignore=shutil.ignore_patterns("__pycache__"))
    head = schema.head_revision()
    (newer / "versions" / "9999_next.py").write_text(NEXT_REVISION.format(head=head))
    monkeypatch.setattr(schema, "MIGRATIONS_DIR", newer)
    status = schema.check_schema(migrated_url)
    assert (status.state, status.current, status.head) == (schema.SchemaState.BEHIND, head, "next")
    with pytest.raises(schema.SchemaNotCurrentError, match=rf"at revision {head}, this code needs next. Run `voiceagent db upgrade`"):
        schema.require_current_schema(migrated_url)
    schema.upgrade(migrated_url)
    assert schema.require_current_schema(migrated_url).current == "next"


def test_a_service_refuses_a_schema_from_newer_code(migrated_url):
    engine = create_store_engine(migrated_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(schema.SchemaNotCurrentError, match="does not know"):
        schema.require_current_schema(migrated_url)


def test_a_current_schema_lets_the_service_start(migrated_url):
    assert schema.require_current_schema(migrated_url).state is schema.SchemaState.CURRENT


def test_an_unreachable_database_does_not_stop_a_service_but_stops_the_cli():
    nowhere = "postgresql+psycopg://nobody@127.0.0.1:9/none"
    assert schema.require_current_schema(nowhere).state is schema.SchemaState.UNREACHABLE
    with pytest.raises(schema.SchemaNotCurrentError, match="cannot be reached"):
        schema.require_current_schema(nowhere, allow_unreachable=False)


def test_voiceagent_db_upgrade_and_current(database_url, capsys):
    assert main(["db", "current", "--database-url", database_url]) == 1
    assert "behind; run `voiceagent db upgrade`" in capsys.readouterr().out
    assert main(["db", "upgrade", "--database-url", database_url]) == 0
    assert f"upgraded from an empty database to revision {schema.head_revision()}" in capsys.readouterr().out
    assert main(["db", "upgrade", "--database-url", database_url]) == 0
    assert f"already at revision {schema.head_revision()}" in capsys.readouterr().out
    assert main(["db", "status", "--json", "--database-url", database_url]) == 0
    assert '"state": "current"' in capsys.readouterr().out


def test_voiceagent_db_reads_the_database_url_from_the_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VOICEAGENT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("VOICEAGENT_DATABASE_URL", raising=False)
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "voiceagent.db").is_file()
    monkeypatch.setenv("VOICEAGENT_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    assert main(["db", "current"]) == 2
    assert "unreachable" in capsys.readouterr().out


@pytest.mark.parametrize("url,message", [("mysql://db/voiceagent", "unsupported database 'mysql'"), ("not a url", "not a URL")])
def test_voiceagent_db_names_a_database_it_cannot_use(url, message):
    with pytest.raises(SystemExit, match=message):
        main(["db", "upgrade", "--database-url", url])


@pytest.mark.slow
def test_concurrent_upgrades_on_postgresql_take_turns(postgres_server):
    # A migration Job and an operator at the same moment: separate processes, one advisory lock.
    url = postgres_server.create_database()
    command = [sys.executable, "-m", "services.cli.main", "db", "upgrade", "--database-url", url]
    runs = [subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(run.wait(timeout=120), run.stdout.read(), run.stderr.read()) for run in runs]
    assert [code for code, _, _ in results] == [0, 0, 0], results
    assert sum("upgraded from an empty database" in out for _, out, _ in results) >= 1
    assert schema.check_schema(url).state is schema.SchemaState.CURRENT
