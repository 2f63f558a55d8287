"""Sessions and CSRF as FastAPI dependencies: every page but /login and the health endpoints depends on them.

The session cookie is signed (services.console.tokens), HttpOnly, SameSite=Lax and Secure behind TLS; it
names the user, the user's session epoch and a random session id, and expires. Each request re-reads the user,
so a disabled user or one who signed out (which raises the epoch) is out at once, on every device.
A form's CSRF token is derived from the session id; the sign-in form, which has no session yet, is protected
by a double-submitted token in a short-lived cookie of its own.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from services.common.records.users import get_user
from services.console.access import Principal, Scope, choose_org
from services.console.state import Console, console

SESSION_COOKIE = "voiceagent_session"
LOGIN_COOKIE = "voiceagent_login"
ORG_COOKIE = "voiceagent_org"
SESSION_PURPOSE = "session"
LOGIN_PURPOSE = "login-form"
CSRF_PURPOSE = "csrf"
LOGIN_FORM_SECONDS = 3600


class SignInRequired(Exception):
    """No valid session: pages redirect to /login, APIs answer 401."""


class Forbidden(Exception):
    """Signed in, but the role does not allow this (a viewer trying to change something)."""


class NotFound(Exception):
    """No such record for this user: it does not exist, or it belongs to an org they may not see."""


class CsrfRejected(Exception):
    """A form without this session's CSRF token."""


def start_session(response: Response, app: Console, user_id: uuid.UUID, epoch: int) -> None:
    value = {"uid": str(user_id), "epoch": epoch, "sid": secrets.token_urlsafe(16)}
    lifetime = app.settings.session_hours * 3600
    token = app.signer.sign(SESSION_PURPOSE, value, lifetime)
    response.set_cookie(SESSION_COOKIE, token, max_age=int(lifetime), httponly=True, samesite="lax",
                        secure=app.settings.secure_cookies, path="/")  # fmt: skip
    response.delete_cookie(LOGIN_COOKIE, path="/login")


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(ORG_COOKIE, path="/")


def login_form_nonce(request: Request, app: Console) -> str:
    """The sign-in form's secret: the one in its cookie while that is valid, else a new one."""
    current = app.signer.verify(LOGIN_PURPOSE, request.cookies.get(LOGIN_COOKIE))
    return current["nonce"] if current else secrets.token_urlsafe(16)


def login_form_token(app: Console, nonce: str) -> str:
    """What the form sends back; only someone who can read the page and holds the cookie has both."""
    return app.signer.digest(LOGIN_PURPOSE, nonce)


def remember_login_form(response: Response, app: Console, nonce: str) -> None:
    response.set_cookie(LOGIN_COOKIE, app.signer.sign(LOGIN_PURPOSE, {"nonce": nonce}, LOGIN_FORM_SECONDS), max_age=LOGIN_FORM_SECONDS,
                        httponly=True, samesite="strict", secure=app.settings.secure_cookies, path="/login")  # fmt: skip


def login_form_valid(request: Request, app: Console, sent: str) -> bool:
    current = app.signer.verify(LOGIN_PURPOSE, request.cookies.get(LOGIN_COOKIE))
    return bool(current) and hmac.compare_digest(sent, login_form_token(app, current["nonce"]))


def session_principal(request: Request, app: Console) -> Principal | None:
    claims = app.signer.verify(SESSION_PURPOSE, request.cookies.get(SESSION_COOKIE))
    if not claims:
        return None
    try:
        user_id = uuid.UUID(str(claims["uid"]))
    except (KeyError, ValueError):
        return None
    with app.store.session() as session:
        user = get_user(session, user_id)
        if user is None or user.session_epoch != claims.get("epoch"):
            return None
        return Principal(user.id, user.email, user.role, user.org_id, app.signer.digest(CSRF_PURPOSE, str(claims.get("sid"))))


def principal(request: Request, app: Console = Depends(console)) -> Principal:
    found = session_principal(request, app)
    if found is None:
        raise SignInRequired()
    request.state.principal = found
    return found


def scope(request: Request, user: Principal = Depends(principal), app: Console = Depends(console)) -> Scope:
    """The org the page shows. An org named in the URL that the user may not see is 404, as if it did not exist."""
    asked = request.query_params.get("org")
    chosen = choose_org(user, app.orgs.org_ids(), asked, request.cookies.get(ORG_COOKIE))
    request.state.scope = chosen
    if asked and chosen.org_id != asked:
        raise NotFound()
    return chosen


def admin_scope(current: Scope = Depends(scope)) -> Scope:
    """For changes: an admin, and an org to change."""
    if not current.principal.is_admin:
        raise Forbidden()
    if current.org_id is None:
        raise NotFound()
    return current


class TooLarge(Exception):
    """A request body larger than any form the console takes."""


async def checked_form(request: Request, user: Principal = Depends(principal), app: Console = Depends(console)) -> FormData:
    """The request's form, once its CSRF token is this session's: every POST depends on this. A body larger
    than the upload limit is refused before it is read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > (app.settings.max_upload_mb + 1) * 1024 * 1024:
        raise TooLarge()
    form = await request.form()
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, user.csrf_token):
        raise CsrfRejected()
    return form


def login_redirect(request: Request) -> str:
    """/login, with where to come back to (a path on this site only)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login" if target == "/" else f"/login?next={quote(target, safe='')}"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a local path, never another site (`//evil.example`, `https://...`)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
