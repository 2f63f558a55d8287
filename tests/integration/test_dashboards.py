"""The Grafana dashboards and alert rules, checked against metrics a real Prometheus scraped from the real stack.

Every service runs as a process; a Prometheus server scrapes all five every second while calls are driven
through the gateway exactly as Twilio drives them (an answered call with a goodbye, a silent turn, a refused
recording URL, badly signed webhooks, status callbacks). The calls' signed events are delivered to a real
receiver (which loses some acknowledgements, so deliveries fail and are retried) by an event deliverer
process scraped beside them. Then every query of every dashboard panel must return data, and every alert
expression must parse, load and evaluate.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import numpy as np
import pytest
import yaml

from services.cli.call_simulator import LOCAL_ACCOUNT_SID, TwimlAnswer
from services.cli.launcher import free_port
from services.cli.stream_simulator import MediaStreamCaller
from services.common import audio
from services.common.records import queries
from services.common.records.store import RecordStore
from tests.conftest import REPO_ROOT, copy_sample_org
from tests.integration.stack import caller_speech, running_system, write_org
from tests.records.receiver import EventReceiver

pytestmark = pytest.mark.slow

DASHBOARD_DIR = REPO_ROOT / "deploy" / "k8s" / "dashboards"
DASHBOARD_FILES = ("call-overview.json", "stage-latency.json", "service-health.json", "cost.json")
RULES_FILE = REPO_ROOT / "deploy" / "k8s" / "monitoring" / "prometheus-rules.yaml"
JOBS = ("gateway", "stt", "retrieval", "llm", "tts", "events")
ALERTS = ("VoiceagentTurnLatencyHigh", "VoiceagentGrpcErrorRatioHigh", "VoiceagentFallbackRateHigh", "VoiceagentServiceDown")
# Metrics whose series carry an org label: every dashboard selector of them must honour the org variable.
ORG_LABELLED = {
    "voiceagent_gateway_stage_duration_seconds", "voiceagent_gateway_calls_total", "voiceagent_gateway_turns_total",
    "voiceagent_provider_usage_total", "voiceagent_provider_cost_usd_total", "voiceagent_gateway_fallbacks_total",
    "voiceagent_gateway_stream_latency_seconds", "voiceagent_gateway_barge_ins_total", "voiceagent_gateway_cancelled_answers_total",
    "voiceagent_gateway_calls_contained_total", "voiceagent_gateway_handoffs_total", "voiceagent_gateway_callback_requests_total",
}
METRIC_NAME = re.compile(r"voiceagent_[a-z_]+")
SCRAPE_SECONDS = 1
ACME = "+14155550100"
STREAMING = "+14155550133"
EVENTS_SECRET = "whsec-dashboards-0123456789abcdef"


# ---------------------------------------------------------------------------------------------- reading the files


def load_dashboard(name: str) -> dict[str, Any]:
    return json.loads((DASHBOARD_DIR / name).read_text())


def walk_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in panels:
        yield panel
        yield from walk_panels(panel.get("panels", []))


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) for every query target of every panel."""
    return [
        (panel.get("title", "?"), target["expr"])
        for panel in walk_panels(dashboard.get("panels", []))
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def to_promql(expr: str) -> str:
    """The query Grafana would send with the org variable on All and a one-minute rate interval."""
    expr = re.sub(r"\$\{?__rate_interval\}?", "1m", expr)
    expr = re.sub(r"\$\{?__range\}?", "10m", expr)
    expr = re.sub(r"\$\{?org(:[a-z]+)?\}?", ".*", expr)
    expr = re.sub(r"\$\{?datasource\}?", "prometheus", expr)
    assert "$" not in expr, f"unknown Grafana variable left in {expr!r}"
    return expr


def rule_groups() -> list[dict[str, Any]]:
    return yaml.safe_load(RULES_FILE.read_text())["spec"]["groups"]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"] if "alert" in rule]


def write_plain_rules(path: Path) -> Path:
    """The PrometheusRule's groups as the rules file Prometheus and promtool read."""
    path.write_text(yaml.safe_dump({"groups": rule_groups()}, sort_keys=False))
    return path


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} not found: install the Debian prometheus package (make install does)"
    return found


