"""Starts the console: `python -m services.console` (uvicorn on CONSOLE_HTTP_PORT, default 8080)."""

from __future__ import annotations

from services.common.http_server import serve
from services.common.logs import configure_logging
from services.console.app import create_app
from services.console.config import ConsoleSettings


def main() -> None:
    settings = ConsoleSettings()
    configure_logging("console", settings.log_level)
    serve(create_app(settings), settings.http_host, settings.http_port)
