"""`voiceagent up` (all five services and the console locally) and `voiceagent call` (a simulated Twilio call)."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import grpc

from services.cli.call_simulator import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN, RecordingServer, TwilioSimulator, TwimlAnswer
from services.cli.launcher import REPO_ROOT, ConsoleProcess, GatewayProcess, ServiceProcess
from services.cli.output import add_address_option, print_json, print_table
from services.cli.stream_simulator import MediaStreamCaller
from services.common import audio
from services.common.generated.voiceagent.v1 import common_pb2, tts_pb2, tts_pb2_grpc
from services.common.orgs import load_org_config
from services.common.settings import DEFAULT_GRPC_PORTS, DEFAULT_METRICS_PORTS

MODEL_SERVICES = ("retrieval", "stt", "llm", "tts")
DEFAULT_RECORDING_PORT = 8089


# Simulated calls serve the caller's recordings on one of these ports (the first free one), so several
# `voiceagent call`s can run at once; `voiceagent up` puts every one of them on the gateway's allowlist.
RECORDING_PORT_CHOICES = 10


def _recording_ports() -> list[int]:
    first = int(os.environ.get("VOICEAGENT_CALL_RECORDING_PORT", DEFAULT_RECORDING_PORT))
    return list(range(first, first + RECORDING_PORT_CHOICES))


def _recording_server(account: str, token: str) -> RecordingServer:
    """A recording server on the first free port the local gateway allows."""
    for port in _recording_ports():
        try:
            return RecordingServer(account, token, port)
        except OSError:
            continue
    raise SystemExit(f"error: every recording port {_recording_ports()[0]}-{_recording_ports()[-1]} is in use")


def register(commands: argparse._SubParsersAction) -> None:
    up = commands.add_parser("up", help="start all five services and the console locally and keep them running until Ctrl-C")
    up.add_argument("--log-dir", type=Path, default=REPO_ROOT / "out", help="where each service's log goes")
    up.add_argument("--json", action="store_true", help="print the addresses as JSON")
    up.set_defaults(run=run_up)

    call = commands.add_parser("call", help="a simulated phone call through the gateway, driven as Twilio drives it")
    call.add_argument("--org", required=True)
    call.add_argument("--say", action="append", default=[], metavar="TEXT", help="what the caller says in a turn (repeatable)")
    call.add_argument("--wav", action="append", default=[], type=Path, metavar="FILE", help="a caller turn from a WAV file (repeatable)")
    call.add_argument("--turns", type=int, default=0, help="take only the first N caller turns")
    call.add_argument("--to", default="", help="dialled number (default: the org's first phone number)")
    call.add_argument("--caller", default="+15555550123", help="the caller's number")
    call.add_argument("--gateway-url", default=os.environ.get("GATEWAY_URL", "http://127.0.0.1:8000"))
    add_address_option(call, "tts", "--tts-addr")
    call.add_argument("-o", "--output-dir", type=Path, default=REPO_ROOT / "out", help="where answer audio is written")
    call.add_argument("--stream", action="store_true", help="drive the call over Media Streams (orgs in streaming mode)")
    call.add_argument("--json", action="store_true")
    call.set_defaults(run=run_call)


def local_gateway_env(recording_ports: list[int]) -> dict[str, str]:
    """Local simulation: trust the simulator's recording servers and expose per-turn details."""
    local = ",".join(f"http://127.0.0.1:{port}/" for port in recording_ports)
    return {
        "TWILIO_AUTH_TOKEN": os.environ.get("TWILIO_AUTH_TOKEN", LOCAL_AUTH_TOKEN),
        "TWILIO_ACCOUNT_SID": os.environ.get("TWILIO_ACCOUNT_SID", LOCAL_ACCOUNT_SID),
        "RECORDING_URL_ALLOWLIST": f"https://api.twilio.com/,{local}",
        "GATEWAY_ALLOW_INSECURE_RECORDING_URLS": "true",
        "GATEWAY_TURN_DETAILS_HEADER": "true",
    }


