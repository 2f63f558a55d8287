"""Console users: `voiceagent users add` (password from standard input) and the rules every user follows."""

from __future__ import annotations

import io

import pytest
from argon2 import PasswordHasher

from services.cli.main import main
from services.common.records import queries, users
from services.common.records.models import ConsoleUser
from services.common.records.users import UserError, create_user, find_user, password_matches

PASSWORD = "a long enough password"


@pytest.fixture(autouse=True)
def quick_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


def add(url: str, monkeypatch: pytest.MonkeyPatch, password: str, *options: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main(["users", "add", "--database-url", url, "--actor", "cli:ops", *options])


def test_users_add_reads_the_password_from_stdin_and_stores_only_an_argon2id_hash(migrated_url, store, monkeypatch, capsys):
    assert add(migrated_url, monkeypatch, PASSWORD, "--email", "Ann@Example.com", "--role", "viewer", "--org", "acme") == 0
    assert "added ann@example.com: viewer of acme" in capsys.readouterr().out
    with store.session() as session:
        user = session.query(ConsoleUser).one()
        assert user.email == "ann@example.com" and user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
        assert password_matches(user.password_hash, PASSWORD) and not password_matches(user.password_hash, PASSWORD + "!")
        [entry] = queries.list_audit(session, action="user.add")
    assert entry.actor == "cli:ops" and entry.detail == {"email": "ann@example.com", "role": "viewer", "org_id": "acme"}
    assert main(["users", "list", "--database-url", migrated_url]) == 0
    assert "ann@example.com  viewer" in capsys.readouterr().out


@pytest.mark.parametrize("password,options,message", [
    ("short", ["--email", "a@example.com", "--role", "admin"], "at least 12 characters"),
    (PASSWORD, ["--email", "a@example.com", "--role", "viewer"], "a viewer belongs to one org"),
    (PASSWORD, ["--email", "not-an-address", "--role", "admin"], "is not an e-mail address"),
    (PASSWORD, ["--email", "a@example.com", "--role", "admin", "--org", "../etc"], "invalid org id"),
])  # fmt: skip
def test_users_add_refuses_what_breaks_a_rule(migrated_url, monkeypatch, capsys, password, options, message):
    assert add(migrated_url, monkeypatch, password, *options) == 1
    assert message in capsys.readouterr().err


def test_an_address_is_one_account_whatever_its_capitals(store):
    with store.session() as session:
        create_user(session, "ann@example.com", PASSWORD, "admin", None, "test")
    with store.session() as session, pytest.raises(UserError, match="already exists"):
        create_user(session, "ANN@example.com", PASSWORD, "admin", None, "test")
    with store.session() as session:
        assert find_user(session, " Ann@Example.COM ").role == "admin"


def test_users_password_sets_a_new_password_and_ends_every_session(migrated_url, store, monkeypatch, capsys):
    assert add(migrated_url, monkeypatch, PASSWORD, "--email", "ann@example.com", "--role", "admin") == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("another long password\n"))
    assert main(["users", "password", "--email", "ANN@example.com", "--database-url", migrated_url]) == 0
    with store.session() as session:
        user = session.query(ConsoleUser).one()
        assert password_matches(user.password_hash, "another long password") and user.session_epoch == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("another long password\n"))
    assert main(["users", "password", "--email", "bob@example.com", "--database-url", migrated_url]) == 1
    assert "no user bob@example.com" in capsys.readouterr().err
