"""The call store from the command line, as an operator uses it: calls, callbacks, gaps, events, the audit
trail and the purge, each as a table or as JSON, and every change audited with who made it."""

from __future__ import annotations

import getpass
import json
import sys
import uuid
from collections.abc import Iterator
from concurrent import futures
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from services.cli.main import main
from services.cli.records_access import parse_since
from services.common.generated.voiceagent.v1 import retrieval_pb2 as pb
from services.common.generated.voiceagent.v1 import retrieval_pb2_grpc
from services.common.records.models import utc_now
from services.common.records.org_configs import OrgConfigCache
from services.common.records.record_types import CallbackRequested, CallEnded, CallStarted, HandoffStarted, TurnRecorded
from services.common.records.writer import write_records
from tests.records.conftest import update_org_config

NOW = utc_now().replace(microsecond=0)
ANN = uuid.UUID("a1b2c3d4-0000-4000-8000-000000000001")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`voiceagent ARGS...` in this process: its exit code, standard output and standard error."""
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
        if not isinstance(exit_.code, int):
            print(exit_.code, file=sys.stderr)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli_env(migrated_url: str, data_dir, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("VOICEAGENT_DATABASE_URL", migrated_url)
    monkeypatch.setenv("VOICEAGENT_DATA_DIR", str(data_dir))
    return migrated_url


@pytest.fixture
def calls(store, data_dir, cli_env):
    """Two acme calls (the older with a fallback, a callback and a handoff), a beta call, and a 200-day-old one."""
    update_org_config(data_dir, "acme", events_url="https://crm.example.com/events")
    at = NOW - timedelta(hours=2)
    records = [
        CallStarted("CA-old", "acme", "+14155550100", "…0199", "turns", started_at=NOW - timedelta(days=200)),
        CallEnded("CA-old", "acme", "completed", 0, ended_at=NOW - timedelta(days=200) + timedelta(minutes=1)),
        CallStarted("CA-1", "acme", "+14155550100", "…0199", "turns", started_at=at),
        TurnRecorded("CA-1", "acme", 0, "Do you fix unicycles?", "Let me have a colleague call you back.", fallback=True,
                     fallback_reasons=["not_in_documents"], latency_ms={"turn": 1210.0, "stt": 312.4, "download": 95.0, "llm": 40.0},
                     created_at=at + timedelta(seconds=4)),
        TurnRecorded("CA-1", "acme", 1, "Can you repair my unicycle then?", "Let me have a colleague call you back.", fallback=True,
                     fallback_reasons=["not_in_documents"], created_at=at + timedelta(seconds=20)),
        CallbackRequested("acme", "CA-1", "Ann", "+14155550199", "unicycle repair", reason="fallback", id=ANN, created_at=at + timedelta(seconds=40)),
        HandoffStarted("acme", "CA-1", "+14155550123", trigger="phrase", started_at=at + timedelta(seconds=30)),
        CallEnded("CA-1", "acme", "callback", 2, cost_usd={"stt:openai": 0.004}, ended_at=at + timedelta(seconds=75)),
        CallStarted("CA-2", "acme", "+14155550100", "…0111", "streaming", started_at=NOW - timedelta(minutes=10)),
        TurnRecorded("CA-2", "acme", 0, "When do you open?", "At nine.", sources=["hours.md#0"], latency_ms={"turn": 800.0}),
        CallEnded("CA-2", "acme", "completed", 1, ended_at=NOW - timedelta(minutes=9)),
        CallStarted("CA-3", "beta", "+14155550177", None, "turns", started_at=NOW - timedelta(minutes=5)),
    ]  # fmt: skip
    with store.session() as session:
        write_records(session, records, OrgConfigCache(data_dir).wants_events)
    return store


def test_calls_list_shows_the_newest_first_with_outcome_turns_and_cost(calls, capsys):
    code, out, _ = run(capsys, "calls", "list", "--org", "acme", "--since", "7d")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["started", "(UTC)", "call", "org", "mode", "outcome", "duration", "turns", "fallback", "cost"]
    assert [line.split()[2] for line in lines[2:]] == ["CA-2", "CA-1"]
    assert "callback" in lines[3] and "1m 15s" in lines[3] and "$0.0040" in lines[3] and " yes " in lines[3]

    code, out, _ = run(capsys, "calls", "list", "--json")
    document = json.loads(out)
    assert [call["call_sid"] for call in document["calls"]] == ["CA-3", "CA-2", "CA-1", "CA-old"]
    assert document["calls"][0]["outcome"] is None and document["next_cursor"] is None


def test_calls_show_prints_every_turn_with_its_stage_latencies_in_order(calls, capsys):
    code, out, _ = run(capsys, "calls", "show", "CA-1")
    assert code == 0
    assert "call CA-1  org acme  mode turns  outcome callback" in out
    assert "turn 0" in out and "[fallback: not_in_documents]" in out and "caller: Do you fix unicycles?" in out
    assert "latency: download 95 ms · stt 312 ms · llm 40 ms · turn 1210 ms" in out
    assert "callback a1b2c3d4  new  Ann on +14155550199  (fallback)" in out and "handoff to +14155550123" in out

    code, out, _ = run(capsys, "calls", "show", "CA-1", "--json")
    detail = json.loads(out)
    assert [turn["latency_ms"] for turn in detail["turns"]][0] == {"turn": 1210.0, "stt": 312.4, "download": 95.0, "llm": 40.0}
    assert detail["callbacks"][0]["id"] == str(ANN) and detail["handoffs"][0]["trigger"] == "phrase"


def test_an_unknown_call_is_an_error(calls, capsys):
    code, _, err = run(capsys, "calls", "show", "CA-nope")
    assert code == 1 and "no call CA-nope" in err


def test_callbacks_are_listed_and_marked_done_by_the_os_user_and_audited(calls, capsys):
    code, out, _ = run(capsys, "callbacks", "list", "--org", "acme", "--status", "new")
    assert code == 0 and "a1b2c3d4" in out and "unicycle repair" in out

    code, out, _ = run(capsys, "callbacks", "done", "a1b2c3")
    user = f"cli:{getpass.getuser()}"
    assert code == 0 and f"marked done by {user}" in out
    code, out, _ = run(capsys, "callbacks", "done", str(ANN), "--actor", "console:bob")
    assert code == 0 and f"already done (by {user}" in out

    code, out, _ = run(capsys, "callbacks", "list", "--status", "new", "--json")
    assert json.loads(out) == {"callbacks": []}
    code, out, _ = run(capsys, "audit", "--org", "acme", "--json")
    [entry] = json.loads(out)["audit"]
    assert (entry["actor"], entry["action"], entry["detail"]["callback_id"]) == (user, "callback.done", str(ANN))


def test_a_bad_callback_id_or_status_is_an_error(calls, capsys):
    assert run(capsys, "callbacks", "done", "ffffff")[0] == 1
    code, _, err = run(capsys, "callbacks", "list", "--status", "pending")
    assert code == 1 and "new, done" in err


def test_events_are_listed_with_their_delivery_state(calls, capsys):
    code, out, _ = run(capsys, "events", "list", "--org", "acme")
    assert code == 0
    rows = out.splitlines()[2:]
    assert sorted(row.split()[4] for row in rows) == ["call.completed", "call.completed", "call.completed", "callback.requested", "handoff.started"]
    assert all(row.split()[5] == "pending" for row in rows)
    code, out, _ = run(capsys, "events", "list", "--state", "delivered", "--json")
    assert json.loads(out) == {"events": []}
    code, _, err = run(capsys, "events", "list", "--state", "lost")
    assert code == 1 and "pending, retrying, delivered, abandoned" in err


def test_gaps_groups_the_questions_the_documents_did_not_answer(calls, capsys):
    code, out, _ = run(capsys, "gaps", "--org", "acme")
    assert code == 0
    [row] = [line for line in out.splitlines() if "unicycle" in line.lower()]
    assert row.split()[0] == "2" and "Can you repair my unicycle then?" in row and "Do you fix unicycles?" in row
    code, out, _ = run(capsys, "gaps", "--org", "acme", "--json")
    [gap] = json.loads(out)["gaps"]
    assert (gap["count"], gap["call_sids"]) == (2, ["CA-1"])
    assert "no knowledge gaps for beta" in run(capsys, "gaps", "--org", "beta")[1]


def test_db_purge_deletes_by_each_orgs_retention_and_is_audited(calls, capsys):
    code, out, _ = run(capsys, "db", "purge", "--dry-run")
    # The 200-day-old call (its event was queued just now: events age from when they were queued).
    assert code == 0 and "would delete 1 row over 2 orgs" in out
    code, out, _ = run(capsys, "db", "purge", "--actor", "system:purge-cronjob", "--json")
    assert code == 0
    acme = next(org for org in json.loads(out)["orgs"] if org["org_id"] == "acme")
    assert (acme["calls"], acme["events"], acme["retention_days"]) == (1, 0, 90)
    assert "CA-old" not in run(capsys, "calls", "list")[1]
    code, out, _ = run(capsys, "audit", "--action", "purge")
    assert code == 0 and out.count("system:purge-cronjob") == 2  # acme's entry and the run's


def test_a_store_behind_this_versions_schema_says_what_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VOICEAGENT_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    code, _, err = run(capsys, "calls", "list")
    assert code == 1 and "run `voiceagent db upgrade`" in err


def test_an_unreachable_store_is_exit_2(capsys):
    code, _, err = run(capsys, "audit", "--database-url", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    assert code == 2 and "cannot reach the call store postgresql+psycopg://nobody@127.0.0.1:9/none" in err


@pytest.mark.parametrize(
    "text,expected",
    [("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)), ("2026-11-20T09:30", datetime(2026, 11, 20, 9, 30, tzinfo=UTC)),
     ("2026-11-20T09:30+02:00", datetime(2026, 11, 20, 7, 30, tzinfo=UTC))],
)  # fmt: skip
def test_since_takes_a_date_or_a_time_in_utc_unless_told(text, expected):
    assert parse_since(text) == expected


def test_since_takes_an_age():
    assert abs(parse_since("24h") - (utc_now() - timedelta(hours=24))) < timedelta(seconds=5)
    assert abs(parse_since("2w") - (utc_now() - timedelta(days=14))) < timedelta(seconds=5)


class FakeRetrieval(retrieval_pb2_grpc.RetrievalServicer):
    """The two writes the CLI makes, answered as the retrieval service would."""

    def Ingest(self, requests, context):  # noqa: N802 (gRPC's method name)
        names = [request.document.name for request in requests if request.HasField("document")]
        results = [pb.DocumentResult(name=name, ok=True, chunks=3) for name in names]
        return pb.IngestResponse(documents_ingested=len(names), chunks_added=3 * len(names), results=results, shard=pb.ShardDescription(version=7))

    def DeleteDocument(self, request, context):  # noqa: N802
        return pb.DeleteDocumentResponse(chunks_removed=4, shard=pb.ShardDescription(version=8))


@pytest.fixture
def retrieval() -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    retrieval_pb2_grpc.add_RetrievalServicer_to_server(FakeRetrieval(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def test_ingest_and_document_deletion_are_audited_after_the_service_made_them(cli_env, retrieval, tmp_path, capsys):
    document = tmp_path / "hours.md"
    document.write_text("# Hours\n\nWe open at nine.")
    code, _, _ = run(capsys, "ingest", "--org", "acme", "--addr", retrieval, "--actor", "ops:carol", str(document))
    assert code == 0
    code, out, _ = run(capsys, "documents", "delete", "--org", "acme", "--addr", retrieval, "hours.md")
    assert code == 0 and "4 chunks removed" in out
    code, out, _ = run(capsys, "audit", "--org", "acme", "--json")
    deleted, ingested = json.loads(out)["audit"]
    assert (ingested["actor"], ingested["action"], ingested["detail"]["documents"], ingested["detail"]["shard_version"]) == (
        "ops:carol", "ingest", ["hours.md"], 7
    )
    assert (deleted["actor"], deleted["action"], deleted["detail"]) == (
        f"cli:{getpass.getuser()}", "document.delete", {"document": "hours.md", "chunks_removed": 4, "shard_version": 8}
    )


def test_an_ingest_the_store_cannot_audit_still_succeeds_with_a_warning(retrieval, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VOICEAGENT_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    document = tmp_path / "hours.md"
    document.write_text("We open at nine.")
    code, _, err = run(capsys, "ingest", "--org", "acme", "--addr", retrieval, str(document))
    assert code == 0 and "warning: ingest of acme was not audited: cannot reach the call store" in err

