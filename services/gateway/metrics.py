"""Gateway metrics: per-stage latency, calls and turns by outcome, fallbacks, active calls.

Labelled counters only appear once incremented, and rate() cannot see the
first increment of a series that did not exist before: the known label sets
are created at zero on start-up so the first fallback or rejection shows.
"""

from prometheus_client import Counter, Gauge, Histogram

from services.common.metrics import LATENCY_BUCKETS

STAGE_SECONDS = Histogram(
    "voiceagent_gateway_stage_duration_seconds",
    "Time per stage of a turn (download, stt, retrieval, llm, tts, turn) by org.",
    ["stage", "org"],
    buckets=LATENCY_BUCKETS,
)
CALLS = Counter("voiceagent_gateway_calls_total", "Calls by org and outcome.", ["org", "outcome"])
TURNS = Counter("voiceagent_gateway_turns_total", "Turns by org and outcome.", ["org", "outcome"])
FALLBACKS = Counter("voiceagent_gateway_fallbacks_total", "Spoken fallbacks by stage, reason and org.", ["stage", "reason", "org"])
ACTIVE_CALLS = Gauge("voiceagent_gateway_active_calls", "Calls in progress on this replica.")
STREAM_LATENCY = Histogram(
    "voiceagent_gateway_stream_latency_seconds",
    "Streaming turns: time from the end of the caller's speech to each milestone "
    "(final_transcript, first_token, first_audio, first_frame_sent), by org.",
    ["milestone", "org"],
    buckets=LATENCY_BUCKETS,
)
BARGE_INS = Counter("voiceagent_gateway_barge_ins_total", "Caller speech that interrupted the agent, by org.", ["org"])
CANCELLED_ANSWERS = Counter("voiceagent_gateway_cancelled_answers_total", "Answers cut short by barge-in, by org.", ["org"])
WEBHOOKS_REJECTED = Counter("voiceagent_gateway_webhooks_rejected_total", "Webhooks refused, by reason.", ["reason"])
CALLS_CONTAINED = Counter(
    "voiceagent_gateway_calls_contained_total", "Calls the agent handled alone: no fallback, handoff or callback, by org.", ["org"]
)
HANDOFFS = Counter("voiceagent_gateway_handoffs_total", "Transfers to a person, by org and result (dialled, unanswered).", ["org", "result"])
CALLBACK_REQUESTS = Counter("voiceagent_gateway_callback_requests_total", "Messages taken for a callback, by org.", ["org"])
MALFORMED_STREAM_MESSAGES = Counter(
    "voiceagent_gateway_stream_malformed_messages_total", "Media Streams messages ignored as malformed after the call started."
)

# "handed_back": a streaming call whose stream the gateway closed (stt or tts down) so Twilio speaks the fallback;
# "idle_timeout": a stream silent for GATEWAY_STREAM_IDLE_SECONDS; "protocol_error": too many malformed messages.
CALL_OUTCOMES = (
    "completed", "busy", "failed", "no-answer", "canceled", "rate_limited", "disconnected", "handed_back", "idle_timeout",
    "protocol_error", "caller_idle", "transferred",
)
TURN_OUTCOMES = (
    "answered", "fallback", "not_heard", "no_input", "caller_done", "turn_limit", "rate_limited", "silence", "idle_prompt",
    "message", "callback_requested", "transfer",
)
KNOWN_FALLBACKS = [("download", "refused"), ("download", "unavailable")] + [
    (stage, reason) for stage in ("stt", "retrieval", "llm", "tts") for reason in ("UNAVAILABLE", "DEADLINE_EXCEEDED")
]


def create_series(org_labels: list[str]) -> None:
    """Zero-valued series for every configured org and the outcomes and fallbacks we know of."""
    CALLS.labels("unknown", "unknown_number")
    for reason in ("missing", "invalid"):
        WEBHOOKS_REJECTED.labels(reason)
    for org in org_labels:
        BARGE_INS.labels(org)
        CANCELLED_ANSWERS.labels(org)
        CALLS_CONTAINED.labels(org)
        CALLBACK_REQUESTS.labels(org)
        for result in ("dialled", "unanswered"):
            HANDOFFS.labels(org, result)
        for outcome in CALL_OUTCOMES:
            CALLS.labels(org, outcome)
        for outcome in TURN_OUTCOMES:
            TURNS.labels(org, outcome)
        for stage, reason in KNOWN_FALLBACKS:
            FALLBACKS.labels(stage, reason, org)
