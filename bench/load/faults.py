"""Faults under load: the offline stack keeps taking calls while things break, one at a time.

Turn-based and streaming callers run throughout (paced as people, within the stack's capacity). In turn:
each model service is killed with SIGKILL and started again, Redis (shared sessions) is stopped and
started again, and the link from the gateway to retrieval gets latency, then packet loss (bench/load/proxy.py).

Per fault, from the callers' records, the gateway's metrics and its log:
- failed turns: the caller heard no answer (an error, no audio, a hang-up);
- fallbacks spoken: the gateway's spoken fallbacks, by stage;
- calls dropped: the gateway hung up on a caller, or closed a stream abnormally; calls handed back: a
  stream closed so that Twilio speaks the org's fallback and hangs up (the designed way out for a stage a
  call cannot go on without);
- unhandled errors: error lines in the gateway's log;
- recovery: from the service serving again (its health check) to the start of the last turn that still
  fell back or failed (0 when none did);
- lost: sessions Redis no longer had after its restart.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bench.load.callers import LocustRun
from bench.load.measure import HEARD, fallbacks_spoken, read_records, scrape
from bench.load.stacks import Stack
from bench.tables import print_header, print_row
from tests.integration.stack import MODEL_SERVICES
from tests.redis_server import RedisServer

# Gateway log events that mean a caller heard a fallback (turn-based and streaming).
FALLBACK_EVENTS = {"turn.fallback", "turn.tts_failed", "stream.stt_failed", "stream.retrieval_failed", "stream.llm_failed", "stream.tts_failed"}
SETTLE_SECONDS = 8
WARMUP_SECONDS = 8
# After the last fault, a window without any: late failures (a connection broken long ago) would show there.
QUIET_SECONDS = 15
CALL_PAUSE_SECONDS = 2.0


@dataclass
class Fault:
    name: str
    inject: Callable[[], None]
    restore: Callable[[], None]  # returns once the service is back (serving)
    down_seconds: float
    # The stage whose fallbacks the fault causes (None: any), so a turn that fell back for another reason (the next
    # fault, begun as this window closed) does not count against this one's recovery.
    stage: str | None = None


@dataclass
class Window:
    fault: Fault
    start: float
    restored: float = 0.0
    back: float = 0.0
    end: float = 0.0
    metrics_before: dict = field(default_factory=dict)
    metrics_after: dict = field(default_factory=dict)
    lost: str = "-"


def log_events(log_path: Path) -> list[dict]:
    events = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
            entry["t"] = datetime.fromisoformat(entry["ts"].replace("Z", "+00:00")).timestamp()
            events.append(entry)
        except (ValueError, KeyError):
            continue
    return events


def fallback_stage(event: dict) -> str:
    """The stage a gateway log line says fell back: `turn.fallback` names it, `stream.stt_failed` is stt's."""
    return event.get("stage") or event["event"].split(".", 1)[1].split("_", 1)[0]


def caused_by(fault: Fault, stages: list[str]) -> bool:
    """Whether fallbacks of these stages (`stt` or `stt:UNAVAILABLE`) are this fault's doing."""
    return any(fault.stage is None or stage.split(":", 1)[0] == fault.stage for stage in stages)


def service_faults(stack: Stack) -> list[Fault]:
    def restart(name: str) -> Callable[[], None]:
        return lambda: stack.services[name].start().wait_serving()

    return [Fault(f"kill -9 {name}", stack.services[name].kill, restart(name), 2.0, name) for name in MODEL_SERVICES]


def network_faults(stack: Stack, service: str) -> list[Fault]:
    faults = stack.extra["proxy"].faults

    def latency() -> None:
        faults.latency_ms = 250

    def loss() -> None:
        faults.loss = 0.05

    def clear() -> None:
        faults.latency_ms, faults.loss = 0, 0

    return [Fault(f"+250 ms each way to {service}", latency, clear, 10.0, service), Fault(f"5% packet loss to {service}", loss, clear, 10.0, service)]


def redis_fault(server: RedisServer, window_of: Callable[[], Window]) -> Fault:
    def stop() -> None:
        window_of().lost = f"{server.sessions()} sessions before"
        server.stop()

    def start() -> None:
        server.start()
        window_of().lost += f", {server.sessions()} after"

    return Fault("stop Redis", stop, start, 3.0)


