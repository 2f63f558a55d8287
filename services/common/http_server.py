"""Running one of our HTTP services (the gateway, the console) under uvicorn, the same way for each."""

from __future__ import annotations

from typing import Any

import uvicorn


def serve(app: Any, host: str, port: int, **options: Any) -> None:
    """uvicorn with our JSON logs (its own log config off), 10 s for requests in flight at SIGTERM, and no trust in
    X-Forwarded-For (nothing here depends on the client's address); `options` add a service's own limits."""
    uvicorn.run(app, host=host, port=port, log_config=None, timeout_graceful_shutdown=10, proxy_headers=False, **options)
