"""/login and signing out: the only page anyone may open without a session."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from services.common.records.models import ConsoleUser, utc_now
from services.common.records.queries import record_audit
from services.console import auth
from services.console.access import Principal
from services.console.metrics import SIGN_INS
from services.console.sign_in import SignInOutcome, SignInResult, sign_in
from services.console.state import Console, console
from services.console.views import local_time, render

router = APIRouter()
MAX_FIELD_CHARS = 1024


def _login_page(request: Request, app: Console, status_code: int = 200, error: str = "", email: str = "", next_path: str = "") -> HTMLResponse:
    nonce = auth.login_form_nonce(request, app)
    back_to = auth.safe_next(next_path or request.query_params.get("next"))
    page = render(request, "login.html", status_code, error=error, email=email, next=back_to, login_token=auth.login_form_token(app, nonce))
    auth.remember_login_form(page, app, nonce)
    return page


@router.get("/login")
async def login_form(request: Request, app: Console = Depends(console)) -> Response:
    if auth.session_principal(request, app) is not None:
        return RedirectResponse(auth.safe_next(request.query_params.get("next")), status_code=303)
    return _login_page(request, app)


def _check(app: Console, email: str, password: str) -> SignInResult:
    with app.store.session() as session:
        result = sign_in(session, email, password, utc_now(), app.lockout)
        if result.user is not None:
            session.expunge(result.user)
        return result


@router.post("/login")
async def login(request: Request, app: Console = Depends(console)) -> Response:
    form: FormData = await request.form()
    email = str(form.get("email", ""))[:MAX_FIELD_CHARS]
    password = str(form.get("password", ""))[:MAX_FIELD_CHARS]
    next_path = auth.safe_next(str(form.get("next", "/")))
    if not auth.login_form_valid(request, app, str(form.get("login_token", ""))):
        SIGN_INS.labels("bad_form").inc()
        return _login_page(request, app, 400, "The sign-in form expired: please try again.", email, next_path)
    if not email.strip() or not password:
        return _login_page(request, app, 400, "Enter your e-mail address and password.", email, next_path)
    result = await asyncio.to_thread(_check, app, email, password)
    SIGN_INS.labels(result.outcome.value).inc()
    if result.outcome is SignInOutcome.LOCKED:
        until = local_time(result.locked_until, "UTC", "%H:%M UTC")
        return _login_page(request, app, 429, f"Too many failed sign-ins for this address. Try again after {until}.", email, next_path)
    if result.outcome is SignInOutcome.WRONG:
        return _login_page(request, app, 401, "That e-mail address and password do not match.", email, next_path)
    user: ConsoleUser = result.user  # signed in
    response = RedirectResponse(next_path, status_code=303)
    auth.start_session(response, app, user.id, user.session_epoch)
    return response


@router.post("/logout")
async def logout(form: FormData = Depends(auth.checked_form), user: Principal = Depends(auth.principal), app: Console = Depends(console)) -> Response:
    """Signs this user out everywhere: raising the session epoch makes every cookie issued before invalid."""

    def end() -> None:
        with app.store.session() as session:
            stored = session.get(ConsoleUser, user.user_id)
            if stored is not None:
                stored.session_epoch += 1
            record_audit(session, user.actor, "console.sign_out", user.org_id, {})

    await asyncio.to_thread(end)
    response = RedirectResponse("/login?notice=signed-out", status_code=303)
    auth.end_session(response)
    return response
