"""Signed, content-addressed URLs for the answer audio that Twilio <Play>s.

The URL names what to say (org, voice, text) and carries an HMAC over it, so
any gateway replica can serve it: from its cache when it synthesised it, or
by asking tts again. Nobody can make the gateway synthesise arbitrary text
without the signing key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections import OrderedDict

# An answer is a few sentences; the base64 of its JSON stays far below this.
MAX_PAYLOAD_CHARACTERS = 8192


class InvalidAudioUrlError(ValueError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AudioUrlSigner:
    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("an audio signing key is needed (GATEWAY_AUDIO_SIGNING_KEY or TWILIO_AUTH_TOKEN)")
        self._key = key.encode()

    @staticmethod
    def digest(org_id: str, voice: str, text: str) -> str:
        return hashlib.sha256(json.dumps([org_id, voice, text]).encode()).hexdigest()[:32]

    def _signature(self, digest: str, payload: str) -> str:
        return hmac.new(self._key, f"{digest}.{payload}".encode(), hashlib.sha256).hexdigest()[:32]

    def path(self, org_id: str, voice: str, text: str) -> str:
        """`/audio/<digest>.wav?p=<what to say>&s=<signature>`."""
        digest = self.digest(org_id, voice, text)
        payload = _b64(json.dumps({"o": org_id, "v": voice, "t": text}).encode())
        return f"/audio/{digest}.wav?p={payload}&s={self._signature(digest, payload)}"

    def verify(self, digest: str, payload: str, signature: str) -> tuple[str, str, str]:
        """(org, voice, text) named by a URL this gateway (or a sibling) signed; InvalidAudioUrlError for
        anything else, whatever the URL holds."""
        if len(payload) > MAX_PAYLOAD_CHARACTERS or not (digest + payload + signature).isascii():
            raise InvalidAudioUrlError("malformed audio URL")
        if not hmac.compare_digest(self._signature(digest, payload).encode(), signature.encode()):
            raise InvalidAudioUrlError("bad audio URL signature")
        try:
            fields = json.loads(_unb64(payload))
            named = (fields["o"], fields["v"], fields["t"])
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            raise InvalidAudioUrlError("malformed audio URL") from error
        if not all(isinstance(field, str) for field in named) or self.digest(*named) != digest:
            raise InvalidAudioUrlError("audio URL digest does not match its payload")
        return named


class AudioCache:
    """Recently synthesised answers by digest, least recently used out first."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, bytes] = OrderedDict()

    def get(self, digest: str) -> bytes | None:
        audio = self._entries.get(digest)
        if audio is not None:
            self._entries.move_to_end(digest)
        return audio

    def put(self, digest: str, audio: bytes) -> None:
        self._entries[digest] = audio
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
