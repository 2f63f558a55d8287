"""Fixtures shared by every suite."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.polly_server import FakePolly
from tests.s3_server import S3Server

REPO_ROOT = Path(__file__).resolve().parent.parent

# Fuzzing budgets: modest in `make test`, large in `make fuzz` (HYPOTHESIS_PROFILE=long).
settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
SAMPLE_ORG = REPO_ROOT / "data" / "acme"


# Caller questions about the sample org, used by the speech round-trip test and the model benchmark.
SPOKEN_QUESTIONS = [
    "What time do you open on Saturday?",
    "How much does a basic tune-up cost?",
    "Where can I park my car?",
    "Can I cancel my rental booking?",
    "Do you repair electric bikes?",
    "Is there a bus stop near the shop?",
    "Do you accept credit cards?",
    "How long does a bike fit take?",
    "Can I return a helmet I bought last week?",
    "Are you open on Sundays?",
]


def copy_sample_org(data_dir: Path, org_id: str = "acme") -> Path:
    """A copy of the sample org (config and knowledge, no shard) under `data_dir`."""
    target = data_dir / org_id
    shutil.copytree(SAMPLE_ORG, target, ignore=shutil.ignore_patterns("vector_store"))
    if org_id != "acme":
        config = (target / "config.json").read_text().replace('"org_id": "acme"', f'"org_id": "{org_id}"')
        (target / "config.json").write_text(config)
    return target


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def fake_polly(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePolly]:
    # boto3 signs requests, so it needs credentials; these only ever reach the local fake.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key")
    server = FakePolly().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server, one process for the whole run (each test uses its own bucket)."""
    server = S3Server().start()
    yield server
    server.stop()
