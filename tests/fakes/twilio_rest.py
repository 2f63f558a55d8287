"""A local HTTP server that speaks the part of Twilio's REST API the gateway uses: updating a live call.

POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json with a `Twiml`
form field, HTTP Basic auth of account SID and auth token, answered with
the call resource as JSON. The gateway reaches it through the real twilio
SDK (GATEWAY_TWILIO_API_URL), so the SDK's request building is exercised.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

_CALL_PATH = re.compile(r"^/2010-04-01/Accounts/(AC\w+)/Calls/(CA\w+)\.json$")


@dataclass
class FakeTwilioRest:
    account_sid: str
    auth_token: str
    # (call SID, TwiML) of every accepted update, in order.
    updates: list[tuple[str, str]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeTwilioRest:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                match = _CALL_PATH.match(self.path)
                expected = "Basic " + base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
                if match is None or match[1] != fake.account_sid:
                    return self._reply(404, {"code": 20404, "message": "Not found", "status": 404})
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
                fake.updates.append((match[2], form.get("Twiml", [""])[0]))
                self._reply(200, {"sid": match[2], "account_sid": match[1], "status": "in-progress"})

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
