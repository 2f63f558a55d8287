"""The console's FastAPI app: start-up, security headers, health and metrics, and the page routers.

Nothing is reachable without a session except /login, /healthz, /readyz, /metrics and the static files (CSS,
JavaScript: no data); every other route depends on services.console.auth. Errors are pages: no session
redirects to /login (401 for scripts), a viewer attempting a change gets 403, another org's record 404.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.datastructures import FormData

from services.common.logs import get_logger
from services.common.records import schema
from services.common.records.org_sources import open_org_configs
from services.common.records.settings import RecordsSettings
from services.common.records.store import RecordStore
from services.console import auth
from services.console.config import ConsoleSettings
from services.console.gap_finder import GapFinder
from services.console.knowledge import KnowledgeBase
from services.console.metrics import measure
from services.console.pages import audit, callbacks, calls, documents, gaps, login, org_settings, overview
from services.console.sign_in import LockoutPolicy
from services.console.state import Console, console
from services.console.tokens import TokenSigner
from services.console.views import STATIC_DIR, render

log = get_logger(__name__)

SECURITY_HEADERS = {
    # Only this site's own scripts and styles run; no page may be framed (clickjacking), forms post only here.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def signing_key(settings: ConsoleSettings) -> bytes:
    if settings.session_key:
        return settings.session_key.encode()
    log.warning("console.random_session_key", detail="set CONSOLE_SESSION_KEY: sessions end when the console restarts")
    return secrets.token_bytes(32)


def build_console(settings: ConsoleSettings) -> Console:
    records = RecordsSettings(data_dir=settings.data_dir)
    schema.require_current_schema(records.database_url, allow_unreachable=True)
    store = RecordStore(records.database_url)
    minutes = timedelta(minutes=settings.lockout_minutes)
    return Console(
        settings=settings,
        store=store,
        orgs=open_org_configs(settings.org_configs, settings.data_dir, store),
        signer=TokenSigner(signing_key(settings)),
        lockout=LockoutPolicy(settings.lockout_attempts, minutes, minutes),
        knowledge=KnowledgeBase(settings),
        gaps=GapFinder(store),
    )


def create_app(settings: ConsoleSettings, prepared: Console | None = None) -> FastAPI:
    """The app; `prepared` lets tests hand in a Console built around their own store or fakes."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            app.state.console = prepared or build_console(settings)
        except schema.SchemaNotCurrentError as error:
            log.error("console.refused_to_start", detail=str(error))
            raise
        log.info("console.started", port=settings.http_port, org_configs=settings.org_configs)
        yield
        app.state.console.knowledge.close()
        app.state.console.store.close()

    app = FastAPI(title="voiceagent console", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.middleware("http")(measure)

    @app.middleware("http")
    async def security_headers(request: Request, call_next) -> Response:  # noqa: ANN001 - Starlette's callable
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(auth.SignInRequired)
    async def sign_in_required(request: Request, error: auth.SignInRequired) -> Response:
        if request.method == "GET" and "application/json" not in request.headers.get("accept", ""):
            return RedirectResponse(auth.login_redirect(request), status_code=303)
        return JSONResponse({"error": "sign in first"}, status_code=401)

    @app.exception_handler(auth.Forbidden)
    async def forbidden(request: Request, error: auth.Forbidden) -> Response:
        return render(request, "error.html", 403, title="Not allowed", message="Your role can look but not change things here. Ask an admin.")

    @app.exception_handler(auth.NotFound)
    async def not_found(request: Request, error: auth.NotFound) -> Response:
        return render(request, "error.html", 404, title="Not found", message="There is nothing here, or it is not yours to see.")

    @app.exception_handler(auth.TooLarge)
    async def too_large(request: Request, error: auth.TooLarge) -> Response:
        message = f"At most {settings.max_upload_mb:g} MB at once: upload fewer files at a time."
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"error": message, "results": []}, status_code=413)
        return render(request, "error.html", 413, title="Too large", message=message)

    @app.exception_handler(auth.CsrfRejected)
    async def csrf_rejected(request: Request, error: auth.CsrfRejected) -> Response:
        return render(request, "error.html", 403, title="Form expired", message="This form is no longer valid: reload the page and try again.")

    @app.exception_handler(404)
    async def no_route(request: Request, error: Exception) -> Response:
        if auth.session_principal(request, request.app.state.console) is None:
            return RedirectResponse(auth.login_redirect(request), status_code=303) if request.method == "GET" else PlainTextResponse("", 401)
        return render(request, "error.html", 404, title="Not found", message="There is no such page.")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(app_state: Console = Depends(console)) -> Response:
        """Ready when the call store answers: without it no page can be shown."""

        def ping() -> None:
            with app_state.store.engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        try:
            await asyncio.to_thread(ping)
        except Exception as error:  # any failure means not ready; the reason goes to the log, not the probe
            log.warning("console.not_ready", error=str(error).splitlines()[0] if str(error) else type(error).__name__)
            return JSONResponse({"status": "database unreachable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/org")
    async def choose_org(request: Request, form: FormData = Depends(auth.checked_form), user=Depends(auth.principal)) -> Response:
        """Switch the org the pages show (admins of several orgs); only an org the user may see is remembered."""
        org_id = str(form.get("org", ""))
        target = auth.safe_next(str(form.get("next", "/")))
        response = RedirectResponse(target, status_code=303)
        if user.may_see(org_id):
            response.set_cookie(auth.ORG_COOKIE, org_id, httponly=True, samesite="lax", secure=settings.secure_cookies, path="/")
        return response

    for page in (login, overview, calls, callbacks, gaps, documents, org_settings, audit):
        app.include_router(page.router)
    return app