# ------------------------------------------------------------------------------------- static checks (cheap)


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_dashboard_models_are_valid(name):
    dashboard = load_dashboard(name)
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    org = variables["org"]
    assert org["definition"] == "label_values(voiceagent_gateway_turns_total, org)"
    assert org["includeAll"] is True and org["allValue"] == ".*"
    panels = list(walk_panels(dashboard["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
    assert {panel["type"] for panel in panels} <= {"timeseries", "stat", "row"}
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"{name}: panel {panel['title']!r} has no query"
        assert panel["datasource"]["uid"] == "${datasource}"
        assert all(target["expr"].strip() and target["refId"] for target in panel["targets"])


def test_dashboard_uids_are_unique():
    uids = [load_dashboard(name)["uid"] for name in DASHBOARD_FILES]
    assert len(uids) == len(set(uids))
    assert sorted(path.name for path in DASHBOARD_DIR.glob("*.json")) == sorted(DASHBOARD_FILES)


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_queries_use_grafana_intervals_and_the_org_filter(name):
    for title, expr in panel_queries(load_dashboard(name)):
        for window in re.findall(r"\[([^\]]+)\]", expr):
            assert window in ("$__rate_interval", "$__range"), f"{name} / {title}: fixed window [{window}] in {expr}"
        for metric, selector in re.findall(r"(voiceagent_[a-z_]+)(\{[^}]*\})?", expr):
            if re.sub(r"_(bucket|count|sum)$", "", metric) in ORG_LABELLED:
                assert 'org=~"$org"' in selector, f"{name} / {title}: {metric} not filtered by org in {expr}"


def test_every_metric_referenced_is_defined_by_the_code():
    code = "\n".join(
        path.read_text() for path in (REPO_ROOT / "services").rglob("*.py") if "generated" not in path.parts
    )
    exprs = [(name, title, expr) for name in DASHBOARD_FILES for title, expr in panel_queries(load_dashboard(name))]
    exprs += [("prometheus-rules.yaml", rule["alert"], rule["expr"]) for rule in alert_rules()]
    exprs += [(name, "variable org", load_dashboard(name)["templating"]["list"][1]["definition"]) for name in DASHBOARD_FILES]
    unknown = {
        f"{source} / {title}: {metric}"
        for source, title, expr in exprs
        for metric in METRIC_NAME.findall(expr)
        if f'"{re.sub(r"_(bucket|count|sum)$", "", metric)}"' not in code
    }
    assert not unknown, "metrics no service defines:\n" + "\n".join(sorted(unknown))


def test_the_prometheus_rule_has_the_expected_alerts():
    rule = yaml.safe_load(RULES_FILE.read_text())
    assert rule["apiVersion"] == "monitoring.coreos.com/v1" and rule["kind"] == "PrometheusRule"
    assert rule["metadata"]["name"] == "voiceagent-alerts" and "namespace" not in rule["metadata"]
    alerts = {alert["alert"]: alert for alert in alert_rules()}
    assert sorted(alerts) == sorted(ALERTS)
    assert {name: alert["for"] for name, alert in alerts.items()} == {
        "VoiceagentTurnLatencyHigh": "5m", "VoiceagentGrpcErrorRatioHigh": "10m",
        "VoiceagentFallbackRateHigh": "10m", "VoiceagentServiceDown": "2m",
    }
    for alert in alerts.values():
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]


def test_alert_rules_pass_promtool_check(tmp_path):
    checked = subprocess.run(
        [tool("promtool"), "check", "rules", str(write_plain_rules(tmp_path / "rules.yaml"))], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in checked.stdout


def expected_alert(name: str, labels: dict[str, str], value: str) -> dict[str, Any]:
    """The alert promtool should report: the rule's labels and its annotations rendered for `labels` and `value`."""
    rule = next(alert for alert in alert_rules() if alert["alert"] == name)

    def render(template: str) -> str:
        template = re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", lambda match: labels[match.group(1)], template)
        return re.sub(r"\{\{\s*\$value(\s*\|\s*\w+)?\s*\}\}", value, template)

    return {"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": {k: render(v) for k, v in rule["annotations"].items()}}


def test_alerts_fire_when_they_should_and_only_then(tmp_path):
    """promtool unit tests on synthetic series: each alert fires on its condition, caller mistakes do not count."""
    write_plain_rules(tmp_path / "rules.yaml")
    stage = "voiceagent_gateway_stage_duration_seconds_bucket"
    grpc_requests = "voiceagent_grpc_server_requests_total"
    series = {
        'up{job="stt", instance="stt-0"}': "1 0x30",
        'up{job="gateway", instance="gateway-0"}': "1x30",
        # llm: 10% UNAVAILABLE. stt: half its requests are caller mistakes, and no server errors.
        f'{grpc_requests}{{service="llm", method="Generate", code="OK"}}': "0+90x30",
        f'{grpc_requests}{{service="llm", method="Generate", code="UNAVAILABLE"}}': "0+10x30",
        f'{grpc_requests}{{service="stt", method="Transcribe", code="OK"}}': "0+50x30",
        f'{grpc_requests}{{service="stt", method="Transcribe", code="INVALID_ARGUMENT"}}': "0+30x30",
        f'{grpc_requests}{{service="stt", method="Transcribe", code="NOT_FOUND"}}': "0+10x30",
        f'{grpc_requests}{{service="stt", method="Transcribe", code="UNAUTHENTICATED"}}': "0+10x30",
        # Every turn lands between 2.5 s and 5 s, so p95 is 2.5 + 0.95 * 2.5 = 4.875 s; other stages are fast.
        f'{stage}{{stage="turn", org="acme", le="2.5"}}': "0x30",
        f'{stage}{{stage="turn", org="acme", le="5"}}': "0+10x30",
        f'{stage}{{stage="turn", org="acme", le="+Inf"}}': "0+10x30",
        f'{stage}{{stage="stt", org="acme", le="0.5"}}': "0+10x30",
        f'{stage}{{stage="stt", org="acme", le="+Inf"}}': "0+10x30",
        # Half of the turns fall back.
        'voiceagent_gateway_turns_total{org="acme", outcome="answered"}': "0+5x30",
        'voiceagent_gateway_turns_total{org="acme", outcome="fallback"}': "0+5x30",
        'voiceagent_gateway_fallbacks_total{stage="llm", reason="UNAVAILABLE"}': "0+5x30",
    }
    unit = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": name, "values": values} for name, values in series.items()],
            "alert_rule_test": [
                # Down since minute 1: pending for its first two minutes, firing after.
                {"eval_time": "2m", "alertname": "VoiceagentServiceDown", "exp_alerts": []},
                {"eval_time": "4m", "alertname": "VoiceagentServiceDown",
                 "exp_alerts": [expected_alert("VoiceagentServiceDown", {"job": "stt", "instance": "stt-0"}, "")]},
                {"eval_time": "20m", "alertname": "VoiceagentGrpcErrorRatioHigh",
                 "exp_alerts": [expected_alert("VoiceagentGrpcErrorRatioHigh", {"service": "llm"}, "10%")]},
                {"eval_time": "20m", "alertname": "VoiceagentTurnLatencyHigh",
                 "exp_alerts": [expected_alert("VoiceagentTurnLatencyHigh", {}, "4.875s")]},
                {"eval_time": "20m", "alertname": "VoiceagentFallbackRateHigh",
                 "exp_alerts": [expected_alert("VoiceagentFallbackRateHigh", {}, "50%")]},
            ],
        }],
    }
    (tmp_path / "unit.yaml").write_text(yaml.safe_dump(unit, sort_keys=False))
    tested = subprocess.run([tool("promtool"), "test", "rules", "unit.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr


# ---------------------------------------------------------------------------- the real stack and a real Prometheus


class Prometheus:
    """A real Prometheus server on loopback, scraping the given targets and evaluating the alert rules."""

    def __init__(self, directory: Path, targets: dict[str, str]) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "prometheus.log"
        scrape_configs = []
        for job, url in targets.items():
            parsed = urlparse(url)
            scrape_configs.append({
                "job_name": job, "metrics_path": parsed.path, "scrape_interval": f"{SCRAPE_SECONDS}s",
                "scrape_timeout": f"{SCRAPE_SECONDS}s", "static_configs": [{"targets": [parsed.netloc]}],
            })
        config = {
            "global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "evaluation_interval": f"{SCRAPE_SECONDS}s"},
            "rule_files": [str(write_plain_rules(directory / "rules.yaml"))],
            "scrape_configs": scrape_configs,
        }
        self.config_path = directory / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.storage = directory / "tsdb"
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.base_url, timeout=10)

    def start(self, timeout: float = 30.0) -> Prometheus:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [tool("prometheus"), f"--config.file={self.config_path}", f"--storage.tsdb.path={self.storage}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=log, stderr=log,
        )
        log.close()
        wait_for(lambda: self._ready(), timeout, lambda: f"prometheus did not become ready:\n{self.log_tail()}")
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {self.process.returncode}:\n{self.log_tail()}")
        try:
            return self.http.get("/-/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def api(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/{path}", params=params)
        try:
            return response.json()
        except ValueError:
            return {"status": "error", "error": f"HTTP {response.status_code}: {response.text[:500]}"}

    def query(self, expr: str) -> dict[str, Any]:
        return self.api("query", query=expr)

    def value(self, expr: str) -> float | None:
        """The single sample of an aggregating query, or None while there is none."""
        result = self.query(expr)
        samples = result.get("data", {}).get("result", []) if result.get("status") == "success" else []
        return float(samples[0]["value"][1]) if samples else None

    def stop(self) -> None:
        self.http.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_for(condition: Callable[[], bool], timeout: float, message: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise TimeoutError(message())


def exported_total(metrics_url: str, name: str) -> float:
    """The sum of one metric's samples as the process exports them right now."""
    text = httpx.get(metrics_url, timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name) and line[len(name)] in "{ "
    )


class EventDeliveryProcess:
    """tests/integration/event_delivery_process.py: the deliverer a gateway runs, as its own scraped process."""

    def __init__(self, data_dir: Path, log_path: Path, **env: str) -> None:
        self.metrics_port = free_port()
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.env = {**os.environ, "VOICEAGENT_DATA_DIR": str(data_dir), "EVENTS_METRICS_PORT": str(self.metrics_port), **env}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> EventDeliveryProcess:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.event_delivery_process"], cwd=REPO_ROOT, env=self.env, stdout=log, stderr=log
        )
        log.close()
        wait_for(self._serving, 30, lambda: f"the event deliverer did not start:\n{self.log_path.read_text()[-2000:]}")
        return self

    def _serving(self) -> bool:
        try:
            return httpx.get(self.metrics_url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("data")
    copy_sample_org(data_dir)
    write_org(data_dir, "streamco", STREAMING, conversation_mode="streaming")
    receiver = EventReceiver(EVENTS_SECRET).start()
    for org_id in ("acme", "streamco"):
        config_path = data_dir / org_id / "config.json"
        config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "events_url": receiver.url}))
    secrets = {"VOICEAGENT_EVENTS_SECRET_ACME": EVENTS_SECRET, "VOICEAGENT_EVENTS_SECRET_STREAMCO": EVENTS_SECRET}
    logs = tmp_path_factory.mktemp("logs")
    with running_system(data_dir, logs, **secrets) as system:
        events = EventDeliveryProcess(data_dir, logs / "events.log", VOICEAGENT_EVENTS_RETRY_FIRST_SECONDS="0.2",
                                      VOICEAGENT_EVENTS_POLL_SECONDS="0.2", **secrets).start()  # fmt: skip
        targets = {"gateway": system.gateway.metrics_url, **{name: service.metrics_url for name, service in system.services.items()},
                   "events": events.metrics_url}  # fmt: skip
        prometheus = Prometheus(tmp_path_factory.mktemp("prometheus"), targets)
        prometheus.start()
        store = RecordStore(f"sqlite:///{data_dir / 'voiceagent.db'}")
        try:
            yield {"services": system.services, "gateway": system.gateway, "recordings": system.recordings,
                   "prometheus": prometheus, "sim": system.sim, "events": events, "receiver": receiver, "store": store}
        finally:
            store.close()
            prometheus.stop()
            events.stop()
            receiver.stop()


