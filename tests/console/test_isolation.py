"""Org isolation and sign-in, on every route: one org's users never see another org's calls, callbacks or
documents, whether they browse, guess ids in URLs or forge forms; and nothing but /login and the health
endpoints answers without a session."""

from __future__ import annotations

import re

import pytest

from services.common.records import queries
from tests.console.conftest import ACME_CALL, BETA_CALL, csrf_token

# Reachable without a session; everything else must not be.
PUBLIC = {"/login", "/healthz", "/readyz", "/metrics"}
# What only beta's records contain: none of it may ever appear on a page an acme user gets.
BETA_SECRETS = ["Bob Beta", "Beta&#39;s private message", "Beta's private message", "beta-secrets.md", BETA_CALL, "Beta&#39;s secret", "Beta's secret"]


def console_routes(client) -> list[tuple[str, str]]:
    """Every route of the app (from its OpenAPI description, which lists them all), ids filled in."""
    routes = []
    for path, operations in client.app.openapi()["paths"].items():
        if path not in PUBLIC:
            for method in operations:
                routes.append((method.upper(), path.replace("{call_sid}", ACME_CALL).replace("{callback_id}", "00000000-0000-0000-0000-000000000000")))
    return routes


def assert_no_beta(text: str) -> None:
    leaked = [secret for secret in BETA_SECRETS if secret in text]
    assert not leaked, f"beta's records on an acme page: {leaked}"


def test_no_page_or_api_answers_without_signing_in(client_for):
    anonymous = client_for(None)
    routes = console_routes(anonymous)
    assert {path for _, path in routes} >= {"/", "/calls", f"/calls/{ACME_CALL}", "/callbacks", "/gaps", "/documents", "/settings", "/audit"}
    for method, path in routes:
        response = anonymous.request(method, path, follow_redirects=False)
        if method == "GET":
            assert response.status_code == 303 and response.headers["location"].startswith("/login"), (method, path)
        else:
            assert response.status_code == 401, (method, path)
        assert_no_beta(response.text)
    assert anonymous.get("/no-such-page", follow_redirects=False).headers["location"].startswith("/login")
    for path in PUBLIC:
        assert anonymous.get(path).status_code in (200, 503)


@pytest.mark.parametrize("email", ["viewer@acme.test", "admin@acme.test"])
def test_an_org_user_never_sees_another_orgs_records_on_any_page(client_for, email):
    client = client_for(email)
    for path in ["/", "/calls", "/calls?q=secret", f"/calls/{ACME_CALL}", "/callbacks", "/gaps", "/documents", "/documents?question=private+price",
                 "/settings", "/audit"]:  # fmt: skip
        response = client.get(path)
        assert response.status_code == 200, path
        assert_no_beta(response.text)
    assert ACME_CALL in client.get("/calls").text


@pytest.mark.parametrize("email", ["viewer@acme.test", "admin@acme.test"])
def test_guessing_another_orgs_ids_in_urls_is_the_same_404_as_an_id_that_does_not_exist(client_for, world, email):
    client = client_for(email)
    missing = client.get("/calls/CA" + "0" * 32)
    for path in [f"/calls/{BETA_CALL}", "/calls?org=beta", "/callbacks?org=beta", "/documents?org=beta", "/settings?org=beta", "/audit?org=beta",
                 "/gaps?org=beta", "/?org=beta", f"/calls/{BETA_CALL}?org=acme"]:  # fmt: skip
        response = client.get(path)
        assert response.status_code == 404, path
        assert_no_beta(response.text)
    assert missing.status_code == 404
    assert client.get(f"/calls/{BETA_CALL}").text == missing.text


def test_forged_forms_cannot_change_another_orgs_records(client_for, world):
    client = client_for("admin@acme.test")
    token = csrf_token(client.get("/callbacks").text)
    beta_callback = world.callbacks["beta"]
    assert client.post(f"/callbacks/{beta_callback}/done", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/callbacks/{str(beta_callback)[:8]}/done", data={"csrf_token": token}).status_code == 404
    files = {"files": ("beta-secrets.md", b"overwritten", "text/markdown")}
    assert client.post("/documents?org=beta", data={"csrf_token": token}, files=files).status_code == 404
    assert client.post("/documents/delete?org=beta", data={"csrf_token": token, "document": "beta-secrets.md"}).status_code == 404
    assert client.post("/settings?org=beta", data={"csrf_token": token, "greeting": "hijacked"}).status_code == 404
    # The org picker remembers only an org the user may see.
    client.post("/org", data={"csrf_token": token, "org": "beta", "next": "/calls"})
    assert_no_beta(client.get("/calls").text)
    with world.store.session() as session:
        assert queries.list_callbacks(session, org_id="beta")[0].status == "new"
    assert world.knowledge.documents["beta"] == {"beta-secrets.md": "Beta's private price list."}
    assert "hijacked" not in (world.data_dir / "beta" / "config.json").read_text()


def test_every_change_needs_the_sessions_csrf_token(client_for, world):
    admin = client_for("admin@acme.test")
    other = client_for("root@example.test")
    someone_elses = csrf_token(other.get("/callbacks").text)
    for method, path in console_routes(admin):
        if method != "POST":
            continue
        for data in ({}, {"csrf_token": "forged"}, {"csrf_token": someone_elses}):
            response = admin.post(path, data=data)
            assert response.status_code == 403 and "Form expired" in response.text, (path, data)
    with world.store.session() as session:
        assert {c.status for c in queries.list_callbacks(session)} == {"new"}


def test_a_viewer_sees_but_cannot_change(client_for, world):
    viewer = client_for("viewer@acme.test")
    page = viewer.get("/callbacks").text
    assert "Ann Acme" in page and "Mark done" not in page
    token = csrf_token(page)
    acme_callback = world.callbacks["acme"]
    assert viewer.post(f"/callbacks/{acme_callback}/done", data={"csrf_token": token}).status_code == 403
    assert viewer.post("/documents", data={"csrf_token": token}, files={"files": ("x.md", b"x", "text/markdown")}).status_code == 403
    assert viewer.post("/settings", data={"csrf_token": token, "greeting": "changed"}).status_code == 403
    settings_page = viewer.get("/settings").text
    assert re.search(r"<fieldset disabled>", settings_page) and "Save settings" not in settings_page
    with world.store.session() as session:
        assert queries.list_callbacks(session, org_id="acme")[0].status == "new"


def test_an_admin_of_every_org_sees_each_org_one_at_a_time(client_for):
    root = client_for("root@example.test")
    assert ACME_CALL in root.get("/calls?org=acme").text and BETA_CALL not in root.get("/calls?org=acme").text
    assert BETA_CALL in root.get("/calls?org=beta").text
    token = csrf_token(root.get("/calls").text)
    root.post("/org", data={"csrf_token": token, "org": "beta", "next": "/calls"})
    assert BETA_CALL in root.get("/calls").text
    detail = root.get(f"/calls/{ACME_CALL}")
    assert detail.status_code == 200 and "When are you open on Saturday?" in detail.text
