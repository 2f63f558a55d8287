"""Signing in and out: argon2 passwords, signed expiring cookies, the lockout, CSRF on the sign-in form, and
every attempt in the audit trail."""

from __future__ import annotations

from datetime import timedelta
from http.cookies import SimpleCookie

from fastapi.testclient import TestClient

from services.common.records import queries
from services.common.records.models import ConsoleUser, SignInFailures, utc_now
from services.console.app import create_app
from services.console.auth import SESSION_COOKIE, SESSION_PURPOSE
from services.console.tokens import TokenSigner
from tests.console.conftest import PASSWORD, SESSION_KEY, build_world, csrf_token, login_token, sign_in


def cookie_attributes(response, name: str) -> dict[str, str]:
    header = next(value for value in response.headers.get_list("set-cookie") if value.startswith(f"{name}="))
    morsel = SimpleCookie(header)[name]
    return {key: str(value) for key, value in morsel.items() if value}


def use_session_cookie(client, value: str) -> None:
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, value)


def audit(world, action: str) -> list[queries.AuditView]:
    with world.store.session() as session:
        return queries.list_audit(session, action=action)


def test_signing_in_sets_a_signed_httponly_samesite_cookie_that_expires(client_for, world):
    client = client_for(None)
    response = sign_in(client, "Admin@Acme.test", next_path="/callbacks")
    assert response.status_code == 303 and response.headers["location"] == "/callbacks"
    attributes = cookie_attributes(response, SESSION_COOKIE)
    assert attributes["httponly"] and attributes["samesite"].lower() == "lax" and attributes["path"] == "/"
    assert int(attributes["max-age"]) == 12 * 3600
    assert "secure" not in attributes  # plain http on a laptop; CONSOLE_SECURE_COOKIES=true behind TLS
    assert client.get("/callbacks").status_code == 200
    [entry] = audit(world, "console.sign_in")
    assert entry.actor == "console:admin@acme.test" and entry.org_id == "acme"


def test_cookies_are_secure_when_configured(store, console_data_dir):
    secure = build_world(store, console_data_dir, secure_cookies=True)
    with TestClient(create_app(secure.app_state.settings, secure.app_state), base_url="https://console.test") as client:
        assert "secure" in cookie_attributes(sign_in(client, "admin@acme.test"), SESSION_COOKIE)


def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(client_for, world):
    client = client_for(None)
    wrong, unknown = sign_in(client, "admin@acme.test", "not the password"), sign_in(client, "nobody@acme.test", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "do not match" in wrong.text and "do not match" in unknown.text
    assert SESSION_COOKIE not in client.cookies
    reasons = sorted(entry.detail["reason"] for entry in audit(world, "console.sign_in_failed"))
    assert reasons == ["unknown_user", "wrong_password"]


def test_five_failures_lock_the_address_even_for_the_right_password_until_the_lock_expires(client_for, world):
    client = client_for(None)
    answers = [sign_in(client, "admin@acme.test", f"guess {n}").status_code for n in range(5)]
    assert answers == [401, 401, 401, 401, 429]
    locked = sign_in(client, "admin@acme.test")
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text
    assert audit(world, "console.sign_in_refused")[0].detail == {"reason": "locked"}
    # An unknown address locks the same way: the lockout does not tell which addresses have accounts.
    assert [sign_in(client, "nobody@acme.test", "x").status_code for _ in range(5)][-1] == 429
    with world.store.session() as session:
        session.get(SignInFailures, "admin@acme.test").locked_until = utc_now() - timedelta(seconds=1)
        session.get(SignInFailures, "admin@acme.test").first_failure_at = utc_now() - timedelta(hours=1)
    assert sign_in(client, "admin@acme.test").status_code == 303


def test_the_sign_in_form_needs_its_own_token(client_for):
    client = client_for(None)
    token = login_token(client.get("/login").text)
    forged = client.post("/login", data={"email": "admin@acme.test", "password": PASSWORD, "login_token": "forged"})
    assert forged.status_code == 400 and SESSION_COOKIE not in client.cookies
    # A form posted from another site has no cookie to match its token.
    stranger = client_for(None)
    stranger.cookies.clear()
    assert stranger.post("/login", data={"email": "admin@acme.test", "password": PASSWORD, "login_token": token}).status_code == 400


def test_after_signing_in_only_local_paths_are_followed(client_for):
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        assert sign_in(client_for(None), "admin@acme.test", next_path=target).headers["location"] == "/"


def test_a_forged_or_expired_session_cookie_is_no_session(client_for, world):
    client = client_for("admin@acme.test")
    cookie = client.cookies[SESSION_COOKIE]
    use_session_cookie(client, cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"))
    assert client.get("/calls", follow_redirects=False).status_code == 303
    with world.store.session() as session:
        admin = session.query(ConsoleUser).filter_by(email="admin@acme.test").one()
        value = {"uid": str(admin.id), "epoch": admin.session_epoch, "sid": "s"}
    signer = TokenSigner(SESSION_KEY.encode())
    use_session_cookie(client, signer.sign(SESSION_PURPOSE, value, 60, now=utc_now().timestamp() - 120))
    assert client.get("/calls", follow_redirects=False).status_code == 303
    use_session_cookie(client, signer.sign(SESSION_PURPOSE, value, 60))
    assert client.get("/calls", follow_redirects=False).status_code == 200


def test_signing_out_ends_every_copy_of_the_session(client_for, world):
    client = client_for("admin@acme.test")
    copied = client.cookies[SESSION_COOKIE]
    response = client.post("/logout", data={"csrf_token": csrf_token(client.get("/").text)}, follow_redirects=False)
    assert response.headers["location"] == "/login?notice=signed-out"
    thief = client_for(None)
    use_session_cookie(thief, copied)
    assert thief.get("/calls", follow_redirects=False).status_code == 303
    assert audit(world, "console.sign_out")[0].actor == "console:admin@acme.test"


def test_a_disabled_user_is_out_at_once(client_for, world):
    client = client_for("viewer@acme.test")
    with world.store.session() as session:
        session.query(ConsoleUser).filter_by(email="viewer@acme.test").one().disabled_at = utc_now()
    assert client.get("/calls", follow_redirects=False).status_code == 303
    assert sign_in(client_for(None), "viewer@acme.test").status_code == 401
