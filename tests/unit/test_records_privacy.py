"""Each org's records policy: what is kept of caller numbers and transcripts, decided before anything is written."""

from __future__ import annotations

import json
import os
import stat

import pytest

from services.common.orgs import RecordsPolicy, load_org_config
from services.common.records.privacy import (
    HASH_KEY_FILE,
    CallerNumberHasher,
    OrgPolicies,
    load_hash_key,
    protect,
    stored_caller_number,
)
from services.common.records.record_types import CallbackRequested, CallStarted, TurnRecorded
from tests.conftest import REPO_ROOT, copy_sample_org

HASHER = CallerNumberHasher(b"k" * 32)
SAID = "I'm ann@example.com, card 4111 1111 1111 1111, call me on +1 415 555 0199"


def test_the_default_policy_is_the_private_one():
    policy = load_org_config(REPO_ROOT / "data", "acme").records
    assert (policy.transcripts, policy.caller_number, policy.retention_days) == ("redacted", "hashed", 90)


@pytest.mark.parametrize(
    "setting,stored",
    [("full", "+14155550199"), ("last4", "…0199"), ("none", None), ("hashed", HASHER.hash("+14155550199"))],
)
def test_the_caller_number_is_kept_as_the_org_allows(setting, stored):
    assert stored_caller_number("+14155550199", setting, HASHER) == stored


def test_a_hashed_number_is_stable_keyed_and_not_the_number():
    hashed = HASHER.hash("+14155550199")
    assert hashed.startswith("hmac-sha256:") and "4155550199" not in hashed
    assert HASHER.hash("+1 415 555 0199") == hashed
    assert CallerNumberHasher(b"another key, 16+").hash("+14155550199") != hashed
    with pytest.raises(ValueError):
        CallerNumberHasher(b"short")


@pytest.mark.parametrize(
    "transcripts,caller_text,answer_text",
    [
        ("redacted", "I'm [email], card [card], call me on [phone]", "Noted [phone]."),
        ("full", SAID, "Noted +1 415 555 0199."),
        ("none", None, "Noted [phone]."),
    ],
)
def test_transcripts_are_kept_as_the_org_allows(transcripts, caller_text, answer_text):
    record = TurnRecorded("CA1", "acme", 0, SAID, "Noted +1 415 555 0199.")
    stored = protect(record, RecordsPolicy(transcripts=transcripts), HASHER)
    assert (stored.caller_text, stored.answer_text) == (caller_text, answer_text)


def test_a_callback_message_is_kept_redacted_even_when_transcripts_are_not_kept():
    record = CallbackRequested("acme", "CA1", "Ann", "+14155550199", "email me at ann@example.com")
    stored = protect(record, RecordsPolicy(transcripts="none", caller_number="none"), HASHER)
    assert (stored.message, stored.number) == ("email me at [email]", "+14155550199")


def test_protecting_a_call_touches_only_the_caller_number():
    record = CallStarted("CA1", "acme", "+14155550100", "+14155550199", "turns")
    stored = protect(record, RecordsPolicy(caller_number="last4"), HASHER)
    assert (stored.caller_number, stored.dialled_number, stored.started_at) == ("…0199", "+14155550100", record.started_at)


def test_policies_follow_config_changes_and_default_to_private_when_unreadable(tmp_path):
    config_path = copy_sample_org(tmp_path) / "config.json"
    policies = OrgPolicies(tmp_path)
    assert policies("acme") == RecordsPolicy()
    config = json.loads(config_path.read_text())
    config["records"] = {"transcripts": "full", "caller_number": "full", "retention_days": 30}
    config_path.write_text(json.dumps(config))
    os.utime(config_path, (1, 1))  # a new modification time, however fast the test runs
    assert policies("acme") == RecordsPolicy(transcripts="full", caller_number="full", retention_days=30)
    config_path.write_text("{broken")
    os.utime(config_path, (2, 2))
    assert policies("acme") == RecordsPolicy()
    assert policies("nobody") == RecordsPolicy() and policies("../etc") == RecordsPolicy()


def test_a_records_setting_the_model_does_not_know_is_refused(tmp_path):
    config_path = copy_sample_org(tmp_path) / "config.json"
    config = json.loads(config_path.read_text())
    config["records"] = {"caller_number": "encrypted"}
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="records.caller_number"):
        load_org_config(tmp_path, "acme")


def test_without_a_configured_key_one_is_made_once_and_kept_private(tmp_path):
    key = load_hash_key("", tmp_path)
    assert len(key) >= 32 and load_hash_key("", tmp_path) == key
    assert stat.S_IMODE((tmp_path / HASH_KEY_FILE).stat().st_mode) == 0o600
    assert load_hash_key("from-the-environment", tmp_path) == b"from-the-environment"
