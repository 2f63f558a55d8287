"""The call store under test: every test that takes `database_url` runs on SQLite and on a real PostgreSQL.

The PostgreSQL server is started once per session (initdb into a temporary directory); each test gets a
fresh database in it. Those cases are marked slow: they need the server binaries and start a process.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.common.records import schema
from services.common.records.privacy import CallerNumberHasher, OrgPolicies
from services.common.records.recorder import CallRecorder, RetryPolicy
from services.common.records.spool import Spool
from services.common.records.store import RecordStore
from tests.conftest import copy_sample_org
from tests.postgres import PostgresServer, missing_reason

HASH_KEY = b"test-key-0123456789abcdef"
# Orgs with each records policy; "acme" keeps the defaults (transcripts redacted, caller number hashed).
ORG_POLICIES = {
    "acme": None,
    "open": {"transcripts": "full", "caller_number": "full"},
    "quiet": {"transcripts": "none", "caller_number": "none"},
    "partial": {"transcripts": "redacted", "caller_number": "last4"},
}


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    server = PostgresServer().start()
    yield server
    server.cleanup()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'voiceagent.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
def migrated_url(database_url: str) -> str:
    schema.upgrade(database_url)
    return database_url


@pytest.fixture
def store(migrated_url: str) -> Iterator[RecordStore]:
    store = RecordStore(migrated_url)
    yield store
    store.close()


def update_org_config(data_dir: Path, org_id: str, **changes: object) -> None:
    """Change top-level fields of an org's config.json (records threads re-read it when it changes)."""
    path = data_dir / org_id / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Org configs with each records policy."""
    root = tmp_path / "data"
    root.mkdir()
    for org_id, policy in ORG_POLICIES.items():
        config_path = copy_sample_org(root, org_id) / "config.json"
        if policy is not None:
            config = json.loads(config_path.read_text())
            config["records"] = policy
            config_path.write_text(json.dumps(config))
    return root


RecorderFactory = Callable[..., CallRecorder]


@pytest.fixture
def make_recorder_for(data_dir: Path, tmp_path: Path) -> Iterator[Callable[..., CallRecorder]]:
    """Recorders on a given database, spooling under the test's directory; all closed at the end."""
    made: list[CallRecorder] = []

    def make(url: str, statement_timeout_ms: int | None = 2_000, spool_max_bytes: int = 64 * 1024 * 1024, **options: object) -> CallRecorder:
        recorder = CallRecorder(
            RecordStore(url, statement_timeout_ms=statement_timeout_ms),
            Spool(tmp_path / "spool", max_bytes=spool_max_bytes),
            OrgPolicies(data_dir),
            CallerNumberHasher(HASH_KEY),
            retry=RetryPolicy(first=0.05, longest=0.5),
            **options,
        ).start()
        made.append(recorder)
        return recorder

    yield make
    for recorder in made:
        recorder.close(timeout=2)


@pytest.fixture
def make_recorder(migrated_url: str, make_recorder_for: Callable[..., CallRecorder]) -> Callable[..., CallRecorder]:
    """Recorders on the test's (migrated) database."""
    return lambda **options: make_recorder_for(migrated_url, **options)
