"""A real HTTP receiver for signed events, as a business would run one, that can be taken down and brought back.

It listens on a fixed loopback port (so it can stop and start again where the deliverer expects it), checks
every request's signature and timestamp with the org's secret, and keeps what it received. While `failing`
it answers 503 without keeping anything; while `losing_acks` it keeps the event and then answers 500, as a
receiver that crashed after processing would, so the event is sent again and must be deduplicated by id.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from services.cli.launcher import free_port
from services.common.records import signing


@dataclass(frozen=True)
class Delivery:
    event_id: str
    event_type: str
    body: bytes
    signature_valid: bool
    received_at: float

    @property
    def document(self) -> dict[str, Any]:
        return json.loads(self.body)


class EventReceiver:
    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self.secret = secret
        self.clock = clock
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/voiceagent-events"
        self.deliveries: list[Delivery] = []
        self.requests = 0
        self.failing = False
        self.losing_acks = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def up(self) -> bool:
        return self._server is not None

    def start(self) -> EventReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = receiver._receive(self.headers, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, name="event-receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        """Down: connections to its port are refused until start() again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _receive(self, headers: Any, body: bytes) -> int:
        with self._lock:
            self.requests += 1
            if self.failing:
                return 503
            valid = signing.verify(
                self.secret, headers.get(signing.TIMESTAMP_HEADER, ""), headers.get(signing.SIGNATURE_HEADER, ""), body, now=self.clock()
            )
            self.deliveries.append(
                Delivery(headers.get(signing.EVENT_ID_HEADER, ""), headers.get(signing.EVENT_TYPE_HEADER, ""), body, valid, time.monotonic())
            )
            if not valid:
                return 401
            if self.losing_acks:
                self.losing_acks -= 1
                return 500
            return 204

    def unique(self) -> dict[str, Delivery]:
        """What the business ends up with: each validly signed event once, deduplicated by its id."""
        with self._lock:
            return {delivery.event_id: delivery for delivery in self.deliveries if delivery.signature_valid}
