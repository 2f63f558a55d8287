"""Signed events, without a network: the signature a receiver checks, the retry schedule, and the org settings
that say where events go and which secret signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from datetime import timedelta

import pytest

from services.common.orgs import OrgConfigError, events_secret_variable, load_org_config
from services.common.records import signing
from services.common.records.events import DeliverySchedule
from tests.conftest import REPO_ROOT, copy_sample_org

SECRET = "whsec-0123456789abcdef"
BODY = b'{"id":"e1","type":"call.completed"}'
NOW = 1_800_000_000


def test_a_signature_is_the_hmac_sha256_of_the_timestamp_a_dot_and_the_body():
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signing.signature_header([SECRET], NOW, BODY) == f"v1={expected}"
    assert signing.verify(SECRET, str(NOW), f"v1={expected}", BODY, now=NOW + 10)


@pytest.mark.parametrize(
    "secret,timestamp,body,now",
    [
        ("whsec-another-org-secret", NOW, BODY, NOW),  # another org's secret
        (SECRET, NOW, BODY + b" ", NOW),  # a body changed in transit
        (SECRET, NOW - 1, BODY, NOW),  # a timestamp changed in transit
        (SECRET, NOW, BODY, NOW + 301),  # a captured request replayed six minutes later
    ],
)
def test_a_receiver_rejects_what_the_sender_did_not_sign_just_now(secret, timestamp, body, now):
    header = signing.signature_header([SECRET], NOW, BODY)
    assert not signing.verify(secret, str(timestamp), header, body, now=now)


def test_during_a_rotation_either_secret_verifies():
    header = signing.signature_header(["whsec-new-0123456789abcdef", SECRET], NOW, BODY)
    assert header.count("v1=") == 2
    assert signing.verify(SECRET, str(NOW), header, BODY, now=NOW)
    assert signing.verify("whsec-new-0123456789abcdef", str(NOW), header, BODY, now=NOW)
    assert not signing.verify(SECRET, "not-a-number", header, BODY, now=NOW)


def test_each_org_reads_its_secret_from_a_variable_named_after_it():
    assert events_secret_variable("acme") == "VOICEAGENT_EVENTS_SECRET_ACME"
    assert events_secret_variable("acme-west_2") == "VOICEAGENT_EVENTS_SECRET_ACME_WEST_2"
    environ = {"VOICEAGENT_EVENTS_SECRET_ACME": f" {SECRET} , whsec-old-0123456789abcdef "}
    assert signing.org_secrets("acme", environ) == [SECRET, "whsec-old-0123456789abcdef"]
    with pytest.raises(signing.MissingSecretError, match="set VOICEAGENT_EVENTS_SECRET_BETA"):
        signing.org_secrets("beta", environ)
    with pytest.raises(signing.MissingSecretError, match="shorter than 16"):
        signing.org_secrets("acme", {"VOICEAGENT_EVENTS_SECRET_ACME": "short"})
    with pytest.raises(ValueError):
        events_secret_variable("../etc")


def test_the_default_schedule_keeps_retrying_for_three_days_backing_off_to_hourly():
    schedule = DeliverySchedule()
    times = schedule.attempt_times(schedule.give_up_after)
    assert times[:7] == [timedelta(seconds=s) for s in (0, 10, 30, 70, 150, 310, 630)]
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert max(gaps) == timedelta(hours=1) and gaps == sorted(gaps)
    assert times[-1] >= timedelta(hours=71) and schedule.give_up_after >= timedelta(hours=24)
    # Within ten minutes of a receiver coming back after a ten-minute outage, the next attempt has happened.
    assert any(timedelta(minutes=10) <= at <= timedelta(minutes=20) for at in times)


def test_jitter_spreads_each_delay_by_at_most_a_fifth():
    schedule = DeliverySchedule()
    delays = [schedule.delay(3).total_seconds() for _ in range(200)]
    assert 32 <= min(delays) < max(delays) <= 48 and len(set(delays)) > 100
    assert DeliverySchedule(jitter=0).delay(30) == timedelta(hours=1)


def write_events_url(tmp_path, url):
    path = copy_sample_org(tmp_path) / "config.json"
    config = json.loads(path.read_text())
    config["events_url"] = url
    path.write_text(json.dumps(config))


def test_without_an_events_url_an_org_sends_no_events():
    assert load_org_config(REPO_ROOT / "data", "acme").events_url is None


@pytest.mark.parametrize("url", ["https://crm.example.com/hooks/voiceagent", "http://receiver.crm.svc.cluster.local:8080/events"])
def test_an_http_or_https_events_url_is_accepted(tmp_path, url):
    write_events_url(tmp_path, url)
    assert load_org_config(tmp_path, "acme").events_url == url


@pytest.mark.parametrize(
    "url,problem",
    [("ftp://example.com/events", "not an http(s) URL"), ("crm.example.com/events", "not an http(s) URL"),
     ("https://user:secret@crm.example.com/events", "must not carry credentials")],
)  # fmt: skip
def test_a_bad_events_url_names_the_field(tmp_path, url, problem):
    write_events_url(tmp_path, url)
    with pytest.raises(OrgConfigError, match=f"events_url.*{re.escape(problem)}"):
        load_org_config(tmp_path, "acme")


def readme_receiver() -> dict:
    """The receiver example in README ("Signed events"), run as written."""
    blocks = re.findall(r"```python\n(.*?)```", (REPO_ROOT / "README.md").read_text(), flags=re.DOTALL)
    [example] = [block for block in blocks if "def verify_voiceagent_event" in block]
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)
    return namespace


def test_the_readme_receiver_accepts_our_events_and_refuses_forgeries_and_replays():
    verify = readme_receiver()["verify_voiceagent_event"]
    now = int(time.time())
    headers = {signing.TIMESTAMP_HEADER: str(now), signing.SIGNATURE_HEADER: signing.signature_header(["whsec-new-0123456789", SECRET], now, BODY)}
    assert verify(headers, BODY, SECRET) and verify(headers, BODY, "whsec-new-0123456789")
    assert not verify(headers, BODY + b"x", SECRET)
    assert not verify(headers, BODY, "whsec-guessed-0123456789")
    stale = now - 600
    old = {signing.TIMESTAMP_HEADER: str(stale), signing.SIGNATURE_HEADER: signing.signature_header([SECRET], stale, BODY)}
    assert not verify(old, BODY, SECRET)
    assert not verify({}, BODY, SECRET)