def silence_wav(seconds: float = 1.5) -> bytes:
    return audio.wav_bytes(audio.Audio(np.zeros(int(8000 * seconds), dtype=np.float32), 8000))


def call_params(caller: str, to: str = ACME) -> dict[str, str]:
    return {"AccountSid": LOCAL_ACCOUNT_SID, "CallSid": "CA" + secrets.token_hex(16), "From": caller, "To": to, "CallStatus": "ringing"}


def drive_calls(stack: dict[str, Any], speech: list[bytes], round_number: int) -> None:
    """One of each kind of call the dashboards show, as Twilio would drive them."""
    sim, gateway = stack["sim"], stack["gateway"]
    # The receiver keeps the next two events but loses its answers: those deliveries fail and are retried.
    stack["receiver"].losing_acks = 2

    def caller(n: int) -> str:
        return f"+155555503{round_number}{n}"

    # An answered call over several turns, ended by the caller's goodbye, then Twilio's completed status callback.
    reports = sim.call(ACME, caller(1), speech)
    assert [report.details.get("outcome") for report in reports[1:]] == ["answered", "answered", "caller_done"]

    # A silent recording: stt answers INVALID_ARGUMENT (a non-OK gRPC code) and the agent listens on quietly.
    reports = sim.call(ACME, caller(2), [silence_wav()])
    assert reports[1].details["outcome"] == "silence"

    # A recording URL outside the allowlist: never fetched, a download:refused fallback, the call goes on.
    params = call_params(caller(3))
    action = TwimlAnswer.parse(sim.post("/voice/inbound", params).text).record_action
    refused = sim.post(action, {**params, "CallStatus": "in-progress", "RecordingUrl": "http://169.254.169.254/latest/meta-data/"})
    assert json.loads(refused.headers["X-Voiceagent-Turn"])["fallbacks"] == ["download:refused"]
    assert sim.post("/voice/status", {**params, "CallStatus": "completed", "CallDuration": "12"}).status_code == 204

    # Webhooks with a wrong signature and without one are rejected.
    params = call_params(caller(4))
    assert sim.post("/voice/inbound", params, signature="bm90IGEgc2lnbmF0dXJl").status_code == 403
    assert httpx.post(f"{gateway.address}/voice/inbound", data=params).status_code == 403
    # A number no org owns.
    assert TwimlAnswer.parse(sim.post("/voice/inbound", call_params(caller(5), to="+14155559999")).text).hangup

    # A streaming call: a question answered over Media Streams, then the caller talks over the next answer.
    asyncio.run(streaming_call(sim, speech, caller(6)))


