"""Starts the console: `python -m services.console` (uvicorn on CONSOLE_HTTP_PORT, default 8080)."""

from __future__ import annotations

import uvicorn

from services.common.logs import configure_logging
from services.console.app import create_app
from services.console.config import ConsoleSettings


def main() -> None:
    settings = ConsoleSettings()
    configure_logging("console", settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # keep our JSON logs
        timeout_graceful_shutdown=10,
        # Behind an ingress the client's address is in X-Forwarded-For; nothing here depends on it.
        proxy_headers=False,
    )