def run_schedule(stack: Stack, faults: list[Fault], windows: list[Window]) -> None:
    time.sleep(WARMUP_SECONDS)
    quiet = Fault("(none: after the faults)", lambda: None, lambda: None, 0.0)
    for fault in [*faults, quiet]:
        window = Window(fault, time.time(), metrics_before=scrape(stack.gateway.metrics_url))
        windows.append(window)
        fault.inject()
        time.sleep(fault.down_seconds)
        window.restored = time.time()
        fault.restore()
        window.back = time.time()
        time.sleep(QUIET_SECONDS if fault is quiet else SETTLE_SECONDS)
        window.end = time.time()
        window.metrics_after = scrape(stack.gateway.metrics_url)


def report(windows: list[Window], records: list[dict], gateway_log: Path) -> None:
    events = log_events(gateway_log)
    print_header(["fault", "turns", "failed turns", "fallbacks spoken", "calls dropped", "calls handed back", "unhandled errors",
                  "back after s", "recovered s after back", "p95 ms", "lost"])
    for window in windows:
        inside = [record for record in records if window.start <= record["t"] < window.end]
        turns = [record for record in inside if record["kind"] == "turn"]
        failed = [record for record in turns if record["outcome"] not in HEARD]
        outcomes = Counter(record["outcome"] for record in inside)
        dropped = outcomes["dropped"] + sum(count for outcome, count in outcomes.items() if outcome.startswith("dropped:"))
        logged = [event for event in events if window.start <= event["t"] < window.end]
        problems = [record["t"] for record in turns if record["outcome"] not in HEARD or caused_by(window.fault, record.get("fallbacks", []))]
        problems += [event["t"] for event in logged if event.get("event") in FALLBACK_EVENTS and caused_by(window.fault, [fallback_stage(event)])]
        recovered = max([0.0] + [moment - window.back for moment in problems])
        spoken = fallbacks_spoken(window.metrics_before, window.metrics_after)
        latencies = sorted(record["ms"] for record in turns if record["ms"] is not None and record["outcome"] in HEARD)
        p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else None
        print_row([
            window.fault.name, str(len(turns)), str(len(failed)),
            ", ".join(f"{stage} {count}" for stage, count in sorted(spoken.items())) or "0",
            str(dropped), str(outcomes["handed_back"]), str(sum(1 for event in logged if event.get("level") == "error")),
            f"{window.back - window.restored:.1f}", f"{recovered:.1f}", "-" if p95 is None else f"{p95:.0f}", window.lost,
        ])


def run_faults(stack: Stack, redis_server: RedisServer, args) -> None:
    """The fault schedule against `stack` (an offline stack whose gateway shares sessions through `redis_server`
    and reaches retrieval through a FaultyProxy), under steady load."""
    windows: list[Window] = []
    faults = [*service_faults(stack), redis_fault(redis_server, lambda: windows[-1]), *network_faults(stack, "retrieval")]
    callers = [
        LocustRun(stack, "turn", args.fault_turn_callers, 3600, "faults-turn", paced=True, turns_per_call=4, pause=CALL_PAUSE_SECONDS),
        LocustRun(stack, "stream", args.fault_stream_callers, 3600, "faults-stream", turns_per_call=4, pause=CALL_PAUSE_SECONDS,
                  recording_port=stack.recording_ports[1]),
    ]
    for caller in callers:
        caller.start()
    try:
        run_schedule(stack, faults, windows)
    finally:
        for caller in callers:
            caller.stop()
    records = [record for caller in callers for record in read_records(caller.records_path)]
    print(f"\n## Faults under load: offline stack, {args.fault_turn_callers} turn-based and {args.fault_stream_callers} "
          "streaming callers, one fault at a time\n")
    report(windows, records, stack.logs / "gateway.log")
    (stack.logs / "fault-windows.json").write_text(json.dumps(
        [{"fault": w.fault.name, "start": w.start, "restored": w.restored, "back": w.back, "end": w.end} for w in windows], indent=1))