async def streaming_call(sim, speech: list[bytes], number: str) -> None:
    params = call_params(number, to=STREAMING)
    stream = ElementTree.fromstring(sim.post("/voice/inbound", params).text).find("Connect/Stream")
    parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    telephone = [audio.encode(audio.decode(clip, audio.WAV), audio.MULAW)[0] for clip in speech[:2]]
    async with MediaStreamCaller(stream.get("url"), parameters, call_sid=params["CallSid"]) as caller:
        await caller.wait_for_answer()
        await caller.say(telephone[0])
        await caller.wait_for_answer()
        await caller.until_answering(await caller.say(telephone[0]))
        await caller.say(telephone[1])
        await caller.wait_for_answer()
    assert caller.received("clear"), "the barge-in did not happen"


def events_settled(stack: dict[str, Any]) -> bool:
    """Every call's event queued and delivered (none pending or waiting to be retried)."""
    with stack["store"].session() as session:
        listed = queries.list_events(session, limit=500)
    return bool(listed) and all(event.state == "delivered" for event in listed)


def wait_until_scraped(stack: dict[str, Any]) -> None:
    """Until Prometheus holds at least what every process exports now."""
    prometheus, gateway = stack["prometheus"], stack["gateway"]
    wait_for(lambda: events_settled(stack), 60, lambda: f"events not delivered:\n{stack['events'].log_path.read_text()[-2000:]}")
    watched = [("gateway", gateway.metrics_url, name) for name in (
        "voiceagent_gateway_calls_total", "voiceagent_gateway_turns_total", "voiceagent_gateway_fallbacks_total",
        "voiceagent_gateway_webhooks_rejected_total", "voiceagent_gateway_stage_duration_seconds_count",
        "voiceagent_gateway_calls_contained_total", "voiceagent_record_write_duration_seconds_count",
    )]
    watched.append(("events", stack["events"].metrics_url, "voiceagent_events_delivered_total"))
    watched += [(job, service.metrics_url, "voiceagent_grpc_server_requests_total") for job, service in stack["services"].items()]
    for job, url, name in watched:
        expected = exported_total(url, name)
        query = f'sum({name}{{job="{job}"}})'
        wait_for(
            lambda: (prometheus.value(query) or 0) >= expected, 30,
            lambda: f"{query} never reached {expected}: {prometheus.query(query)}",
        )
    # rate() needs two samples of a series inside its window: let a few more scrapes land.
    time.sleep(3 * SCRAPE_SECONDS)


