"""Gateway metrics: per-stage latency, calls and turns by outcome, fallbacks, active calls."""

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
FALLBACKS = Counter("voiceagent_gateway_fallbacks_total", "Spoken fallbacks by stage and reason.", ["stage", "reason"])
ACTIVE_CALLS = Gauge("voiceagent_gateway_active_calls", "Calls in progress on this replica.")
WEBHOOKS_REJECTED = Counter("voiceagent_gateway_webhooks_rejected_total", "Webhooks refused, by reason.", ["reason"])
