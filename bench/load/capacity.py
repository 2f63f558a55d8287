"""Load steps of growing size against one stack, and the largest that keeps p95 turn latency under a bound."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench.load.callers import LocustRun
from bench.load.measure import CpuMeter, StepResult, fallbacks_spoken, scrape, stage_means_ms, window
from bench.load.stacks import Stack
from bench.tables import print_header, print_row

STAGES = ("download", "stt", "retrieval", "llm", "tts")


@dataclass
class Step:
    users: int
    result: StepResult
    cpu: dict[str, float]
    cpu_seconds: dict[str, float]
    stages_ms: dict[str, float]
    fallbacks: int


def run_step(stack: Stack, mode: str, users: int, seconds: float, warmup: float, paced: bool) -> Step:
    """One Locust run of `users` callers; turns that started in the ramp-up are left out."""
    # Paced callers are people: a second passes between one call and the next.
    run = LocustRun(stack, mode, users, seconds + warmup, f"{mode}-{users}", paced=paced, pause=1.0 if paced else 0.0).start()
    time.sleep(warmup)
    before = scrape(stack.gateway.metrics_url)
    meter = CpuMeter({**stack.pids(), "locust": run.process.pid}).start()
    measured_from = time.time()
    time.sleep(seconds)
    cpu = meter.stop()
    after = scrape(stack.gateway.metrics_url)
    result = window(run.wait(), measured_from, measured_from + seconds)
    return Step(users, result, cpu, meter.used, stage_means_ms(before, after), sum(fallbacks_spoken(before, after).values()))


def held(step: Step, p95_bound_ms: float) -> bool:
    p95 = step.result.percentile(95)
    return p95 is not None and p95 < p95_bound_ms and step.result.failed == 0


def ramp(stack: Stack, mode: str, steps: list[int], seconds: float, warmup: float, p95_bound_ms: float, paced: bool) -> list[Step]:
    """Steps in order, stopping after two in a row miss the bound (the next ones would only miss it more; one miss
    alone may be noise on a shared machine)."""
    done = []
    for users in steps:
        done.append(run_step(stack, mode, users, seconds, warmup, paced))
        print_step(done[-1], stack)
        if len(done) >= 2 and not held(done[-1], p95_bound_ms) and not held(done[-2], p95_bound_ms):
            break
    return done


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


STEP_COLUMNS = ["callers", "calls/s", "turns/s", "turns", "p50 ms", "p95 ms", "max ms", "failed", "fallbacks"]


def print_steps_header(stack: Stack) -> None:
    print_header(STEP_COLUMNS + [f"{name} CPU" for name in [*stack.pids(), "locust", "others"]] + [f"{stage} ms" for stage in STAGES])


def print_step(step: Step, stack: Stack) -> None:
    result = step.result
    latencies = result.latencies_ms
    print_row([
        str(step.users), f"{result.per_second(result.calls):.1f}", f"{result.per_second(len(result.turns)):.1f}", str(len(result.turns)),
        _ms(result.percentile(50)), _ms(result.percentile(95)), _ms(max(latencies) if latencies else None),
        str(result.failed), str(step.fallbacks),
        *[f"{step.cpu.get(name, 0) * 100:.0f}%" for name in [*stack.pids(), "locust", "others"]],
        *[_ms(step.stages_ms.get(stage)) for stage in STAGES],
    ])


def capacity(steps: list[Step], p95_bound_ms: float) -> Step | None:
    holding = [step for step in steps if held(step, p95_bound_ms)]
    return max(holding, key=lambda step: step.users) if holding else None


def print_cpu_per_turn(step: Step, names: list[str]) -> None:
    """Where the CPU of a turn goes: the bottleneck is the process that needs most of a core per turn."""
    turns = len(step.result.turns)
    print_header(["process", "CPU s per turn", "share of one core"])
    for name in names:
        used = step.cpu_seconds.get(name, 0.0)
        print_row([name, f"{used / turns:.3f}" if turns else "-", f"{step.cpu.get(name, 0) * 100:.0f}%"])
