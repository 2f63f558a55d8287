"""Driving the gateway exactly as Twilio does, for `voiceagent call`, the demo and the tests.

Webhooks are form posts signed with the auth token (X-Twilio-Signature);
the caller's audio is served as a recording from a local HTTP server shaped
like Twilio's API (basic auth required); the TwiML answers are followed:
<Play> audio is downloaded, <Record> posts the next recording to its action,
<Hangup> ends the call, and the status callback closes it.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from twilio.request_validator import RequestValidator

LOCAL_AUTH_TOKEN = "voiceagent-local-dev-token"
LOCAL_ACCOUNT_SID = "AC" + "0" * 32


class RecordingServer:
    """Serves caller recordings at Twilio-shaped URLs, only to clients with the account's basic auth."""

    def __init__(self, account_sid: str, auth_token: str, port: int = 0) -> None:
        self.account_sid = account_sid
        self.expected_auth = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self.recordings: dict[str, bytes] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append(self.path)
                recording_id = self.path.rsplit("/", 1)[-1].removesuffix(".wav")
                if self.headers.get("Authorization") != server.expected_auth:
                    self.send_response(401)
                    self.end_headers()
                    return
                audio = server.recordings.get(recording_id)
                if audio is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "audio/x-wav")
                self.send_header("Content-Length", str(len(audio)))
                self.end_headers()
                self.wfile.write(audio)

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def add(self, audio: bytes) -> str:
        recording_id = "RE" + secrets.token_hex(16)
        self.recordings[recording_id] = audio
        return f"{self.base_url}2010-04-01/Accounts/{self.account_sid}/Recordings/{recording_id}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class TwimlAnswer:
    says: list[str] = field(default_factory=list)
    plays: list[str] = field(default_factory=list)
    record_action: str | None = None
    # Where Twilio goes when the caller says nothing during <Record>.
    no_input_action: str | None = None
    hangup: bool = False
    # The number a <Dial> transfers the call to, and where Twilio reports how the transfer went.
    dial: str | None = None
    dial_action: str | None = None

    @classmethod
    def parse(cls, body: str) -> TwimlAnswer:
        answer = cls()
        for verb in ElementTree.fromstring(body):
            if verb.tag == "Say":
                answer.says.append(verb.text or "")
            elif verb.tag == "Play":
                answer.plays.append(verb.text or "")
            elif verb.tag == "Record":
                answer.record_action = verb.get("action")
            elif verb.tag == "Redirect":
                answer.no_input_action = verb.text
            elif verb.tag == "Hangup":
                answer.hangup = True
            elif verb.tag == "Dial":
                answer.dial = (verb.text or "".join(number.text or "" for number in verb)).strip()
                answer.dial_action = verb.get("action")
        return answer


@dataclass
class TurnReport:
    number: int
    twiml: TwimlAnswer
    details: dict[str, Any]
    audio: list[bytes]
    seconds: float


class TwilioSimulator:
    def __init__(self, gateway_url: str, auth_token: str, account_sid: str, recordings: RecordingServer | None) -> None:
        self.gateway_url = gateway_url.rstrip("/")
        self.validator = RequestValidator(auth_token)
        self.account_sid = account_sid
        self.recordings = recordings
        self.http = httpx.Client(timeout=60)

    def post(self, url: str, params: dict[str, str], signature: str | None = None) -> httpx.Response:
        url = url if url.startswith("http") else self.gateway_url + url
        signature = self.validator.compute_signature(url, params) if signature is None else signature
        return self.http.post(url, data=params, headers={"X-Twilio-Signature": signature})

    def _follow(self, response: httpx.Response, number: int, started: float) -> TurnReport:
        response.raise_for_status()
        answer = TwimlAnswer.parse(response.text)
        audio = [self.http.get(url).raise_for_status().content for url in answer.plays]
        details = json.loads(response.headers.get("X-Voiceagent-Turn", "{}"))
        return TurnReport(number, answer, details, audio, time.perf_counter() - started)

    def call_params(self, to: str, caller: str, call_sid: str | None = None) -> dict[str, str]:
        """The fields Twilio sends with every webhook of one call."""
        call_sid = call_sid or "CA" + secrets.token_hex(16)
        return {"AccountSid": self.account_sid, "CallSid": call_sid, "From": caller, "To": to, "Direction": "inbound"}

    def ring(self, common: dict[str, str]) -> TurnReport:
        """The inbound webhook: the greeting and the first <Record> (turn 0)."""
        started = time.perf_counter()
        return self._follow(self.post("/voice/inbound", {**common, "CallStatus": "ringing"}), 0, started)

    def speak(self, common: dict[str, str], previous: TurnReport, audio: bytes) -> TurnReport | None:
        """One turn: the caller's audio as a recording posted to the previous answer's <Record> action; None
        when the previous answer did not listen (it hung up)."""
        action = previous.twiml.record_action
        if action is None or previous.twiml.hangup:
            return None
        url = self.recordings.add(audio)
        params = {
            **common, "CallStatus": "in-progress", "RecordingUrl": url, "RecordingSid": url.rsplit("/", 1)[-1],
            "RecordingDuration": str(max(1, len(audio) // 16000)),
        }
        started = time.perf_counter()
        return self._follow(self.post(action, params), previous.number + 1, started)

    def hang_up(self, common: dict[str, str]) -> None:
        self.post("/voice/status", {**common, "CallStatus": "completed", "CallDuration": "30"})

    def stream(self, common: dict[str, str]) -> tuple[str, dict[str, str]] | TwimlAnswer:
        """The inbound webhook of a streaming org: the <Connect><Stream> WebSocket URL and the <Parameter>s Twilio
        passes on in its `start` message, or the TwiML answer when the gateway did not connect a stream."""
        body = self.post("/voice/inbound", {**common, "CallStatus": "ringing"}).raise_for_status().text
        stream = ElementTree.fromstring(body).find("Connect/Stream")
        if stream is None:
            return TwimlAnswer.parse(body)
        return stream.get("url"), {p.get("name"): p.get("value") for p in stream.findall("Parameter")}

    def call(self, to: str, caller: str, turns: list[bytes], call_sid: str | None = None) -> list[TurnReport]:
        """A whole call: greeting, one recording per turn until the gateway hangs up, then the status callback."""
        common = self.call_params(to, caller, call_sid)
        reports = [self.ring(common)]
        for audio in turns:
            report = self.speak(common, reports[-1], audio)
            if report is None:
                break
            reports.append(report)
        self.hang_up(common)
        return reports
