"""Two gateway replicas sharing call memory through a real Redis server."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from services.cli.call_simulator import LOCAL_ACCOUNT_SID, RecordingServer, TwimlAnswer
from services.cli.launcher import free_port
from services.common import audio
from tests.conftest import copy_sample_org
from tests.integration.stack import AUTH_TOKEN, caller_speech, simulator, start_gateway, start_model_services

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory) -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path_factory.mktemp("redis"))],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(50):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(10)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, redis_url) -> Iterator[dict]:
    data_dir = tmp_path_factory.mktemp("data")
    copy_sample_org(data_dir)
    logs = tmp_path_factory.mktemp("logs")
    services = start_model_services(data_dir, logs)
    recordings = RecordingServer(LOCAL_ACCOUNT_SID, AUTH_TOKEN)
    gateways = [start_gateway(data_dir, logs / f"gateway-{n}.log", services, recordings, REDIS_URL=redis_url) for n in "ab"]
    say = caller_speech(services, ["What time do you open on Saturday?", "And on Sundays?"])
    try:
        yield {"gateways": gateways, "recordings": recordings, "say": say}
    finally:
        for gateway in gateways:
            gateway.stop()
        recordings.close()
        for service in services.values():
            service.stop()


def test_any_replica_can_take_any_turn_of_a_call(replicas, redis_url):
    a, b = replicas["gateways"]
    sim_a, sim_b = simulator(a, replicas["recordings"]), simulator(b, replicas["recordings"])
    params = {"AccountSid": LOCAL_ACCOUNT_SID, "CallSid": "CA" + "7" * 32, "From": "+15555550401", "To": "+14155550100"}
    sim_a.post("/voice/inbound", {**params, "CallStatus": "ringing"}).raise_for_status()

    def turn(sim, text):
        url = replicas["recordings"].add(replicas["say"][text])
        response = sim.post("/voice/recording-callback", {**params, "CallStatus": "in-progress", "RecordingUrl": url})
        return response, json.loads(response.headers["X-Voiceagent-Turn"])

    _, first = turn(sim_b, "What time do you open on Saturday?")
    response, second = turn(sim_a, "And on Sundays?")
    assert "Saturday from 10:00 am" in first["answer"]
    assert "closed on Sundays" in second["answer"]  # replica a saw the turn replica b took
    stored = json.loads(redis.Redis.from_url(redis_url).get(f"voiceagent:session:{params['CallSid']}"))
    assert stored["turns"] == 2 and [role for role, _ in stored["history"]] == ["caller", "agent", "caller", "agent"]

    # Answer audio synthesised by a is served by b from the signed URL alone (b's cache never saw it).
    played = TwimlAnswer.parse(response.text).plays[0]
    from_b = httpx.get(played.replace(a.address, b.address))
    assert from_b.status_code == 200 and audio.decode(from_b.content, audio.WAV).duration_seconds > 1.0

    sim_b.post("/voice/status", {**params, "CallStatus": "completed"}).raise_for_status()
    assert redis.Redis.from_url(redis_url).get(f"voiceagent:session:{params['CallSid']}") is None


def test_rate_limits_are_shared_by_the_replicas(replicas):
    a, b = replicas["gateways"]
    sims = [simulator(a, replicas["recordings"]), simulator(b, replicas["recordings"])]
    answers = []
    for n in range(11):  # the default limit is 10 calls per hour per caller
        params = {"AccountSid": LOCAL_ACCOUNT_SID, "CallSid": f"CA{n:032d}", "From": "+15555550402", "To": "+14155550100", "CallStatus": "ringing"}
        answers.append(TwimlAnswer.parse(sims[n % 2].post("/voice/inbound", params).text))
    assert all(answer.record_action for answer in answers[:10]) and answers[10].hangup
