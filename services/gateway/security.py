"""Trusting Twilio and nobody else: webhook signatures and recording downloads.

A webhook is accepted only with a valid X-Twilio-Signature over the exact
URL Twilio called. A recording is fetched only from an allowlisted prefix
(https unless tests say otherwise), with Twilio basic auth, a size cap and a
timeout: the RecordingUrl field comes from the request, so without these
checks anyone could make the gateway fetch an internal URL (SSRF).
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from twilio.request_validator import RequestValidator

from services.common.logs import get_logger
from services.gateway.config import GatewaySettings

log = get_logger(__name__)


class RecordingRefusedError(ValueError):
    """The recording URL is not one the gateway may fetch."""


class RecordingUnavailableError(RuntimeError):
    """Twilio did not deliver the recording (still missing after retries, too large, timed out)."""


def public_url(request: Request, settings: GatewaySettings) -> str:
    """The URL Twilio signed: the configured public base, the proxy's view when trusted, else our own."""
    path_and_query = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + path_and_query
    if settings.trust_proxy_headers:
        proto = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
        host = request.headers.get("x-forwarded-host", request.headers.get("host", request.url.netloc)).split(",")[0].strip()
        return f"{proto}://{host}{path_and_query}"
    return str(request.url)


class SignatureVerifier:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self._validator = RequestValidator(settings.twilio_auth_token)

    def is_valid(self, request: Request, params: dict[str, str]) -> bool:
        if self.settings.insecure_skip_signature:
            return True
        signature = request.headers.get("x-twilio-signature", "")
        if not signature or not self.settings.twilio_auth_token:
            return False
        return self._validator.validate(public_url(request, self.settings), params, signature)


class RecordingDownloader:
    def __init__(self, settings: GatewaySettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.client = client
        self.prefixes = settings.allowed_recording_prefixes()

    def check(self, url: str) -> str:
        """The URL to fetch (WAV), or RecordingRefusedError for anything outside the allowlist."""
        parts = urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and self.settings.allow_insecure_recording_urls):
            raise RecordingRefusedError(f"recording URL scheme {parts.scheme!r} is not allowed")
        if parts.username or parts.password or not parts.hostname:
            raise RecordingRefusedError("recording URL must not carry credentials")
        normalised = f"{parts.scheme}://{parts.netloc.lower()}{parts.path}"
        if ".." in parts.path or not any(normalised.startswith(prefix) for prefix in self.prefixes):
            raise RecordingRefusedError("recording URL is not on RECORDING_URL_ALLOWLIST")
        return normalised if normalised.endswith(".wav") else normalised + ".wav"

    async def download(self, url: str) -> bytes:
        target = self.check(url)
        auth = (self.settings.twilio_account_sid, self.settings.twilio_auth_token) if self.settings.twilio_account_sid else None
        for attempt in range(1, self.settings.download_attempts + 1):
            try:
                async with self.client.stream(
                    "GET", target, auth=auth, timeout=self.settings.download_timeout_seconds, follow_redirects=False
                ) as response:
                    if response.status_code == 404 and attempt < self.settings.download_attempts:
                        await asyncio.sleep(self.settings.download_retry_seconds * attempt)
                        continue
                    if response.status_code != 200:
                        raise RecordingUnavailableError(f"recording download answered HTTP {response.status_code}")
                    data = bytearray()
                    async for piece in response.aiter_bytes():
                        data.extend(piece)
                        if len(data) > self.settings.recording_max_bytes:
                            raise RecordingUnavailableError(f"recording is larger than {self.settings.recording_max_bytes} bytes")
                    return bytes(data)
            except httpx.HTTPError as error:
                raise RecordingUnavailableError(f"recording download failed: {error}") from error
        raise RecordingUnavailableError("recording was still missing after retries")
