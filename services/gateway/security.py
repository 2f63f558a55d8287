"""Trusting Twilio and nobody else: webhook signatures and recording downloads.

A webhook is accepted only with a valid X-Twilio-Signature over the exact
URL Twilio called; a Media Stream only with a token the (signed) inbound
webhook minted for that call. A recording is fetched only from an allowlisted prefix
(https unless tests say otherwise), with Twilio basic auth, a size cap and a
timeout: the RecordingUrl field comes from the request, so without these
checks anyone could make the gateway fetch an internal URL (SSRF).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from urllib.parse import urlsplit

import httpx
from starlette.requests import HTTPConnection, Request
from twilio.request_validator import RequestValidator

from services.common.logs import get_logger
from services.gateway.config import GatewaySettings

log = get_logger(__name__)


class RecordingRefusedError(ValueError):
    """The recording URL is not one the gateway may fetch."""


class RecordingUnavailableError(RuntimeError):
    """Twilio did not deliver the recording (still missing after retries, too large, timed out)."""


def public_url(request: HTTPConnection, settings: GatewaySettings) -> str:
    """The URL Twilio signed (or, for a Media Stream, opened): the configured public base, the proxy's view when
    trusted, else our own."""
    path_and_query = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + path_and_query
    if settings.trust_proxy_headers:
        proto = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
        host = request.headers.get("x-forwarded-host", request.headers.get("host", request.url.netloc)).split(",")[0].strip()
        return f"{proto}://{host}{path_and_query}"
    return str(request.url)


class SignatureVerifier:
    """Checks X-Twilio-Signature against the auth token, or the secondary token while one is being rotated in."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        tokens = [token for token in (settings.twilio_auth_token, settings.twilio_secondary_auth_token) if token]
        self._validators = [RequestValidator(token) for token in tokens] if settings.twilio_auth_token else []

    def is_valid(self, request: Request, params: dict[str, str]) -> bool:
        if self.settings.insecure_skip_signature:
            return True
        signature = request.headers.get("x-twilio-signature", "")
        if not signature or not self._validators:
            return False
        url = public_url(request, self.settings)
        return any(validator.validate(url, params, signature) for validator in self._validators)


MAX_REDIRECTS = 3


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


