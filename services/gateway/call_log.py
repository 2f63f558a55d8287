"""What the gateway tells the call store and its metrics about a call, the same way for both call modes.

Every method hands a record to the recorder, which writes off the call path
and never raises, so nothing here can cost the caller a turn.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from services.common.records.recorder import CallRecorder
from services.gateway.callbacks import CallbackRequest
from services.gateway.metrics import CALLBACK_REQUESTS, CALLS_CONTAINED, HANDOFFS
from services.gateway.sessions import CallSession


class CallLog:
    def __init__(self, recorder: CallRecorder) -> None:
        self.recorder = recorder

    def started(self, session: CallSession, dialled: str, caller: str, mode: str) -> None:
        self.recorder.call_started(session.call_sid, session.org_id, dialled, caller, mode)

    def turn(
        self, session: CallSession, caller: str, answer: str, sources: Iterable[str] = (), fallback_reasons: list[str] | None = None,
        latency_ms: dict[str, float] | None = None, barge_in: bool = False,
    ) -> None:
        """One exchange; a turn with fallback reasons means the agent needed help on this call."""
        reasons = fallback_reasons or []
        session.recorded_turns += 1
        session.needed_help |= bool(reasons)
        self.recorder.turn_recorded(
            session.call_sid, session.org_id, session.recorded_turns, caller, answer, sources, fallback=bool(reasons),
            fallback_reasons=reasons, latency_ms=latency_ms, barge_in=barge_in,
        )

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
        self.recorder.call_ended(session.call_sid, session.org_id, outcome, session.turns, duration_seconds=elapsed)
