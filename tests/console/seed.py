"""Call records written straight into the store, for the console's tests and its benchmark.

Rows are inserted as the recorder would leave them (a call with its turns, callbacks, events), in bulk, so
the benchmark can seed 10,000 calls and 100,000 turns in seconds.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from services.common.records.models import Call, CallbackRequest, OutboxEvent, Turn
from services.common.records.store import RecordStore

QUESTIONS = [
    ("When are you open on Saturday?", "We're open from nine to five on Saturdays.", ["hours.md#0"]),
    ("How much is a basic tune-up?", "A basic tune-up is forty-five dollars.", ["prices.md#1"]),
    ("Do you rent tandem bikes?", "We rent tandems for sixty dollars a day.", ["rentals.md#2"]),
]
GAPS = ["Do you fix unicycles?", "Can you repair my unicycle?", "Do you sell gift cards?"]


@dataclass
class SeededCall:
    call_sid: str
    org_id: str
    started_at: datetime
    outcome: str | None = "completed"
    # (caller, answer, sources, fallback reasons or None, turn latency ms)
    turns: list[tuple[str, str, list[str], list[str] | None, float]] = field(default_factory=list)
    caller_number: str = "…0123"
    cost_usd: dict[str, float] = field(default_factory=lambda: {"stt:local": 0.0, "llm:extractive": 0.0})


def call_rows(call: SeededCall) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ended = call.started_at + timedelta(seconds=20 * max(1, len(call.turns)))
    call_row = {
        "call_sid": call.call_sid, "org_id": call.org_id, "dialled_number": "+14155550100", "caller_number": call.caller_number,
        "mode": "turns", "started_at": call.started_at, "ended_at": ended if call.outcome else None,
        "duration_seconds": (ended - call.started_at).total_seconds() if call.outcome else None, "outcome": call.outcome,
        "turns_count": len(call.turns), "cost_usd": call.cost_usd, "updated_at": ended,
    }  # fmt: skip
    turn_rows = [
        {
            "call_sid": call.call_sid, "turn_index": index, "caller_text": caller, "answer_text": answer, "sources": sources,
            "fallback": reasons is not None, "fallback_reasons": reasons or [], "barge_in": False,
            "latency_ms": {"stt": 200.0, "retrieval": 30.0, "llm": 120.0, "tts": 90.0, "turn": turn_ms},
            "created_at": call.started_at + timedelta(seconds=20 * index),
        }  # fmt: skip
        for index, (caller, answer, sources, reasons, turn_ms) in enumerate(call.turns, start=1)
    ]
    return call_row, turn_rows


def add_calls(store: RecordStore, calls: list[SeededCall]) -> None:
    rows = [call_rows(call) for call in calls]
    with store.session() as session:
        session.execute(insert(Call), [call_row for call_row, _ in rows])
        turns = [turn for _, turn_rows in rows for turn in turn_rows]
        if turns:
            session.execute(insert(Turn), turns)


def add_callback(store: RecordStore, org_id: str, call_sid: str | None, name: str, number: str, message: str, at: datetime) -> uuid.UUID:
    callback_id = uuid.uuid4()
    with store.session() as session:
        session.add(CallbackRequest(id=callback_id, org_id=org_id, call_sid=call_sid, name=name, number=number, message=message,
                                    reason="fallback", status="new", created_at=at))  # fmt: skip
    return callback_id


def add_event(store: RecordStore, org_id: str, call_sid: str, at: datetime, delivered: bool = True) -> None:
    with store.session() as session:
        session.add(OutboxEvent(id=uuid.uuid4(), org_id=org_id, type="call.completed", payload={"call_sid": call_sid}, created_at=at,
                                attempts=1, next_attempt_at=at, delivered_at=at if delivered else None))  # fmt: skip


def busy_org(org_id: str, calls: int, turns_per_call: int, now: datetime, days: int = 90, seed: int = 7) -> list[SeededCall]:
    """`calls` calls spread over the last `days` days, a tenth of the turns falling back on a knowledge gap."""
    rng = random.Random(seed)
    seeded = []
    for number in range(calls):
        turns = []
        for _ in range(turns_per_call):
            if rng.random() < 0.1:
                turns.append((rng.choice(GAPS), "I'm not sure about that one.", [], ["not_in_documents"], rng.uniform(400, 1500)))
            else:
                caller, answer, sources = rng.choice(QUESTIONS)
                turns.append((caller, answer, sources, None, rng.uniform(400, 1500)))
        started = now - timedelta(seconds=rng.uniform(0, days * 86400))
        outcome = rng.choice(["completed", "completed", "completed", "hung_up", "callback", "handoff"])
        seeded.append(SeededCall(f"CA{org_id[:4]}{number:028d}", org_id, started, outcome, turns))
    return seeded
