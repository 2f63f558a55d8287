"""The systems under load: one real gateway process in front of fixed-latency fakes or the offline models.

Orgs: `acme` (turn-based, +14155550100) and `streamco` (streaming, +14155550133), both with the sample
documents. The gateway trusts the Locust callers' recording servers and has rate limits out of the way
(every load caller is a distinct number, but a load run makes more calls per number than a person would).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.load.fakes import LOAD_DELAYS_MS, FakeServicesProcess
from services.cli.call_simulator import LOCAL_ACCOUNT_SID, RecordingServer, TwilioSimulator
from services.cli.launcher import GatewayProcess, ServiceProcess, free_port
from services.common import audio
from tests.conftest import SPOKEN_QUESTIONS, copy_sample_org
from tests.integration.stack import AUTH_TOKEN, MODEL_SERVICES, caller_speech, start_model_services, write_org

TURN_NUMBER = "+14155550100"
STREAM_NUMBER = "+14155550133"
# A second of a loud tone: a question to the fakes (they do not listen to it).
TONE = audio.Audio((0.3 * np.sin(np.arange(8000) / 8000 * 2 * np.pi * 300)).astype(np.float32), 8000)


def prepare_orgs(data_dir: Path) -> None:
    copy_sample_org(data_dir)
    write_org(data_dir, "streamco", STREAM_NUMBER, conversation_mode="streaming")


def write_questions(directory: Path, clips: list[audio.Audio]) -> Path:
    """The caller's questions as the Locust users read them: NN.wav (8 kHz WAV) and NN.ulaw (raw mu-law)."""
    directory.mkdir(parents=True, exist_ok=True)
    for number, clip in enumerate(clips):
        telephone = clip.resampled(8000)
        (directory / f"{number:02d}.wav").write_bytes(audio.wav_bytes(telephone))
        (directory / f"{number:02d}.ulaw").write_bytes(audio.mulaw_encode(telephone.samples))
    return directory


@dataclass
class Stack:
    """A running gateway, what it talks to, and where the load's recordings are served from."""

    gateway: GatewayProcess
    services: dict[str, ServiceProcess]
    questions: Path
    recording_ports: list[int]
    logs: Path
    extra: dict = field(default_factory=dict)

    def pids(self) -> dict[str, int]:
        processes = {"gateway": self.gateway, **self.services}
        return {name: process.process.pid for name, process in processes.items() if process.process is not None}


def gateway_env(data_dir: Path, addresses: dict[str, str], recording_ports: list[int], **extra: str) -> dict[str, str]:
    return {
        "VOICEAGENT_DATA_DIR": str(data_dir),
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": LOCAL_ACCOUNT_SID,
        "RECORDING_URL_ALLOWLIST": ",".join(f"http://127.0.0.1:{port}/" for port in recording_ports),
        "GATEWAY_ALLOW_INSECURE_RECORDING_URLS": "true",
        "GATEWAY_TURN_DETAILS_HEADER": "true",
        "GATEWAY_CALLS_PER_WINDOW": "1000000",
        "GATEWAY_TURNS_PER_WINDOW": "1000000",
        **{f"{name.upper()}_ADDR": address for name, address in addresses.items()},
        **extra,
    }


@contextmanager
def fake_stack(root: Path, delays: dict[str, int] = LOAD_DELAYS_MS):
    data_dir, logs = root / "data", root / "logs"
    data_dir.mkdir(parents=True)
    logs.mkdir()
    prepare_orgs(data_dir)
    fakes = FakeServicesProcess(delays, logs / "fakes.log").start().wait_serving(30)
    ports = [free_port(), free_port()]
    gateway = GatewayProcess(gateway_env(data_dir, dict.fromkeys(MODEL_SERVICES, fakes.address), ports), logs / "gateway.log")
    try:
        gateway.start().wait_serving()
        yield Stack(gateway, {"fakes": fakes}, write_questions(root / "questions", [TONE]), ports, logs)
    finally:
        gateway.stop()
        fakes.stop()


def warm_up(gateway: GatewayProcess, recording_port: int, questions: list[bytes]) -> None:
    """One call asking every question once, so load steps measure a stack in its steady state: the extractive
    answerer embeds a passage the first time it reads it, and a cold start costs seconds a day-old stack never pays."""
    recordings = RecordingServer(LOCAL_ACCOUNT_SID, AUTH_TOKEN, recording_port)
    try:
        TwilioSimulator(gateway.address, AUTH_TOKEN, LOCAL_ACCOUNT_SID, recordings).call(TURN_NUMBER, "+15550000001", questions)
    finally:
        recordings.close()


@contextmanager
def offline_stack(root: Path, proxied: str = "", redis_url: str = ""):
    """Every service a real process on the offline defaults (as `make demo` runs them); `proxied` names a
    service the gateway reaches through a FaultyProxy (in `extra["proxy"]`), `redis_url` shares sessions."""
    from bench.load.proxy import FaultyProxy

    data_dir, logs = root / "data", root / "logs"
    data_dir.mkdir(parents=True)
    logs.mkdir()
    prepare_orgs(data_dir)
    services = start_model_services(data_dir, logs)
    extra: dict = {}
    addresses = {name: service.address for name, service in services.items()}
    if proxied:
        extra["proxy"] = FaultyProxy(addresses[proxied]).start()
        addresses[proxied] = extra["proxy"].address
    ports = [free_port(), free_port()]
    env = gateway_env(data_dir, addresses, ports, **({"REDIS_URL": redis_url} if redis_url else {}))
    gateway = GatewayProcess(env, logs / "gateway.log")
    try:
        spoken = caller_speech(services, SPOKEN_QUESTIONS)
        clips = [audio.decode(spoken[question], audio.WAV) for question in SPOKEN_QUESTIONS]
        gateway.start().wait_serving()
        warm_up(gateway, ports[0], [spoken[question] for question in SPOKEN_QUESTIONS])
        yield Stack(gateway, services, write_questions(root / "questions", clips), ports, logs, extra)
    finally:
        gateway.stop()
        if "proxy" in extra:
            extra["proxy"].stop()
        for service in services.values():
            service.stop()
