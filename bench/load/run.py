"""`make load`: how much one gateway and the whole offline stack hold, and what faults under load cost.

1. fakes: the real gateway in front of fixed-latency fakes (bench/load/fakes.py). Closed-loop
   turn-based callers (each makes calls of three turns back to back) find the calls per second one
   gateway process answers with p95 turn latency under 1 s; real-time streaming callers find the
   concurrent Media Streams it holds with p95 turn latency under 1 s.
2. offline: every service a real process on the offline models, callers paced as people are (they
   listen to each answer, then speak, and Twilio waits 2 s of silence), finding the concurrent calls
   the stack holds with p95 voice-to-voice under 1.5 s, and where each turn's CPU goes.
3. faults: the offline stack under steady load while each service is killed (-9) and restarted,
   Redis is stopped and started, and the link to retrieval gets latency and packet loss
   (bench/load/faults.py).

Turn latency: turn-based, from the recording callback to the answer's audio fetched (what the gateway
controls of voice-to-voice; Twilio's 2 s of silence and its upload come on top); streaming, from the
caller's last loud frame to the first answer frame heard (the gateway's end-of-speech silence included,
GATEWAY_STREAM_END_OF_SPEECH_MS).
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.load.capacity import Step, capacity, print_cpu_per_turn, print_step, print_steps_header, ramp, run_step  # noqa: E402
from bench.load.fakes import LOAD_DELAYS_MS  # noqa: E402
from bench.load.stacks import Stack, fake_stack, offline_stack  # noqa: E402
from tests.integration.stack import MODEL_SERVICES  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

FAKES_BOUND_MS = 1000
OFFLINE_BOUND_MS = 1500


def report_capacity(title: str, steps, bound_ms: float, unit: str) -> None:
    best = capacity(steps, bound_ms)
    if best is None:
        print(f"\n{title}: no step held p95 under {bound_ms:.0f} ms without failures")
    else:
        result = best.result
        print(f"\n{title}: {best.users} {unit} at p95 {result.percentile(95):.0f} ms "
              f"({result.per_second(result.calls):.1f} calls/s, {result.per_second(len(result.turns)):.1f} turns/s)")


def fakes_phase(root: Path, args: argparse.Namespace) -> None:
    delays = ", ".join(f"{name} {ms}" for name, ms in LOAD_DELAYS_MS.items())
    with fake_stack(root / "fakes") as stack:
        print(f"\n## One gateway process, fixed-latency fakes ({delays} ms)\n")
        print("Turn-based callers, closed loop (each makes 3-turn calls back to back)\n")
        print_steps_header(stack)
        steps = ramp(stack, "turn", args.fake_turn_steps, args.seconds, args.warmup, FAKES_BOUND_MS, paced=False)
        report_capacity("One gateway, turn-based", steps, FAKES_BOUND_MS, "closed-loop callers")
        print("\nStreaming callers, real time (3 questions a call, each answer played)\n")
        print_steps_header(stack)
        steps = ramp(stack, "stream", args.fake_stream_steps, args.seconds, args.warmup, FAKES_BOUND_MS, paced=True)
        report_capacity("One gateway, streaming", steps, FAKES_BOUND_MS, "concurrent streaming calls")


def offline_phase(stack: Stack, args: argparse.Namespace) -> None:
    print("\n## The whole offline stack on this machine\n")
    print("Turn-based calls, callers paced as people\n")
    print_steps_header(stack)
    turn_steps = ramp(stack, "turn", args.offline_turn_steps, args.offline_seconds, args.warmup, OFFLINE_BOUND_MS, paced=True)
    report_capacity("Offline stack, turn-based calls", turn_steps, OFFLINE_BOUND_MS, "concurrent calls")
    print(f"\nTurn-based calls, closed loop ({args.offline_closed_loop} callers without pauses): where a turn waits\n")
    print_steps_header(stack)
    closed = run_step(stack, "turn", args.offline_closed_loop, args.offline_seconds, args.warmup, paced=False)
    print_step(closed, stack)
    print(f"\nCPU per turn, closed loop at {closed.users} callers\n")
    print_cpu_per_turn(closed, ["gateway", *MODEL_SERVICES, "locust"])
    print_bottleneck(closed)
    print("\nStreaming calls, real time\n")
    print_steps_header(stack)
    stream_steps = ramp(stack, "stream", args.offline_stream_steps, args.offline_stream_seconds, args.warmup, OFFLINE_BOUND_MS, paced=True)
    report_capacity("Offline stack, streaming calls", stream_steps, OFFLINE_BOUND_MS, "concurrent calls")
    print(f"\nCPU per turn, streaming at {stream_steps[-1].users} calls\n")
    print_cpu_per_turn(stream_steps[-1], ["gateway", *MODEL_SERVICES, "locust"])


def print_bottleneck(step: Step) -> None:
    """The service that needs most CPU per turn, and what that allows when it works on one request at a time."""
    turns = len(step.result.turns)
    if not turns:
        return
    name, seconds = max(((name, step.cpu_seconds.get(name, 0.0) / turns) for name in MODEL_SERVICES), key=lambda item: item[1])
    print(f"\nBottleneck: {name}, {seconds:.3f} CPU s per turn; one request at a time, it completes at most "
          f"{1 / seconds:.1f} turns/s, so {step.users} callers without pauses wait about {step.users * seconds:.1f} s in its queue "
          f"(measured mean {step.stages_ms.get(name, 0) / 1000:.1f} s).")


def offline_and_faults(root: Path, args: argparse.Namespace, phases: list[str]) -> None:
    """One offline stack for both phases (it takes a minute to start and warm up): its gateway shares sessions
    through a real Redis and reaches retrieval through a FaultyProxy, idle until the faults phase."""
    from bench.load.faults import run_faults

    redis_server = RedisServer(root / "redis").start()
    try:
        with offline_stack(root / "offline", proxied="retrieval", redis_url=redis_server.url) as stack:
            if "offline" in phases:
                offline_phase(stack, args)
            if "faults" in phases:
                run_faults(stack, redis_server, args)
    finally:
        redis_server.stop()


def steps(text: str) -> list[int]:
    return [int(item) for item in text.split(",") if item]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", default="fakes,offline,faults")
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per step with fakes")
    parser.add_argument("--offline-seconds", type=float, default=20, help="measured seconds per turn-based step with the offline models")
    parser.add_argument("--offline-stream-seconds", type=float, default=35, help="measured seconds per streaming step with the offline models")
    parser.add_argument("--offline-closed-loop", type=int, default=16, help="turn-based callers without pauses, to find where turns wait")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of ramp-up left out of each step")
    parser.add_argument("--fake-turn-steps", type=steps, default=steps("10,25,50,75"))
    parser.add_argument("--fake-stream-steps", type=steps, default=steps("20,40,60"))
    parser.add_argument("--offline-turn-steps", type=steps, default=steps("8,16,32"))
    parser.add_argument("--offline-stream-steps", type=steps, default=steps("2,4,8"))
    parser.add_argument("--fault-turn-callers", type=int, default=8)
    parser.add_argument("--fault-stream-callers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep logs and records in this directory")
    args = parser.parse_args()
    # Stopped from outside, still stop every process started (the stacks are context managers).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    phases = args.phases.split(",")
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        if "fakes" in phases:
            fakes_phase(root, args)
        if "offline" in phases or "faults" in phases:
            offline_and_faults(root, args, phases)
    return 0


if __name__ == "__main__":
    sys.exit(main())
