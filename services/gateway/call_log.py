"""What the gateway tells the call store and its metrics about a call, the same way for both call modes.

Every method hands a record to the recorder, which writes off the call path
and never raises, so nothing here can cost the caller a turn.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from services.common.generated.voiceagent.v1.common_pb2 import Usage
from services.common.records.recorder import CallRecorder
from services.gateway.callbacks import CallbackRequest
from services.gateway.metrics import CALLBACK_REQUESTS, CALLS_CONTAINED, HANDOFFS
from services.gateway.sessions import CallSession

# Three or more digits, or digits as words, in any grouping ("5 0 3, 5 5 5", "five oh three", "503-555-0142"):
# a phone number or part of one, not "two kayaks".
_DIGIT = r"(?:\d+|zero|oh|one|two|three|four|five|six|seven|eight|nine|double|triple)"
_DIGITS = re.compile(rf"\b{_DIGIT}(?:[\s,.-]+{_DIGIT}\b){{2,}}|\b\d{{3,}}\b", re.IGNORECASE)


def fallback_reasons(stage_fallbacks: list[str], unanswered: bool) -> list[str]:
    """Why a turn's answer is a fallback ("stt:UNAVAILABLE", "not_in_documents"); empty when it is not one."""
    return stage_fallbacks + ["not_in_documents"] * unanswered


def mask_digits(text: str) -> str:
    return _DIGITS.sub("[number]", text)


def add_usage(session: CallSession, stage: str, usage: Usage) -> None:
    """Count a service's usage report toward the call's estimated cost, by stage and provider."""
    if usage.provider:
        key = f"{stage}:{usage.provider}"
        session.cost_usd[key] = round(session.cost_usd.get(key, 0.0) + usage.estimated_cost_usd, 6)


class CallLog:
    def __init__(self, recorder: CallRecorder) -> None:
        self.recorder = recorder

    def started(self, session: CallSession, dialled: str, caller: str, mode: str) -> None:
        self.recorder.call_started(session.call_sid, session.org_id, dialled, caller, mode)

    def turn(
        self, session: CallSession, caller: str, answer: str, sources: Iterable[str] = (), fallback_reasons: list[str] | None = None,
        latency_ms: dict[str, float] | None = None, barge_in: bool = False, index: int | None = None, private: bool = False,
    ) -> int:
        """One exchange (a new turn, or the turn at `index` again, say cut short by a barge-in); its index. A turn
        with fallback reasons means the agent needed help on this call. A `private` turn holds the caller's phone
        number (given, or read back digit by digit): its digits are never stored, whatever the org's policy."""
        reasons = fallback_reasons or []
        if index is None:
            session.recorded_turns += 1
            index = session.recorded_turns
        session.needed_help |= bool(reasons)
        if private:
            caller, answer = mask_digits(caller), mask_digits(answer)
        self.recorder.turn_recorded(
            session.call_sid, session.org_id, index, caller, answer, sources, fallback=bool(reasons),
            fallback_reasons=reasons, latency_ms=latency_ms, barge_in=barge_in,
        )
        return index

    def callback(self, session: CallSession, org_label: str, request: CallbackRequest) -> None:
        session.needed_help = True
        CALLBACK_REQUESTS.labels(org_label).inc()
        self.recorder.callback_requested(session.org_id, session.call_sid, request.name, request.number, request.message, request.reason)

    def handoff(self, session: CallSession, org_label: str, number: str, trigger: str) -> None:
        session.needed_help = True
        HANDOFFS.labels(org_label, "dialled").inc()
        self.recorder.handoff_started(session.org_id, session.call_sid, number, trigger)

    def handoff_unanswered(self, org_label: str) -> None:
        HANDOFFS.labels(org_label, "unanswered").inc()

    def ended(self, session: CallSession, org_label: str, outcome: str, duration_seconds: float | None = None) -> None:
        """The call is over: its record completed, and counted as contained when the agent answered alone."""
        if session.turns and not session.needed_help:
            CALLS_CONTAINED.labels(org_label).inc()
        elapsed = duration_seconds if duration_seconds is not None else round(time.time() - session.started_at, 1)
        self.recorder.call_ended(
            session.call_sid, session.org_id, outcome, session.recorded_turns, cost_usd=session.cost_usd, duration_seconds=elapsed
        )
