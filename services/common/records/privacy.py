"""What of a call is kept: each org's `records` policy applied before a record is written or spooled.

The policy is applied in the recorder's writer thread (never on the call path, where the redaction regexes
would cost a turn time) and before a record reaches the on-disk spool, so what the org asked not to keep is
never written anywhere, not even while the database is down.

Caller numbers are hashed with a key (HMAC-SHA256), not a bare hash: there are few enough phone numbers that
an unkeyed hash is reversed by trying them all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from services.common.logs import redact
from services.common.orgs import RecordsPolicy
from services.common.records.org_configs import OrgConfigCache
from services.common.records.record_types import CallbackRequested, CallStarted, Record, TurnRecorded

HASH_PREFIX = "hmac-sha256:"
LAST4_PREFIX = "…"
HASH_KEY_FILE = ".records-hash-key"


class CallerNumberHasher:
    """The same number always gives the same hash (repeat callers can be counted), unreadable without the key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the caller-number hash key must be at least 16 bytes")
        self._key = key

    def hash(self, number: str) -> str:
        canonical = "".join(ch for ch in number if ch.isdigit() or ch == "+") or number
        return HASH_PREFIX + hmac.new(self._key, canonical.encode(), hashlib.sha256).hexdigest()


def load_hash_key(configured: str, data_dir: Path) -> bytes:
    """`VOICEAGENT_RECORDS_HASH_KEY` when set (every gateway replica must share it), else a random key kept in
    the data directory (created once, readable by its owner only), so one machine's hashes stay comparable."""
    if configured:
        return configured.encode()
    path = Path(data_dir) / HASH_KEY_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return key


def stored_caller_number(number: str | None, setting: str, hasher: CallerNumberHasher) -> str | None:
    if not number or setting == "none":
        return None
    if setting == "full":
        return number
    if setting == "last4":
        digits = "".join(ch for ch in number if ch.isdigit())
        return LAST4_PREFIX + digits[-4:] if digits else None
    return hasher.hash(number)


def stored_text(text: str | None, setting: str) -> str | None:
    if text is None or setting == "none":
        return None
    return text if setting == "full" else redact(text)


def protect(record: Record, policy: RecordsPolicy, hasher: CallerNumberHasher) -> Record:
    """`record` as the org's policy allows it to be stored.

    With `transcripts: none` the caller's words are dropped but the agent's answers are kept (redacted): what
    the agent told a customer is the business's own speech, and the reason to keep records at all. A message
    left for a callback is kept even then (redacted), since the caller asked for it to be passed on; the
    callback number is kept in full because the caller gave it to be called back on.
    """
    if isinstance(record, CallStarted):
        return dataclasses.replace(record, caller_number=stored_caller_number(record.caller_number, policy.caller_number, hasher))
    if isinstance(record, TurnRecorded):
        return dataclasses.replace(
            record,
            caller_text=stored_text(record.caller_text, policy.transcripts),
            answer_text=stored_text(record.answer_text, "full" if policy.transcripts == "full" else "redacted"),
        )
    if isinstance(record, CallbackRequested):
        return dataclasses.replace(record, message=stored_text(record.message, "full" if policy.transcripts == "full" else "redacted"))
    return record


class OrgPolicies:
    """Each org's records policy from its config.json, re-read when the file changes.

    An org whose config is missing or broken gets the default (most private) policy: a record is never kept
    more fully than the org may have asked.
    """

    def __init__(self, data_dir: Path | OrgConfigCache) -> None:
        self.configs = data_dir if isinstance(data_dir, OrgConfigCache) else OrgConfigCache(data_dir)

    def __call__(self, org_id: str) -> RecordsPolicy:
        config = self.configs.get(org_id)
        return config.records if config else RecordsPolicy()