@pytest.fixture(scope="module")
def scraped(stack) -> Prometheus:
    """Every kind of call driven twice while Prometheus scrapes, and scraped.

    Labelled series only appear at their first increment, and Prometheus sees no increase from a series'
    first sample; the second round is what rate() and increase() measure.
    """
    prometheus = stack["prometheus"]
    wait_for(
        lambda: prometheus.value(f'sum(up{{job=~"{"|".join(JOBS)}"}})') == len(JOBS), 30,
        lambda: f"not every target is up: {prometheus.query('up')}\n{prometheus.log_tail()}",
    )
    texts = ["What time do you open on Saturday?", "And on Sundays?", "No thanks, goodbye."]
    speech = list(caller_speech(stack["services"], texts).values())
    for round_number in (1, 2):
        drive_calls(stack, speech, round_number)
        wait_until_scraped(stack)
    return prometheus


def usable(result: dict[str, Any]) -> bool:
    """A successful query with at least one series holding a number (only NaN draws nothing)."""
    if result.get("status") != "success":
        return False
    return any(series["value"][1] != "NaN" for series in result["data"]["result"])


def describe(result: dict[str, Any]) -> str:
    if result.get("status") != "success":
        return f"{result.get('errorType', 'error')}: {result.get('error')}"
    return "only NaN" if result["data"]["result"] else "no series"


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_every_dashboard_query_returns_scraped_data(scraped, name):
    dashboard = load_dashboard(name)
    failures = []
    for title, expr in panel_queries(dashboard):
        result = scraped.query(to_promql(expr))
        if not usable(result):
            failures.append(f"{dashboard['title']} / {title}: {describe(result)}\n    {expr}")
    assert not failures, "dashboard queries without data:\n" + "\n".join(failures)


