"""What a load step measured: per-turn records from the Locust callers, CPU per process, the gateway's metrics."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Outcomes of a turn in which the caller heard an answer (a fallback is still an answer).
HEARD = {"answered", "fallback"}


def read_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class StepResult:
    """The turns that started inside a window of a load run."""

    records: list[dict]
    seconds: float

    @property
    def turns(self) -> list[dict]:
        return [record for record in self.records if record["kind"] == "turn"]

    @property
    def latencies_ms(self) -> list[float]:
        return [record["ms"] for record in self.turns if record["ms"] is not None and record["outcome"] in HEARD]

    def percentile(self, q: float) -> float | None:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else None

    @property
    def outcomes(self) -> Counter:
        return Counter(record["outcome"] for record in self.records)

    @property
    def failed(self) -> int:
        """Turns and calls that went wrong for the caller: no answer, an error, a hang-up, a stream that would not open."""
        return sum(count for outcome, count in self.outcomes.items() if outcome not in HEARD)

    @property
    def calls(self) -> int:
        """Calls the gateway answered (its inbound webhook) in the window."""
        return sum(1 for record in self.records if record["kind"] == "ring" and record["outcome"] in HEARD)

    def per_second(self, count: int) -> float:
        return count / self.seconds if self.seconds > 0 else 0.0


def window(records: list[dict], start: float, end: float) -> StepResult:
    return StepResult([record for record in records if start <= record["t"] < end], end - start)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_cpu_seconds() -> float:
    """CPU time every process on the machine has used so far (all cores)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


@dataclass
class CpuMeter:
    """CPU used by named processes between `start` and `stop`, as a share of one core, and by everything else on
    the machine as "others" (a shared machine's other work competes for the same cores)."""

    pids: dict[str, int]
    started: dict[str, float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0

    def _now(self) -> dict[str, float]:
        return {**{name: cpu_seconds(pid) for name, pid in self.pids.items()}, "machine": machine_cpu_seconds(), "runner": cpu_seconds(os.getpid())}

    def start(self) -> CpuMeter:
        self.started = self._now()
        self.wall = time.monotonic()
        return self

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self.wall
        now = self._now()
        used = {name: now[name] - self.started[name] for name in now}
        machine = used.pop("machine")
        used["others"] = max(0.0, machine - sum(used.values()))
        used.pop("runner")
        self.used = used
        return {name: seconds / wall for name, seconds in used.items()}


_SAMPLE = re.compile(r'^(\w+)\{([^}]*)\} ([0-9.e+-]+)$')


def scrape(metrics_url: str) -> dict[tuple[str, frozenset], float]:
    """Prometheus text as {(name, labels): value}."""
    samples = {}
    for line in urllib.request.urlopen(metrics_url, timeout=5).read().decode().splitlines():
        if match := _SAMPLE.match(line):
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
            samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def stage_means_ms(before: dict, after: dict) -> dict[str, float]:
    """Mean time of each turn stage at the gateway between two scrapes."""
    sums, counts = Counter(), Counter()
    for (name, labels), value in after.items():
        stage = dict(labels).get("stage")
        delta = value - before.get((name, labels), 0.0)
        if name == "voiceagent_gateway_stage_duration_seconds_sum":
            sums[stage] += delta
        elif name == "voiceagent_gateway_stage_duration_seconds_count":
            counts[stage] += delta
    return {stage: sums[stage] / counts[stage] * 1000 for stage in counts if counts[stage]}


def fallbacks_spoken(before: dict, after: dict) -> Counter:
    """Spoken fallbacks by stage between two scrapes."""
    spoken = Counter()
    for (name, labels), value in after.items():
        if name == "voiceagent_gateway_fallbacks_total" and value > before.get((name, labels), 0.0):
            spoken[dict(labels)["stage"]] += int(value - before.get((name, labels), 0.0))
    return spoken
