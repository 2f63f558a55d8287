"""Which org a console page shows: never one the user may not see, whatever the URL or a cookie says."""

from __future__ import annotations

import uuid

from services.console.access import Principal, choose_org

ORGS = ["acme", "beta", "gamma"]


def user(role: str, org_id: str | None) -> Principal:
    return Principal(uuid.uuid4(), f"{role}@example.com", role, org_id, "csrf")


def test_an_org_user_always_gets_their_org():
    viewer = user("viewer", "beta")
    assert choose_org(viewer, ORGS, asked="acme", remembered="gamma").org_id == "beta"
    assert choose_org(viewer, ORGS, None, None).org_ids == ["beta"]


def test_an_admin_of_every_org_gets_the_one_asked_for_then_the_remembered_then_the_first():
    root = user("admin", None)
    assert choose_org(root, ORGS, asked="gamma", remembered="beta").org_id == "gamma"
    assert choose_org(root, ORGS, asked="nope", remembered="beta").org_id == "beta"
    assert choose_org(root, ORGS, None, None).org_id == "acme"
    assert choose_org(root, [], None, None).org_id is None


def test_a_user_whose_org_lost_its_config_still_sees_their_records():
    assert choose_org(user("viewer", "gone"), ORGS, None, None).org_ids == ["gone"]


def test_a_scope_shows_only_its_own_org():
    scope = choose_org(user("admin", "acme"), ORGS, None, None)
    assert scope.shows("acme") and not scope.shows("beta") and not scope.shows(None)
