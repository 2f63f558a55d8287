"""/documents: the org's knowledge base (documents, chunk counts, ingestion time), uploading (also to re-ingest
a document under its name), deleting, and "try a question": the answer and sources a caller would get.

Every change names the org in its URL (`?org=`), so an admin of several orgs changes the org they were looking
at even if another tab switched since; the org must be one they may see (auth.scope answers 404 otherwise).
"""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import FormData, UploadFile

from services.common.records.queries import record_audit
from services.console import auth
from services.console.access import Scope
from services.console.knowledge import KnowledgeError, Shard, TriedAnswer, UploadResult
from services.console.metrics import CHANGES
from services.console.pages.support import after_change, org_config
from services.console.state import Console, console
from services.console.views import org_zone, render

router = APIRouter()
EXTENSIONS = (".txt", ".md", ".pdf", ".html", ".htm")
MAX_QUESTION_CHARS = 500
MAX_NAME_CHARS = 200


def _page(request: Request, app: Console, scope: Scope, status_code: int = 200, question: str = "", gap: str = "",
          tried: TriedAnswer | None = None, uploaded: list[UploadResult] | None = None, error: str = "") -> HTMLResponse:  # fmt: skip
    shard: Shard | None = None
    if scope.org_id is not None:
        try:
            shard = app.knowledge.shard(scope.org_id)
        except KnowledgeError as failure:
            error = error or str(failure)
    return render(
        request, "documents.html", status_code, shard=shard, question=question, gap=gap, tried=tried, uploaded=uploaded or [],
        error=error, extensions=EXTENSIONS, max_upload_mb=app.settings.max_upload_mb, zone=org_zone(org_config(app, scope)),
    )  # fmt: skip


@router.get("/documents")
def documents_page(request: Request, question: str = "", gap: str = "", scope: Scope = Depends(auth.scope),
                   app: Console = Depends(console)) -> HTMLResponse:  # fmt: skip
    """`question`: try it; `gap`: a knowledge gap's question, to be answered by a new document."""
    question, gap = question.strip()[:MAX_QUESTION_CHARS], gap.strip()[:MAX_QUESTION_CHARS]
    tried, error = None, ""
    config = org_config(app, scope)
    if question and config is not None:
        try:
            tried = app.knowledge.try_question(config, question)
        except KnowledgeError as failure:
            error = str(failure)
    return _page(request, app, scope, question=question or gap, gap=gap, tried=tried, error=error)


def upload_name(upload: UploadFile, replacing: str) -> str:
    """The document's name: the one being re-ingested, else the file's own name without any folder a browser sent."""
    name = replacing or PureWindowsPath(PurePosixPath(upload.filename or "").name).name
    return name.strip()[:MAX_NAME_CHARS]


def _audit(app: Console, scope: Scope, action: str, detail: dict) -> None:
    with app.store.session() as session:
        record_audit(session, scope.principal.actor, action, scope.org_id, detail)


@router.post("/documents")
def upload(request: Request, form: FormData = Depends(auth.checked_form), scope: Scope = Depends(auth.admin_scope),
           app: Console = Depends(console)) -> Response:  # fmt: skip
    """Ingest the uploaded files; `replace` re-ingests one document under its existing name. Scripts (the upload
    progress bar) get JSON; a plain form post gets the page."""
    wants_json = "application/json" in request.headers.get("accept", "")
    uploads = [item for item in form.getlist("files") if isinstance(item, UploadFile) and item.filename]
    replacing = str(form.get("replace", ""))
    error = ""
    if not uploads:
        error = "Choose one or more files to upload."
    elif replacing and len(uploads) != 1:
        error = "Re-ingest takes exactly one file."
    total = sum(item.size or 0 for item in uploads)
    if total > app.settings.max_upload_mb * 1024 * 1024:
        error = f"At most {app.settings.max_upload_mb:g} MB at once: upload fewer files at a time."
    results: list[UploadResult] = []
    if not error:
        files = [(upload_name(item, replacing), item.file.read()) for item in uploads]
        try:
            results = app.knowledge.upload(scope.org_id, files)
        except KnowledgeError as failure:
            error = str(failure)
        else:
            _audit(app, scope, "documents.ingest", {"documents": [{"name": r.name, "ok": r.ok, "chunks": r.chunks, "error": r.error} for r in results],
                                                    "replaced": bool(replacing)})  # fmt: skip
            CHANGES.labels("documents_ingest").inc()
    status_code = 400 if error else 200
    if wants_json:
        body = {"error": error, "results": [{"name": r.name, "ok": r.ok, "chunks": r.chunks, "error": r.error} for r in results]}
        return JSONResponse(body, status_code=status_code)
    return _page(request, app, scope, status_code, uploaded=results, error=error)


@router.post("/documents/delete")
def delete(request: Request, form: FormData = Depends(auth.checked_form), scope: Scope = Depends(auth.admin_scope),
           app: Console = Depends(console)) -> Response:  # fmt: skip
    name = str(form.get("document", "")).strip()[:MAX_NAME_CHARS]
    try:
        removed = app.knowledge.delete(scope.org_id, name)
    except KnowledgeError as failure:
        return _page(request, app, scope, 400, error=str(failure))
    _audit(app, scope, "documents.delete", {"document": name, "chunks_removed": removed})
    CHANGES.labels("documents_delete").inc()
    return after_change("/documents", "deleted", org=scope.org_id)
