"""The recorder's metrics: how long writes take, what waits on disk, and what was lost (the target is none).

Labels are bounded: the record kind (six values) and the reason a record was dropped.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from services.common.metrics import LATENCY_BUCKETS

RECORD_WRITE_SECONDS = Histogram(
    "voiceagent_record_write_duration_seconds",
    "Time to write one batch of call records to the store (one transaction).",
    buckets=LATENCY_BUCKETS,
)
RECORDS_WRITTEN = Counter(
    "voiceagent_records_written_total",
    "Call records committed to the store, by kind (call_started, turn, call_ended, callback, handoff, audit).",
    ["kind"],
)
RECORDS_SPOOLED = Counter(
    "voiceagent_records_spooled_total",
    "Call records put in the on-disk spool because the store could not take them.",
)
SPOOL_DEPTH = Gauge(
    "voiceagent_records_spool_depth",
    "Call records waiting in the on-disk spool for the store to come back.",
)
# Why a record can be lost; each series exists at zero from the start, so the first loss shows in rate().
DROP_REASONS = ("queue_full", "spool_full", "spool_unwritable", "rejected", "corrupt", "invalid")
RECORDS_DROPPED = Counter(
    "voiceagent_records_dropped_total",
    "Call records lost, by reason: queue_full (queue and overflow full), spool_full, spool_unwritable (a disk "
    "error), rejected (the store refused the record itself), corrupt (an unreadable spool line), invalid (bad "
    "arguments from the caller).",
    ["reason"],
)

# Signed events. Labels: the event type (three values) and the attempt's outcome: "delivered" (a 2xx),
# "failed" (anything else; retried with back-off) or "abandoned" (failed after the retry window, or for an org
# that no longer has an events_url).
EVENTS_DELIVERED = Counter(
    "voiceagent_events_delivered_total",
    "Attempts to deliver a signed event to an org's events_url, by event type and outcome (delivered, failed, abandoned).",
    ["type", "outcome"],
)
EVENTS_PENDING = Gauge(
    "voiceagent_events_pending",
    "Signed events in the outbox neither delivered nor abandoned (the same for every deliverer: take the max).",
)
