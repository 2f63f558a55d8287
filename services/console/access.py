"""Who is signed in, which orgs they may see, and which org a page is showing: the org isolation rules.

Every page and API takes a `Scope`, and every read of the call store or retrieval passes `scope.org_id`
explicitly; records found by an id from the URL are checked with `scope.shows(record_org)` and answer 404
when the org differs, exactly as for an id that does not exist, so guessing ids reveals nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    email: str
    role: str
    # None: an admin of every org.
    org_id: str | None
    # The CSRF token every form of this session must send back.
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def actor(self) -> str:
        """How the audit trail names this user."""
        return f"console:{self.email}"

    def may_see(self, org_id: str | None) -> bool:
        return org_id is not None and (self.org_id is None or self.org_id == org_id)

    def visible(self, org_ids: list[str]) -> list[str]:
        return [org_id for org_id in org_ids if self.may_see(org_id)]


@dataclass(frozen=True)
class Scope:
    """The org a page shows (None when the user may see no configured org yet) and the ones it could show."""

    principal: Principal
    org_id: str | None
    org_ids: list[str]

    def shows(self, org_id: str | None) -> bool:
        return self.org_id is not None and org_id == self.org_id and self.principal.may_see(org_id)


def choose_org(principal: Principal, configured: list[str], asked: str | None, remembered: str | None) -> Scope:
    """The org to show: the one asked for in the URL, else the one chosen before, else the user's own, else the
    first one they may see; an org they may not see is never chosen, whatever the URL or cookie says."""
    visible = principal.visible(configured)
    if principal.org_id is not None and principal.org_id not in visible:
        # An org whose config is gone still has its records: its users keep seeing them.
        visible = [principal.org_id]
    for candidate in (asked, remembered, principal.org_id):
        if candidate and candidate in visible:
            return Scope(principal, candidate, visible)
    return Scope(principal, visible[0] if visible else None, visible)
