"""Starts the gateway: `python -m services.gateway` (uvicorn on GATEWAY_HTTP_PORT)."""

from __future__ import annotations

from services.common.http_server import serve
from services.common.logs import configure_logging
from services.common.media_streams import MAX_MESSAGE_CHARS
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    # Media Streams messages are a few hundred bytes; the default (16 MB) would let one message cost 16 MB.
    serve(create_app(settings), settings.http_host, settings.http_port, ws_max_size=MAX_MESSAGE_CHARS * 4)
