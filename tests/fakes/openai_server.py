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
from email.parser import BytesParser
from email.policy import HTTP
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


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


@dataclass
class FakeOpenAI:
    """Records the requests it got; `fail_with` makes the next requests fail with that HTTP status."""

    api_key: str = "test-key"
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with: int | None = None
    server: ThreadingHTTPServer | None = None
    # What the fake "model" says: the transcription text and the chat reply.
    transcript: str = "what time do you open on saturday"
    chat_reply: str = "**Sure!** We open at ten on Saturdays.\n- Closing is at four.\nAnything else?"
    # Cleared, every request waits until it is set again (a provider that is slow to answer).
    answering: threading.Event = field(default_factory=lambda: _set_event())

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> FakeOpenAI:
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

            def _sse(self, events: list[dict[str, Any]]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for event in events:
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")

            def _body(self) -> dict[str, Any]:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get_content_type() != "multipart/form-data":
                    return json.loads(raw or b"{}")
                header = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
                message = BytesParser(policy=HTTP).parsebytes(header + raw)
                fields: dict[str, Any] = {}
                for part in message.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    payload = part.get_payload(decode=True)
                    fields[name] = payload if part.get_filename() else payload.decode()
                return fields

            def do_POST(self) -> None:
                body = self._body()
                fake.answering.wait(60)
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
                elif self.path == "/v1/audio/transcriptions":
                    self._reply(200, {"task": "transcribe", "language": "english", "duration": 1.0, "text": fake.transcript})
                elif self.path == "/v1/chat/completions":
                    usage = {"prompt_tokens": 120, "completion_tokens": 18, "total_tokens": 138}
                    if body.get("stream"):
                        words = fake.chat_reply.split(" ")
                        chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}
                        events = [
                            {**chunk, "choices": [{"index": 0, "delta": {"content": word + (" " if i < len(words) - 1 else "")}, "finish_reason": None}]}
                            for i, word in enumerate(words)
                        ]
                        events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                        events.append({**chunk, "choices": [], "usage": usage})
                        self._sse(events)
                    else:
                        self._reply(
                            200,
                            {
                                "id": "chatcmpl-1",
                                "object": "chat.completion",
                                "created": 0,
                                "model": body["model"],
                                "choices": [{"index": 0, "message": {"role": "assistant", "content": fake.chat_reply}, "finish_reason": "stop"}],
                                "usage": usage,
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