class RecordingDownloader:
    def __init__(self, settings: GatewaySettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.client = client
        # Each allowlist entry is compared by exact scheme, host and port, then by path prefix, so
        # "https://api.twilio.com" can never admit "https://api.twilio.com.evil.example/".
        self.allowed = [(_origin(prefix), urlsplit(prefix).path or "/") for prefix in settings.allowed_recording_prefixes()]

    def _scheme_allowed(self, scheme: str) -> bool:
        return scheme == "https" or (scheme == "http" and self.settings.allow_insecure_recording_urls)

    def _allowed(self, url: str) -> str:
        """`url` without query or fragment when it is on the allowlist; RecordingRefusedError otherwise."""
        try:
            parts = urlsplit(url)
            origin = _origin(url)
        except ValueError as error:
            raise RecordingRefusedError(f"recording URL is malformed: {error}") from error
        if not self._scheme_allowed(parts.scheme):
            raise RecordingRefusedError(f"recording URL scheme {parts.scheme!r} is not allowed")
        if parts.username or parts.password or not parts.hostname:
            raise RecordingRefusedError("recording URL must not carry credentials")
        # No dot segments and no percent-encoding at all ("%2e%2e", "%2f"): a Twilio recording path has neither,
        # and either could climb out of an allowlisted prefix once a server decodes it.
        if ".." in parts.path or "%" in parts.path or "\\" in parts.path:
            raise RecordingRefusedError("recording URL path is not a plain path")
        if not any(origin == allowed and parts.path.startswith(path) for allowed, path in self.allowed):
            raise RecordingRefusedError("recording URL is not on RECORDING_URL_ALLOWLIST")
        return f"{parts.scheme}://{parts.netloc.lower()}{parts.path}"

    def check(self, url: str) -> str:
        """The URL to fetch (WAV), or RecordingRefusedError for anything outside the allowlist."""
        url = self._allowed(url)
        return url if url.endswith(".wav") else url + ".wav"

    async def download(self, url: str) -> bytes:
        """The recording, fetched within `download_timeout_seconds` in all (retries and redirects included), so a
        server that trickles bytes cannot hold a turn."""
        target = self.check(url)
        try:
            async with asyncio.timeout(self.settings.download_timeout_seconds):
                return await self._download(target)
        except TimeoutError as error:
            raise RecordingUnavailableError(
                f"recording download took longer than {self.settings.download_timeout_seconds} s"
            ) from error

    async def _download(self, target: str) -> bytes:
        for attempt in range(1, self.settings.download_attempts + 1):
            try:
                response = await self._fetch(target)
            except (httpx.HTTPError, httpx.InvalidURL) as error:
                raise RecordingUnavailableError(f"recording download failed: {error}") from error
            if response is None and attempt < self.settings.download_attempts:
                await asyncio.sleep(self.settings.download_retry_seconds * attempt)
                continue
            if response is None:
                break
            return response
        raise RecordingUnavailableError("recording download answered HTTP 404 (still missing after retries)")

    async def _fetch(self, url: str) -> bytes | None:
        """The recording's bytes, or None for a 404. Twilio may redirect the media to its storage: redirects
        are followed over https to allowlisted prefixes only, and the account credentials go to the origin
        first asked only."""
        origin = _origin(url)
        for _ in range(MAX_REDIRECTS + 1):
            auth = None
            if self.settings.twilio_account_sid and _origin(url) == origin:
                auth = (self.settings.twilio_account_sid, self.settings.twilio_auth_token)
            async with self.client.stream("GET", url, auth=auth, timeout=self.settings.download_timeout_seconds) as response:
                if response.is_redirect:
                    location = str(response.url.join(response.headers.get("location", "")))
                    if not self._scheme_allowed(urlsplit(location).scheme):
                        raise RecordingUnavailableError(f"recording redirected to a non-https URL (HTTP {response.status_code})")
                    try:
                        url = self._allowed(location)
                    except RecordingRefusedError as error:
                        raise RecordingUnavailableError(f"recording redirected off the allowlist: {error}") from error
                    continue
                if response.status_code == 404:
                    return None
                if response.status_code != 200:
                    raise RecordingUnavailableError(f"recording download answered HTTP {response.status_code}")
                data = bytearray()
                async for piece in response.aiter_bytes():
                    data.extend(piece)
                    if len(data) > self.settings.recording_max_bytes:
                        raise RecordingUnavailableError(f"recording is larger than {self.settings.recording_max_bytes} bytes")
                return bytes(data)
        raise RecordingUnavailableError("recording redirected too many times")


class StreamTokens:
    """Short-lived HMAC tokens that the inbound webhook mints and the WebSocket must present."""

    def __init__(self, key: str, lifetime_seconds: int) -> None:
        self._key = key.encode()
        self.lifetime_seconds = lifetime_seconds

    def _sign(self, call_sid: str, org_id: str, expires: int) -> str:
        return hmac.new(self._key, f"{call_sid}|{org_id}|{expires}".encode(), hashlib.sha256).hexdigest()

    def mint(self, call_sid: str, org_id: str) -> str:
        expires = int(time.time()) + self.lifetime_seconds
        return f"{expires}.{self._sign(call_sid, org_id, expires)}"

    def valid(self, token: str, call_sid: str, org_id: str) -> bool:
        expires, _, signature = token.partition(".")
        # A Unix time has at most a dozen digits; anything longer (or not ASCII) is not a token we minted.
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 12 and signature.isascii()):
            return False
        if int(expires) < time.time():
            return False
        return hmac.compare_digest(self._sign(call_sid, org_id, int(expires)).encode(), signature.encode())
