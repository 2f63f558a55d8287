"""A local HTTP server that speaks Amazon Polly's SynthesizeSpeech REST call (POST /v1/speech).

The polly backend is tested through real boto3 pointed at it with
`endpoint_url`, so signing, request serialisation and the streamed audio
body are exercised. The audio is a real 440 Hz tone, a fixed length per
character, so conversions downstream can be checked for rate and pitch.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

TONE_HZ = 440.0
SECONDS_PER_CHARACTER = 0.02
VOICES = {"Joanna", "Matthew", "Ruth"}


def tone_pcm(seconds: float, rate: int) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * TONE_HZ * t) * 32767).astype("<i2").tobytes()


@dataclass
class FakePolly:
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with: int | None = None
    server: ThreadingHTTPServer | None = None

    @property
    def endpoint_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakePolly:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _error(self, status: int, kind: str, message: str) -> None:
                payload = json.dumps({"message": message}).encode()
                self.send_response(status)
                self.send_header("x-amzn-ErrorType", kind)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                fake.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization", "")})
                if fake.fail_with is not None:
                    self._error(fake.fail_with, "ServiceFailureException", "simulated failure")
                    return
                if self.path != "/v1/speech":
                    self._error(404, "UnknownOperationException", self.path)
                    return
                if body.get("VoiceId") not in VOICES:
                    self._error(
                        400,
                        "ValidationException",
                        f"1 validation error detected: Value '{body.get('VoiceId')}' at 'voiceId' failed to satisfy constraint",
                    )
                    return
                rate = int(body.get("SampleRate", "16000"))
                audio = tone_pcm(len(body["Text"]) * SECONDS_PER_CHARACTER, rate)
                self.send_response(200)
                self.send_header("Content-Type", "audio/pcm")
                self.send_header("x-amzn-RequestCharacters", str(len(body["Text"])))
                self.send_header("Content-Length", str(len(audio)))
                self.end_headers()
                self.wfile.write(audio)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