def panel_values(prometheus: Prometheus, dashboard: str, title: str) -> dict[str, float]:
    """A panel's first query, now: each series' value by its legend, as Grafana would label it."""
    panel = next(panel for panel in walk_panels(load_dashboard(dashboard)["panels"]) if panel["title"] == title)
    target = panel["targets"][0]
    result = prometheus.query(to_promql(target["expr"]))["data"]["result"]
    return {
        re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda match: series["metric"].get(match.group(1), ""), target["legendFormat"]):
        float(series["value"][1])
        for series in result
    }


def test_the_panels_show_the_calls_that_were_made(scraped):
    """Not just series: the rates move with the traffic driven in the second round."""
    assert panel_values(scraped, "call-overview.json", "Calls per minute by outcome")["completed"] > 0
    turns = panel_values(scraped, "call-overview.json", "Turns per minute by outcome")
    assert turns["answered"] > 0 and turns["caller_done"] > 0 and turns["not_heard"] > 0
    assert panel_values(scraped, "call-overview.json", "Fallbacks per minute by stage and reason")["download: refused"] > 0
    rejected = panel_values(scraped, "call-overview.json", "Rejected webhooks per minute by reason")
    assert rejected["invalid"] > 0 and rejected["missing"] > 0
    assert panel_values(scraped, "call-overview.json", "Fallbacks per turn")["fallbacks / turn"] > 0
    errors = panel_values(scraped, "service-health.json", "Errors per second by service, method and code")
    assert errors["stt Transcribe INVALID_ARGUMENT"] > 0
    assert set(panel_values(scraped, "stage-latency.json", "p95 by stage")) == {"download", "stt", "retrieval", "llm", "tts"}
    assert 0 < panel_values(scraped, "stage-latency.json", "Turn latency p95")["p95"] < 30
    assert panel_values(scraped, "cost.json", "Speech to text: audio seconds per minute")["acme local"] > 0
    assert 0 < panel_values(scraped, "call-overview.json", "Containment")["contained"] <= 1
    deliveries = panel_values(scraped, "call-overview.json", "Event deliveries per minute by type and outcome")
    assert deliveries["call.completed delivered"] > 0 and deliveries["call.completed failed"] > 0
    assert panel_values(scraped, "call-overview.json", "Events waiting for delivery")["waiting"] == 0
    assert 0 < panel_values(scraped, "call-overview.json", "Call record write latency")["p50"] < 1


