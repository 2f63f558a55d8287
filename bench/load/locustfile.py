"""Locust callers of the gateway, driving it exactly as Twilio does.

- `TurnBasedCaller`: signed webhooks (inbound, one recording callback per turn,
  status), the caller's speech served as a recording the gateway downloads, the
  answer's <Play> audio fetched (services/cli/call_simulator.py).
- `StreamingCaller`: the signed inbound webhook, then a Media Stream spoken and
  played in real time, 20 ms mu-law frames (services/cli/stream_simulator.py).

Each user makes calls one after another. With `--paced`, a turn-based caller
takes as long as a person would: it listens to each answer, speaks the next
question, and Twilio waits `--record-timeout` seconds of silence before it posts
the recording; a streaming caller is always real time. Every turn is written to
`--records` (one JSON object a line) for `bench.load.run` to analyse; Locust's
own summary counts them too.

Only the load runner imports this (Locust monkey-patches the process for
gevent); the streaming simulator is asyncio code, so it runs on one event loop
in a native thread that the users' greenlets hand their calls to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import gevent
import httpx
from gevent import monkey
from locust import User, events, task
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from services.cli.call_simulator import RecordingServer, TurnReport, TwilioSimulator, TwimlAnswer
from services.cli.stream_simulator import MediaStreamCaller
from services.common import audio

# Outcomes the gateway chose to end a call with: anything else ending a call early is a dropped call.
CALL_ENDINGS = {"caller_done", "turn_limit", "no_input"}
SPOKEN_CHARACTERS_PER_SECOND = 15


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument("--gateway-url", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--turn-number", default="", help="the dialled number of a turn-based org")
    parser.add_argument("--stream-number", default="", help="the dialled number of a streaming org")
    parser.add_argument("--questions", required=True, help="directory of NN.wav (8 kHz telephone) and NN.ulaw clips")
    parser.add_argument("--turns-per-call", type=int, default=3)
    parser.add_argument("--paced", action="store_true", help="turn-based callers take as long as people would")
    parser.add_argument("--record-timeout", type=float, default=2.0)
    parser.add_argument("--answer-timeout", type=float, default=20.0)
    parser.add_argument("--stagger", type=float, default=2.0, help="users start spread over this many seconds")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between one call and the next of a user")
    parser.add_argument("--recordings-port", type=int, default=0)
    parser.add_argument("--records", required=True, help="JSON lines, one per turn")


class Shared:
    """What every user of this process shares: options, the caller's clips, the recording server, the records."""

    options = None
    recordings: RecordingServer | None = None
    wav: list[bytes] = []
    mulaw: list[bytes] = []
    records = None
    loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def open(cls, options) -> None:
        cls.options = options
        clips = sorted(Path(options.questions).iterdir())
        cls.wav = [path.read_bytes() for path in clips if path.suffix == ".wav"]
        cls.mulaw = [path.read_bytes() for path in clips if path.suffix == ".ulaw"]
        cls.recordings = RecordingServer(options.account_sid, options.auth_token, options.recordings_port)
        cls.records = open(options.records, "a", buffering=1)
        # A native thread (Locust's are greenlets) with one event loop for every streaming call.
        cls.loop = asyncio.new_event_loop()
        monkey.get_original("threading", "Thread")(target=cls.loop.run_forever, daemon=True).start()

    @classmethod
    def record(cls, kind: str, started: float, ms: float | None, outcome: str, **fields) -> None:
        cls.records.write(json.dumps({"kind": kind, "t": started, "ms": ms, "outcome": outcome, **fields}) + "\n")
        events.request.fire(
            request_type=kind, name=outcome, response_time=ms or 0, response_length=0, context={},
            exception=None if outcome in ("answered", "fallback") else RuntimeError(outcome),
        )

    @classmethod
    def run_async(cls, coroutine):
        """Run `coroutine` on the streaming loop; this greenlet waits without blocking the others."""
        future = asyncio.run_coroutine_threadsafe(coroutine, cls.loop)
        while not future.done():
            gevent.sleep(0.05)
        return future.result()


@events.init.add_listener
def _open(environment, **_) -> None:
    if environment.parsed_options is not None:
        Shared.open(environment.parsed_options)


def clip_seconds(clip: bytes) -> float:
    decoded = audio.decode(clip, audio.UNSPECIFIED)
    return len(decoded.samples) / decoded.sample_rate


def heard_seconds(report: TurnReport) -> float:
    """How long the caller listens to an answer: its audio, or its <Say> text read at a speaking pace."""
    return sum(map(clip_seconds, report.audio)) or len(" ".join(report.twiml.says)) / SPOKEN_CHARACTERS_PER_SECOND


def turn_outcome(report: TurnReport) -> str:
    details = report.details
    if report.twiml.hangup and details.get("outcome") not in CALL_ENDINGS:
        return "dropped"  # the gateway hung up on a caller with more to say (its last-resort "trouble" answer)
    if details.get("fallbacks"):
        return "fallback"
    return "answered" if details.get("outcome") in ("answered", None) else details["outcome"]