class RestartPolicy:
    """When a service that died may start again: at once the first time, then after 1, 2, 4... up to 30 seconds,
    so a service that crashes on start cannot spin the machine."""

    def __init__(self, first_delay: float = 1.0, max_delay: float = 30.0) -> None:
        self.first_delay, self.max_delay = first_delay, max_delay
        self.count: dict[str, int] = {}
        self.next_at: dict[str, float] = {}

    def due(self, name: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now < self.next_at.get(name, 0.0):
            return False
        restarts = self.count.get(name, 0)
        self.count[name] = restarts + 1
        self.next_at[name] = now + min(self.max_delay, self.first_delay * 2 ** restarts) if restarts else now + self.first_delay
        return True


def run_up(args: argparse.Namespace) -> int:
    args.log_dir.mkdir(parents=True, exist_ok=True)
    env = {"VOICEAGENT_DATA_DIR": os.environ.get("VOICEAGENT_DATA_DIR", str(REPO_ROOT / "data"))}
    # Local development: ingestion works without a token unless one is configured (services listen on loopback).
    env["RETRIEVAL_ALLOW_OPEN_WRITES"] = os.environ.get("RETRIEVAL_ALLOW_OPEN_WRITES", "true")
    services: list[ServiceProcess] = [
        ServiceProcess(name, env, args.log_dir / f"{name}.log", DEFAULT_GRPC_PORTS[name], DEFAULT_METRICS_PORTS[name])
        for name in MODEL_SERVICES
    ]
    addresses = {f"{s.name.upper()}_ADDR": s.address for s in services}
    gateway_env = {**env, **addresses, **local_gateway_env(_recording_ports())}
    services.append(GatewayProcess(gateway_env, args.log_dir / "gateway.log", http_port=int(os.environ.get("GATEWAY_HTTP_PORT", 8000))))
    # One session key for this run, so a console restarted by the restart policy keeps its users signed in.
    console_env = {**env, **addresses, "CONSOLE_SESSION_KEY": os.environ.get("CONSOLE_SESSION_KEY") or secrets.token_hex(32)}
    console = ConsoleProcess(console_env, args.log_dir / "console.log", http_port=int(os.environ.get("CONSOLE_HTTP_PORT", 8080)))
    services.append(console)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for service in services:
            service.start()
        for service in services:
            service.wait_serving()
        rows = [[s.name, s.address, s.metrics_url, str(s.log_path)] for s in services]
        if args.json:
            print_json({row[0]: {"address": row[1], "metrics": row[2], "log": row[3]} for row in rows})
        else:
            print_table(["service", "address", "metrics", "log"], rows)
            print(f"\nthe operator console: {console.address} (sign in as a user from `voiceagent users add --email E --role admin`)")
            print("all services are up (local simulation settings: the gateway trusts the call simulator). Ctrl-C stops them.", flush=True)
        restarts = RestartPolicy()
        while not stopping:
            for service in services:
                if not service.alive() and restarts.due(service.name):
                    # The others keep serving (calls in progress go on); only the one that died starts again.
                    print(f"warning: {service.name} stopped unexpectedly (exit {service.process.returncode}); restarting it"
                          f" (restart {restarts.count[service.name]}); see {service.log_path}", file=sys.stderr, flush=True)
                    service.start()
            time.sleep(0.5)
        return 0
    finally:
        for service in reversed(services):
            service.stop()
        if not args.json:
            print("stopped", flush=True)


def _caller_audio(args: argparse.Namespace) -> list[bytes]:
    turns = [path.read_bytes() for path in args.wav]
    if args.say:
        with grpc.insecure_channel(args.tts_addr) as channel:
            stub = tts_pb2_grpc.TextToSpeechStub(channel)
            telephone = common_pb2.AudioFormat(encoding=audio.WAV, sample_rate_hz=8000)
            turns += [stub.Synthesize(tts_pb2.SynthesizeRequest(text=text, format=telephone), timeout=60).audio for text in args.say]
    if args.turns:
        if args.turns > len(turns):
            raise SystemExit(f"error: --turns {args.turns} but only {len(turns)} caller turns were given")
        turns = turns[: args.turns]
    if not turns:
        raise SystemExit("error: give the caller something to say with --say TEXT or --wav FILE")
    return turns


def run_call(args: argparse.Namespace) -> int:
    to = args.to or load_org_config(Path(os.environ.get("VOICEAGENT_DATA_DIR", REPO_ROOT / "data")), args.org).phone_numbers[0]
    turns = _caller_audio(args)
    if args.stream:
        return asyncio.run(_stream_call(args, to, turns))
    token = os.environ.get("TWILIO_AUTH_TOKEN", LOCAL_AUTH_TOKEN)
    account = os.environ.get("TWILIO_ACCOUNT_SID", LOCAL_ACCOUNT_SID)
    recordings = _recording_server(account, token)
    try:
        reports = TwilioSimulator(args.gateway_url, token, account, recordings).call(to, args.caller, turns)
    finally:
        recordings.close()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    summary = []
    for report in reports:
        written = []
        for index, clip in enumerate(report.audio):
            path = args.output_dir / f"call-turn-{report.number}{'' if index == 0 else f'-{index}'}.wav"
            path.write_bytes(clip)
            written.append(str(path))
        summary.append(
            {
                "turn": report.number,
                "caller": report.details.get("transcript", ""),
                "agent": report.details.get("answer") or " ".join(report.twiml.says) or "(audio)",
                "sources": report.details.get("sources", []),
                "stage_ms": report.details.get("stage_ms", {}),
                "fallbacks": report.details.get("fallbacks", []),
                "hangup": report.twiml.hangup,
                "transfer": report.twiml.dial,
                "audio": written,
                "webhook_seconds": round(report.seconds, 3),
            }
        )
    if args.json:
        print_json({"org": args.org, "to": to, "turns": summary})
        return 0
    for turn in summary:
        print(f"\n--- {'greeting' if turn['turn'] == 0 else 'turn ' + str(turn['turn'])} ---")
        if turn["caller"]:
            print(f"caller: {turn['caller']}")
        print(f"agent:  {turn['agent']}")
        if turn["sources"]:
            print(f"sources: {', '.join(turn['sources'])}")
        if turn["stage_ms"]:
            print("latency ms: " + ", ".join(f"{stage} {ms:.0f}" for stage, ms in turn["stage_ms"].items()))
        if turn["fallbacks"]:
            print(f"fallbacks: {', '.join(turn['fallbacks'])}")
        if turn["audio"]:
            print(f"audio: {', '.join(turn['audio'])}")
        if turn["transfer"]:
            print(f"(the agent transferred the call to {turn['transfer']})")
        if turn["hangup"]:
            print("(the agent hung up)")
    return 0


async def _stream_call(args: argparse.Namespace, to: str, turns: list[bytes]) -> int:
    """The caller's turns spoken in real time over the WebSocket the inbound webhook points at."""
    token = os.environ.get("TWILIO_AUTH_TOKEN", LOCAL_AUTH_TOKEN)
    account = os.environ.get("TWILIO_ACCOUNT_SID", LOCAL_ACCOUNT_SID)
    simulator = TwilioSimulator(args.gateway_url, token, account, recordings=None)
    call_sid = "CA" + secrets.token_hex(16)
    params = {"AccountSid": account, "CallSid": call_sid, "From": args.caller, "To": to, "CallStatus": "ringing"}
    body = simulator.post("/voice/inbound", params).raise_for_status().text
    stream = ElementTree.fromstring(body).find("Connect/Stream")
    if stream is None:
        answer = TwimlAnswer.parse(body)
        if answer.record_action:
            raise SystemExit(f"error: org {args.org} is not in streaming mode (conversation_mode)")
        raise SystemExit(f"error: the gateway did not take the call; it said: {' '.join(answer.says) or '(nothing)'}")
    parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    async with MediaStreamCaller(stream.get("url"), parameters, call_sid=call_sid, account_sid=account) as caller:
        await caller.wait_for_answer()
        for clip in turns:
            await caller.say(audio.encode(audio.decode(clip, audio.UNSPECIFIED), audio.MULAW)[0])
            await caller.wait_for_answer()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    heard = args.output_dir / "call-stream-heard.wav"
    heard.write_bytes(audio.wav_bytes(audio.decode(bytes(caller.heard), audio.MULAW)))
    summary = [
        {
            "turn": number, "caller": turn.details.get("caller", ""), "agent": turn.details.get("agent", ""),
            "sources": turn.details.get("sources", []), "fallbacks": turn.details.get("fallbacks", []),
            "latency_ms": None if turn.latency_ms is None else round(turn.latency_ms),
            "answer_started_s": None if turn.answer_started_s is None else round(turn.answer_started_s, 3),
        }
        for number, turn in enumerate(caller.turns, start=1)
    ]
    if args.json:
        print_json({"org": args.org, "to": to, "turns": summary, "barge_ins": len(caller.received("clear")), "heard": str(heard)})
        return 0
    for turn in summary:
        print(f"\n--- turn {turn['turn']} ---")
        if turn["caller"]:
            print(f"caller: {turn['caller']}")
        print(f"agent:  {turn['agent'] or ('(no answer)' if turn['latency_ms'] is None else '(audio)')}")
        if turn["sources"]:
            print(f"sources: {', '.join(turn['sources'])}")
        if turn["fallbacks"]:
            print(f"fallbacks: {', '.join(turn['fallbacks'])}")
        if turn["latency_ms"] is not None:
            print(f"first answer audio {turn['latency_ms']} ms after the caller stopped speaking "
                  f"({turn['answer_started_s']:.2f} s after they started)")
    print(f"\nwhat the caller heard: {heard}")
    return 0