def test_the_calls_events_reached_the_receiver_signed_and_once_after_deduplication(scraped, stack):
    with stack["store"].session() as session:
        outbox = {str(event.id): event for event in queries.list_events(session, limit=500)}
    receiver = stack["receiver"]
    assert {event.type for event in outbox.values()} == {"call.completed"}
    assert set(receiver.unique()) == set(outbox) and all(delivery.signature_valid for delivery in receiver.deliveries)
    assert len(receiver.deliveries) > len(outbox), "the lost acknowledgements were delivered again"


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_the_org_variable_lists_the_orgs_that_took_calls(scraped, name):
    variable = next(v for v in load_dashboard(name)["templating"]["list"] if v["name"] == "org")
    metric, label = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable["definition"]).groups()
    series = scraped.api("series", **{"match[]": metric})
    assert series["status"] == "success" and series["data"], f"{metric} was never scraped"
    values = scraped.api(f"label/{label}/values", **{"match[]": metric})
    assert values["status"] == "success" and "acme" in values["data"]


def test_every_target_was_scraped(scraped):
    result = scraped.query(f'up{{job=~"{"|".join(JOBS)}"}}')["data"]["result"]
    assert {sample["metric"]["job"]: sample["value"][1] for sample in result} == {job: "1" for job in JOBS}


def test_alert_expressions_evaluate_against_the_scraped_metrics(scraped):
    for rule in alert_rules():
        result = scraped.query(rule["expr"])
        assert result["status"] == "success", f"{rule['alert']}: {describe(result)}\n{rule['expr']}"


def test_prometheus_loaded_and_evaluates_the_alert_rules(scraped):
    def loaded_rules() -> list[dict[str, Any]]:
        return [rule for group in scraped.api("rules")["data"]["groups"] for rule in group["rules"]]

    # Until its first evaluation a rule reports the zero time.
    wait_for(lambda: all(not rule["lastEvaluation"].startswith("0001") for rule in loaded_rules()), 10,
             lambda: f"rules not evaluated yet: {loaded_rules()}")
    rules = loaded_rules()
    assert sorted(rule["name"] for rule in rules) == sorted(ALERTS)
    assert all(rule["health"] == "ok" for rule in rules), [(rule["name"], rule.get("lastError")) for rule in rules]
    firing = [rule["name"] for rule in rules if rule["state"] == "firing"]
    assert not firing, f"alerts firing on a healthy stack: {firing}"
