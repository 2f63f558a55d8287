"""The console's Prometheus metrics. Labels are bounded: the route's template ("/calls/{call_sid}", never the
sid itself), the method, the status code and sign-in outcomes; no org ids, e-mail addresses or call ids."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import Counter, Histogram

from services.common.metrics import LATENCY_BUCKETS

REQUESTS = Counter(
    "voiceagent_console_requests_total",
    "Console HTTP requests, by route template, method and status code.",
    ["route", "method", "code"],
)
REQUEST_DURATION = Histogram(
    "voiceagent_console_request_duration_seconds",
    "Time to answer a console HTTP request (page render included), by route template.",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
SIGN_INS = Counter(
    "voiceagent_console_sign_ins_total",
    "Console sign-in attempts, by outcome (signed_in, wrong, locked, bad_form).",
    ["outcome"],
)
CHANGES = Counter(
    "voiceagent_console_changes_total",
    "Changes made through the console (each also in the audit trail), by kind.",
    ["kind"],
)


async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """HTTP middleware: counts and times every request under the template of the route that answered it."""
    started = time.perf_counter()
    code = "500"
    try:
        response = await call_next(request)
        code = str(response.status_code)
        return response
    finally:
        route = getattr(request.scope.get("route"), "path", "unmatched")
        REQUESTS.labels(route, request.method, code).inc()
        REQUEST_DURATION.labels(route).observe(time.perf_counter() - started)
