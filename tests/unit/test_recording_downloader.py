"""Recording downloads: basic auth, a short retry while Twilio stores the file, a size cap, careful redirects."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from services.gateway.config import GatewaySettings
from services.gateway.security import RecordingDownloader, RecordingUnavailableError


class FakeTwilioApi:
    """Serves /Recordings/RE1.wav after `missing_for` 404s; records what it was asked."""

    def __init__(self, body: bytes = b"RIFF-audio", missing_for: int = 0, redirect_to: str = "") -> None:
        self.calls: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.calls.append({"path": self.path, "auth": self.headers.get("Authorization")})
                if redirect_to:
                    self.send_response(302)
                    self.send_header("Location", redirect_to)
                    self.end_headers()
                    return
                if len(fake.calls) <= missing_for:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api_factory():
    made = []

    def make(**options):
        made.append(FakeTwilioApi(**options))
        return made[-1]

    yield make
    for api in made:
        api.close()


def download(api: FakeTwilioApi, **overrides) -> bytes:
    settings = GatewaySettings(**{
        "twilio_auth_token": "token", "twilio_account_sid": "AC123", "recording_url_allowlist": api.base,
        "allow_insecure_recording_urls": True, "download_retry_seconds": 0.01, **overrides,
    })

    async def fetch():
        async with httpx.AsyncClient() as client:
            return await RecordingDownloader(settings, client).download(api.base + "2010-04-01/Accounts/AC123/Recordings/RE1")

    return asyncio.run(fetch())


def test_downloads_the_wav_with_twilio_basic_auth(api_factory):
    api = api_factory()
    assert download(api) == b"RIFF-audio"
    assert api.calls == [{"path": "/2010-04-01/Accounts/AC123/Recordings/RE1.wav", "auth": "Basic " + base64.b64encode(b"AC123:token").decode()}]


def test_retries_while_twilio_is_still_storing_the_recording(api_factory):
    api = api_factory(missing_for=2)
    assert download(api) == b"RIFF-audio" and len(api.calls) == 3


def test_gives_up_when_the_recording_never_appears(api_factory):
    api = api_factory(missing_for=10)
    with pytest.raises(RecordingUnavailableError, match="404"):
        download(api, download_attempts=3)
    assert len(api.calls) == 3


def test_refuses_recordings_over_the_size_cap(api_factory):
    with pytest.raises(RecordingUnavailableError, match="larger than 1000 bytes"):
        download(api_factory(body=b"x" * 5000), recording_max_bytes=1000)


def test_follows_a_storage_redirect_without_sending_the_credentials_there(api_factory):
    storage = api_factory(body=b"RIFF-from-storage")
    api = api_factory(redirect_to=storage.base + "media/RE1.wav")
    assert download(api, recording_url_allowlist=f"{api.base},{storage.base}media/") == b"RIFF-from-storage"
    assert api.calls[0]["auth"].startswith("Basic ") and storage.calls == [{"path": "/media/RE1.wav", "auth": None}]


def test_refuses_redirects_to_other_schemes(api_factory):
    with pytest.raises(RecordingUnavailableError, match="non-https"):
        download(api_factory(redirect_to="file:///etc/passwd"))


def test_refuses_redirects_off_the_allowlist(api_factory):
    elsewhere = api_factory(body=b"RIFF-elsewhere")
    with pytest.raises(RecordingUnavailableError, match="off the allowlist"):
        download(api_factory(redirect_to=elsewhere.base + "internal/admin"))
    assert elsewhere.calls == []


class TricklingServer(FakeTwilioApi):
    """Answers 200, then sends a few bytes every half second, forever."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "1000000")
                self.end_headers()
                try:
                    for _ in range(600):
                        self.wfile.write(b"x" * 16)
                        self.wfile.flush()
                        time.sleep(0.5)
                except OSError:
                    pass

        self.calls = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/"


@pytest.mark.timeout(30)
def test_a_trickling_download_ends_at_the_overall_deadline():
    server = TricklingServer()
    try:
        started = time.monotonic()
        with pytest.raises(RecordingUnavailableError, match="longer than 2.0 s"):
            download(server, download_timeout_seconds=2.0)
        # Each read arrives well inside the per-read timeout, so only an overall deadline ends this.
        assert time.monotonic() - started < 10
    finally:
        server.server.shutdown()
        server.server.server_close()