class Caller(User):
    abstract = True

    def wait_time(self) -> float:
        return self.options.pause

    def on_start(self) -> None:
        self.options = Shared.options
        self.sim = TwilioSimulator(self.options.gateway_url, self.options.auth_token, self.options.account_sid, Shared.recordings)
        self.number = f"+1555{random.randrange(10**7):07d}"
        gevent.sleep(random.uniform(0, self.options.stagger))

    def questions(self) -> list[int]:
        count = len(Shared.wav) or len(Shared.mulaw)
        first = random.randrange(count)
        return [(first + turn) % count for turn in range(self.options.turns_per_call)]


class TurnBasedCaller(Caller):
    @task
    def call(self) -> None:
        common = self.sim.call_params(self.options.turn_number, self.number)
        started = time.time()
        try:
            report = self.sim.ring(common)
        except (httpx.HTTPError, ElementTree.ParseError) as error:
            Shared.record("ring", started, None, "failed", error=type(error).__name__, mode="turn")
            return
        Shared.record("ring", started, report.seconds * 1000, "answered", mode="turn", call=common["CallSid"])
        for question in self.questions():
            clip = Shared.wav[question]
            if self.options.paced:
                gevent.sleep(heard_seconds(report) + clip_seconds(clip) + self.options.record_timeout)
            started = time.time()
            try:
                report = self.sim.speak(common, report, clip)
            except (httpx.HTTPError, ElementTree.ParseError) as error:
                Shared.record("turn", started, None, "failed", error=type(error).__name__, mode="turn", call=common["CallSid"])
                break
            if report is None:
                break
            outcome = turn_outcome(report)
            Shared.record("turn", started, report.seconds * 1000, outcome, fallbacks=report.details.get("fallbacks", []),
                          mode="turn", call=common["CallSid"])
            if outcome == "dropped":
                break
        try:
            self.sim.hang_up(common)
        except (httpx.HTTPError, ElementTree.ParseError) as error:
            Shared.record("hangup", time.time(), None, "failed", error=type(error).__name__, mode="turn")


async def until_answered(caller: MediaStreamCaller, closed: asyncio.Future, timeout: float) -> None:
    """Until the agent has answered and gone quiet, the gateway closed the stream, or `timeout` passed."""
    answered = asyncio.ensure_future(caller.wait_for_answer(timeout=timeout, quiet_seconds=0.5))
    await asyncio.wait({answered, closed}, return_when=asyncio.FIRST_COMPLETED)
    answered.cancel()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await answered


async def converse(url: str, parameters: dict[str, str], call_sid: str, questions: list[bytes], answer_timeout: float) -> tuple[list[dict], str]:
    """One streaming call: each question spoken in real time and its answer played; the turns and how the call ended."""
    turns, ending = [], "completed"
    async with MediaStreamCaller(url, parameters, call_sid=call_sid) as caller:
        closed = asyncio.ensure_future(caller.ws.wait_closed())
        await until_answered(caller, closed, answer_timeout)  # the greeting
        for question in questions:
            if closed.done():
                break
            turn = await caller.say(question)
            await until_answered(caller, closed, answer_timeout)
            outcome = "answered" if turn.latency_ms is not None else ("handed_back" if closed.done() else "failed")
            # An answered turn is placed when the caller stopped speaking (its latency starts there); one that went
            # wrong, when the caller found out (so it counts against the fault that was on then).
            answered_at = time.time() - (time.perf_counter() - turn.speech_ended_at) if turn.speech_ended_at else time.time()
            turns.append({"t": answered_at if outcome == "answered" else time.time(), "ms": turn.latency_ms, "outcome": outcome})
        if closed.done():
            # The gateway closed the stream: a normal close hands the call back to the TwiML after <Connect> (the
            # org's fallback, then a hang-up); anything else is a dropped call.
            ending = "handed_back" if caller.ws.close_code == 1000 else f"dropped:{caller.ws.close_code}"
        closed.cancel()
    return turns, ending


class StreamingCaller(Caller):
    @task
    def call(self) -> None:
        common = self.sim.call_params(self.options.stream_number, self.number)
        started = time.time()
        try:
            opened = self.sim.stream(common)
            if isinstance(opened, TwimlAnswer):
                raise RuntimeError("the gateway answered without a stream: " + " ".join(opened.says))
            url, parameters = opened
            Shared.record("ring", started, (time.time() - started) * 1000, "answered", mode="stream", call=common["CallSid"])
            clips = [Shared.mulaw[question] for question in self.questions()]
            turns, ending = Shared.run_async(converse(url, parameters, common["CallSid"], clips, self.options.answer_timeout))
        except (httpx.HTTPError, OSError, RuntimeError, ConnectionClosed, InvalidHandshake, TimeoutError) as error:
            Shared.record("ring", started, None, "failed", error=type(error).__name__, mode="stream")
            return
        for turn in turns:
            Shared.record("turn", turn["t"], turn["ms"], turn["outcome"], mode="stream", call=common["CallSid"])
        if ending != "completed":
            Shared.record("call_end", time.time(), None, ending, mode="stream", call=common["CallSid"])
