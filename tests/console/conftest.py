"""The console in-process (FastAPI's TestClient) over a real call store, on SQLite and on PostgreSQL.

Two orgs, acme and beta, each with calls, callbacks and documents, and users of every kind. The retrieval and
llm services are replaced by an in-memory knowledge base here; the browser test runs the real ones.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from services.common.records import users
from services.common.records.org_sources import FileOrgConfigs
from services.common.records.store import RecordStore
from services.common.records.users import create_user
from services.console.app import create_app
from services.console.config import ConsoleSettings
from services.console.gap_finder import GapFinder
from services.console.sign_in import LockoutPolicy
from services.console.state import Console
from services.console.tokens import TokenSigner
from tests.conftest import copy_sample_org
from tests.console.fake_knowledge import FakeKnowledge
from tests.console.seed import SeededCall, add_callback, add_calls, add_event
from tests.records.conftest import database_url, migrated_url, postgres_server, store  # noqa: F401 - fixtures used here

PASSWORD = "correct horse battery staple"
SESSION_KEY = "k" * 32
NOW = datetime.now(UTC)
# Before now and after midnight (UTC), so the seeded calls are today's and this week's whenever the tests run.
SEEDED_AT = NOW - (NOW - NOW.replace(hour=0, minute=0, second=0, microsecond=0)) / 2
USERS = {
    "admin@acme.test": ("admin", "acme"),
    "viewer@acme.test": ("viewer", "acme"),
    "admin@beta.test": ("admin", "beta"),
    "root@example.test": ("admin", None),
}
ACME_CALL = "CA" + "a" * 32
ACME_GAP_CALL = "CA" + "b" * 32
BETA_CALL = "CA" + "9" * 32


def word_vectors(texts: list[str]) -> np.ndarray:
    """A stand-in for MiniLM: each word hashed to a dimension (the same words, the same direction)."""
    vectors = np.zeros((len(texts), 64), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()):
            vectors[row, int(hashlib.sha256(word.encode()).hexdigest(), 16) % 64] += 1.0
    return vectors


@dataclass
class ConsoleWorld:
    app_state: Console
    data_dir: Path
    knowledge: FakeKnowledge
    callbacks: dict[str, uuid.UUID] = field(default_factory=dict)

    @property
    def store(self) -> RecordStore:
        return self.app_state.store


@pytest.fixture(autouse=True)
def quick_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with its cheapest parameters: the same code path, without half a second per user on this machine."""
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


@pytest.fixture
def console_data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    for org_id in ("acme", "beta"):
        copy_sample_org(root, org_id)
    return root


def seed_world(records: RecordStore) -> dict[str, uuid.UUID]:
    at = SEEDED_AT
    add_calls(records, [
        SeededCall(ACME_CALL, "acme", at, "completed", [("When are you open on Saturday?", "We open at nine.", ["hours.md#0"], None, 900.0)]),
        SeededCall(ACME_GAP_CALL, "acme", at - timedelta(seconds=1), "callback",
                   [("Do you fix unicycles?", "I'm not sure about that one.", [], ["not_in_documents"], 1200.0)]),
        SeededCall(BETA_CALL, "beta", at, "completed", [("Beta's secret question?", "Beta's secret answer.", ["beta-secrets.md#0"], None, 800.0)]),
    ])  # fmt: skip
    add_event(records, "acme", ACME_CALL, at)
    return {
        "acme": add_callback(records, "acme", ACME_GAP_CALL, "Ann Acme", "+15035550101", "Please call about unicycles", at),
        "beta": add_callback(records, "beta", BETA_CALL, "Bob Beta", "+15035550199", "Beta's private message", at),
    }


def build_world(records: RecordStore, data_dir: Path, **settings: object) -> ConsoleWorld:
    console_settings = ConsoleSettings(session_key=SESSION_KEY, data_dir=data_dir, **settings)
    knowledge = FakeKnowledge()
    minutes = timedelta(minutes=console_settings.lockout_minutes)
    state = Console(
        settings=console_settings, store=records, orgs=FileOrgConfigs(data_dir, records), signer=TokenSigner(SESSION_KEY.encode()),
        lockout=LockoutPolicy(console_settings.lockout_attempts, minutes, minutes), knowledge=knowledge,  # type: ignore[arg-type]
        gaps=GapFinder(records, embed=word_vectors),
    )  # fmt: skip
    with records.session() as session:
        for email, (role, org_id) in USERS.items():
            create_user(session, email, PASSWORD, role, org_id, "test")
    return ConsoleWorld(state, data_dir, knowledge, seed_world(records))


@pytest.fixture
def world(store: RecordStore, console_data_dir: Path) -> ConsoleWorld:  # noqa: F811 - the fixture imported above
    return build_world(store, console_data_dir)


def login_token(page_html: str) -> str:
    return re.search(r'name="login_token" value="([^"]+)"', page_html).group(1)


def csrf_token(page_html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page_html).group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD, next_path: str = "/"):
    token = login_token(client.get("/login").text)
    return client.post("/login", data={"email": email, "password": password, "login_token": token, "next": next_path}, follow_redirects=False)


@pytest.fixture
def client_for(world: ConsoleWorld) -> Iterator[Callable[[str | None], TestClient]]:
    """A browser-like client per user, signed in (None: not signed in); all closed at the end."""
    clients: list[TestClient] = []

    def make(email: str | None) -> TestClient:
        client = TestClient(create_app(world.app_state.settings, world.app_state), base_url="http://console.test")
        client.__enter__()
        clients.append(client)
        if email is not None:
            assert sign_in(client, email).status_code == 303
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
