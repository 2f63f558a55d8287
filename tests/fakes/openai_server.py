"""A local HTTP server that speaks the parts of the OpenAI API we use.

The vendor backends are tested through the real `openai` SDK pointed at this
server with `base_url`, so request building, auth headers, batching and
response parsing are all exercised for real.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EMBEDDING_DIMENSION = 64


def bag_of_words_vector(text: str, dimension: int = EMBEDDING_DIMENSION) -> list[float]:
    """Deterministic embedding: hashed word counts, so texts sharing words are close."""
    vector = [0.0] * dimension
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        slot = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % dimension
        vector[slot] += 1.0
    return vector


@dataclass
class FakeOpenAI:
    """Records the requests it got; `fail_with` makes the next requests fail with that HTTP status."""

    api_key: str = "test-key"
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with: int | None = None
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> "FakeOpenAI":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                fake.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._reply(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
                elif fake.fail_with is not None:
                    self._reply(fake.fail_with, {"error": {"message": "simulated failure", "type": "server_error"}})
                elif self.path == "/v1/embeddings":
                    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    self._reply(
                        200,
                        {
                            "object": "list",
                            "model": body["model"],
                            "data": [
                                {"object": "embedding", "index": i, "embedding": bag_of_words_vector(text)}
                                for i, text in enumerate(inputs)
                            ],
                            "usage": {"prompt_tokens": sum(len(t.split()) for t in inputs), "total_tokens": 0},
                        },
                    )
                else:
                    self._reply(404, {"error": {"message": f"unknown path {self.path}", "type": "invalid_request_error"}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
