"""`voiceagent ingest` and `voiceagent search` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, SAMPLE_ORG
from tests.integration.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.slow


def voiceagent(*args: str, addr: str, token: str = ADMIN_TOKEN) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RETRIEVAL_ADDR": addr, "RETRIEVAL_ADMIN_TOKEN": token}
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_ingest_a_directory_then_search_with_json_output(retrieval, tmp_path):
    result = voiceagent("ingest", "--org", "beta", "--json", str(SAMPLE_ORG / "knowledge"), addr=retrieval.address)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["documents_ingested"] == 5 and report["documents_failed"] == 0
    assert {r["name"] for r in report["results"]} == {p.name for p in (SAMPLE_ORG / "knowledge").iterdir()}

    found = voiceagent("search", "--org", "beta", "--top-k", "2", "--json", "how", "much", "is", "a", "tune-up", addr=retrieval.address)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["hits"]
    assert len(hits) == 2 and hits[0]["document"] == "price-list.pdf"


def test_human_output_shows_a_table_and_progress(retrieval, tmp_path):
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nThe beta shop sells gift cards.")
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"not a pdf at all")
    result = voiceagent("ingest", "--org", "beta", str(note), str(junk), addr=retrieval.address)
    assert result.returncode == 1  # one document failed
    assert "note.md" in result.stdout and "FAILED: corrupt or unreadable PDF" in result.stdout
    assert "ingest beta" in result.stderr  # the progress bar
    found = voiceagent("search", "--org", "beta", "gift", "cards", addr=retrieval.address)
    assert found.returncode == 0 and "note.md#0" in found.stdout


def test_errors_are_reported_with_their_status(retrieval):
    missing = voiceagent("search", "--org", "nobody", "hours", addr=retrieval.address)
    assert missing.returncode == 2 and "NOT_FOUND" in missing.stderr
    unauthorised = voiceagent("ingest", "--org", "beta", str(SAMPLE_ORG / "knowledge"), addr=retrieval.address, token="")
    assert unauthorised.returncode == 2 and "UNAUTHENTICATED" in unauthorised.stderr
