"""Event signatures: HMAC-SHA256 over the delivery's timestamp and the exact body, with the org's secret.

The receiver recomputes `hex(HMAC-SHA256(secret, f"{timestamp}.{body}"))` and compares it with the
`X-Voiceagent-Signature` header in constant time. The timestamp is signed with the body, and each attempt is
signed when it is sent, so a receiver can refuse a captured request replayed later (older than a few
minutes) while still accepting a genuine retry of an old event. README ("Signed events") shows a receiver.

Secrets come from the environment, one variable per org (services.common.orgs.events_secret_variable): each
org's receiver holds its own secret and cannot forge another org's events. A variable may hold several
comma-separated secrets; every event is then signed with each (`v1=<new>,v1=<old>`), so an org rotates its
secret without a moment where its receiver rejects events.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

from services.common.orgs import events_secret_variable

EVENT_ID_HEADER = "X-Voiceagent-Event-Id"
EVENT_TYPE_HEADER = "X-Voiceagent-Event-Type"
TIMESTAMP_HEADER = "X-Voiceagent-Timestamp"
SIGNATURE_HEADER = "X-Voiceagent-Signature"
SCHEME = "v1"
# What a receiver should accept between the signed timestamp and its own clock.
TOLERANCE_SECONDS = 300
# Shorter secrets are refused: an HMAC is only as strong as its key.
MIN_SECRET_LENGTH = 16


class MissingSecretError(LookupError):
    """The org has an events_url but no usable signing secret in the environment."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `{timestamp}.{body}` under `secret`."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets: list[str], timestamp: int, body: bytes) -> str:
    return ",".join(f"{SCHEME}={sign(secret, timestamp, body)}" for secret in secrets)


def verify(secret: str, timestamp: str, header: str, body: bytes, now: float, tolerance: float = TOLERANCE_SECONDS) -> bool:
    """True when `header` holds a signature of `body` at `timestamp` by `secret`, and the timestamp is recent."""
    try:
        signed_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - signed_at) > tolerance:
        return False
    expected = sign(secret, signed_at, body)
    candidates = [part.strip().removeprefix(f"{SCHEME}=") for part in header.split(",") if part.strip().startswith(f"{SCHEME}=")]
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


def org_secrets(org_id: str, environ: Mapping[str, str] = os.environ) -> list[str]:
    """The org's signing secrets, newest first; raises MissingSecretError (naming the variable) when unset or too short."""
    variable = events_secret_variable(org_id)
    secrets = [secret.strip() for secret in environ.get(variable, "").split(",") if secret.strip()]
    if not secrets:
        raise MissingSecretError(f"no signing secret: set {variable}")
    if any(len(secret) < MIN_SECRET_LENGTH for secret in secrets):
        raise MissingSecretError(f"{variable} holds a secret shorter than {MIN_SECRET_LENGTH} characters")
    return secrets
