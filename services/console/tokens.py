"""Signed, expiring tokens: the session cookie, the sign-in form's CSRF cookie, and CSRF tokens.

One HMAC-SHA256 key signs them all, each under its own purpose, so a token made for one use can never be
passed off as another (a CSRF token is not a session). Values are JSON, so a token carries nothing a browser
could run or a server could unpickle; it is readable by whoever holds it (it is not encrypted), so it holds
ids and times only, never an e-mail address or a password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the signing key must be at least 32 bytes")
        self._key = key

    def _mac(self, purpose: str, body: str) -> str:
        return _encode(hmac.new(self._key, f"{purpose}\n{body}".encode(), hashlib.sha256).digest())

    def sign(self, purpose: str, value: dict[str, Any], lifetime_seconds: float, now: float | None = None) -> str:
        issued = time.time() if now is None else now
        body = _encode(json.dumps({"v": value, "exp": int(issued + lifetime_seconds)}, separators=(",", ":")).encode())
        return f"{body}.{self._mac(purpose, body)}"

    def verify(self, purpose: str, token: str | None, now: float | None = None) -> dict[str, Any] | None:
        """The signed value, or None when the token is missing, forged, made for another purpose or expired."""
        if not token or token.count(".") != 1 or len(token) > 4096:
            return None
        body, mac = token.split(".")
        if not hmac.compare_digest(mac, self._mac(purpose, body)):
            return None
        try:
            payload = json.loads(_decode(body))
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(payload, dict) or payload.get("exp", 0) <= (time.time() if now is None else now):
            return None
        value = payload.get("v")
        return value if isinstance(value, dict) else None

    def digest(self, purpose: str, value: str) -> str:
        """A value only this key can compute from `value` (a session's CSRF token from its session id)."""
        return self._mac(purpose, value)
