"""An event deliverer as its own process, exporting its metrics: what a gateway's lifespan runs, on its own.

`python -m tests.integration.event_delivery_process` with the gateway's records settings
(`VOICEAGENT_DATABASE_URL` or `VOICEAGENT_DATA_DIR`, `VOICEAGENT_EVENTS_*`, the orgs' signing secrets) and
`EVENTS_METRICS_PORT`: it delivers the outbox the gateway's recorder writes and serves Prometheus metrics
until SIGTERM. The dashboard tests scrape it beside the gateway, so the event delivery panels are proven
against deliveries of real calls' events.
"""

from __future__ import annotations

import os
import signal
import threading

from prometheus_client import start_http_server

from services.common.logs import configure_logging
from services.common.records.events import EventDeliverer


def main() -> None:
    configure_logging("events")
    start_http_server(int(os.environ["EVENTS_METRICS_PORT"]), addr="127.0.0.1")
    deliverer = EventDeliverer.from_settings().start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    deliverer.close()


if __name__ == "__main__":
    main()
