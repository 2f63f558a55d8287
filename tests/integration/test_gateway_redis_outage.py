"""Shared sessions in a real Redis that goes away mid-call and comes back: calls go on, nothing is dropped.

Found under load (`make load`, fault "stop Redis"): every webhook reads the call's session, so a stopped
Redis made each one an unhandled exception; callers heard the "trouble" message and a hang-up, and streams
failed to open. A connection broken by a Redis restart failed the next turn that drew it from the pool.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.cli.call_simulator import TwimlAnswer
from services.common.records.schema import upgrade
from services.common.records.settings import default_database_url
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.gateway.sessions import CallSession, RedisSessionStore
from tests.conftest import copy_sample_org
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow

CALL = {"CallSid": "CA" + "5" * 32, "From": "+15555550177", "To": "+14155550100", "AccountSid": "AC" + "0" * 32}


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()


def test_the_store_serves_from_memory_while_redis_is_down_and_hands_back_when_it_returns(redis_server):
    async def scenario() -> None:
        store = RedisSessionStore(redis_server.url, 3600)
        await store.put(CallSession(call_sid="CA1", org_id="acme", turns=1))
        redis_server.stop()
        # Nothing raises: a new call is created, counted and claimed on this replica's memory.
        assert await store.create(CallSession(call_sid="CA2", org_id="acme"))
        assert not await store.create(CallSession(call_sid="CA2", org_id="acme"))
        assert await store.count("calls:x", 60) == 1 and await store.count("calls:x", 60) == 2
        assert await store.claim("token", 60) and not await store.claim("token", 60)
        await store.update(CallSession(call_sid="CA2", org_id="acme", turns=1))
        assert (await store.get("CA2")).turns == 1
        # What only Redis held is out of reach until it returns.
        assert await store.get("CA1") is None
        redis_server.start()
        await asyncio.sleep(1.1)  # the replica tries Redis again a second after it failed
        assert (await store.get("CA1")).turns == 1  # kept by Redis's snapshot across the restart
        await store.update(CallSession(call_sid="CA2", org_id="acme", turns=2))
        assert json.loads(redis_server.client().get("voiceagent:session:CA2"))["turns"] == 2  # moved back to Redis
        assert (await store.delete("CA2")).turns == 2 and await store.get("CA2") is None

    asyncio.run(scenario())


def test_a_connection_broken_by_a_redis_restart_costs_no_turn(redis_server):
    async def scenario() -> None:
        store = RedisSessionStore(redis_server.url, 3600)
        await asyncio.gather(*(store.put(CallSession(call_sid=f"CA{n}", org_id="acme", turns=n)) for n in range(4)))
        redis_server.stop()
        redis_server.start()
        # Every pooled connection is dead; each turn still reads the session Redis holds.
        sessions = await asyncio.gather(*(store.get(f"CA{n}") for n in range(4)))
        assert [session.turns for session in sessions] == [0, 1, 2, 3]

    asyncio.run(scenario())


def test_a_call_goes_on_through_a_redis_outage(redis_server, tmp_path):
    copy_sample_org(tmp_path)
    config = json.loads((tmp_path / "acme" / "config.json").read_text())
    (tmp_path / "acme" / "config.json").write_text(json.dumps({**config, "speech_mode": "say"}))
    settings = GatewaySettings(data_dir=tmp_path, insecure_skip_signature=True, redis_url=redis_server.url, stt_timeout_seconds=1)
    upgrade(default_database_url(tmp_path))
    with TestClient(create_app(settings)) as client:
        greeting = TwimlAnswer.parse(client.post("/voice/inbound", data={**CALL, "CallStatus": "ringing"}).text)
        assert greeting.record_action and not greeting.hangup
        redis_server.stop()
        # No model service and no recording here: the turn is "Sorry, I didn't catch that", and the call goes on.
        turn = TwimlAnswer.parse(client.post("/voice/no-input", data={**CALL, "CallStatus": "in-progress"}).text)
        assert turn.record_action and not turn.hangup, turn
        other = TwimlAnswer.parse(client.post("/voice/inbound", data={**CALL, "CallSid": "CA" + "6" * 32, "CallStatus": "ringing"}).text)
        assert other.record_action and not other.hangup
        assert client.post("/voice/status", data={**CALL, "CallStatus": "completed"}).status_code == 204
