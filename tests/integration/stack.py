"""Starting the whole system as real processes for end-to-end tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc

from services.cli.call_simulator import LOCAL_ACCOUNT_SID, RecordingServer, TwilioSimulator
from services.cli.launcher import GatewayProcess, ServiceProcess
from services.common import audio
from services.common.generated.voiceagent.v1 import common_pb2, retrieval_pb2_grpc, tts_pb2, tts_pb2_grpc
from tests.integration.conftest import ADMIN, ingest_requests, sample_documents

AUTH_TOKEN = "test-twilio-auth-token"
MODEL_SERVICES = ("retrieval", "stt", "llm", "tts")


def write_org(data_dir: Path, org_id: str, number: str, **changes) -> None:
    """Another org sharing acme's documents, with its own number and settings."""
    config = json.loads((data_dir / "acme" / "config.json").read_text())
    config.update({"org_id": org_id, "phone_numbers": [number], **changes})
    (data_dir / org_id).mkdir(exist_ok=True)
    (data_dir / org_id / "config.json").write_text(json.dumps(config))


def start_model_services(data_dir: Path, log_dir: Path) -> dict[str, ServiceProcess]:
    env = {"VOICEAGENT_DATA_DIR": str(data_dir), "RETRIEVAL_ADMIN_TOKEN": ADMIN[0][1].split(" ", 1)[1]}
    services = {name: ServiceProcess(name, env, log_dir / f"{name}.log").start() for name in MODEL_SERVICES}
    for service in services.values():
        service.wait_serving()
    with grpc.insecure_channel(services["retrieval"].address) as channel:
        stub = retrieval_pb2_grpc.RetrievalStub(channel)
        for org_id in sorted(p.name for p in data_dir.iterdir() if (p / "config.json").is_file()):
            stub.Ingest(ingest_requests(org_id, sample_documents()), metadata=ADMIN, timeout=120)
    return services


def start_gateway(data_dir: Path, log_path: Path, services: dict[str, ServiceProcess], recordings: RecordingServer, **env: str) -> GatewayProcess:
    settings = {
        "VOICEAGENT_DATA_DIR": str(data_dir),
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": LOCAL_ACCOUNT_SID,
        "RECORDING_URL_ALLOWLIST": f"https://api.twilio.com/,{recordings.base_url}",
        "GATEWAY_ALLOW_INSECURE_RECORDING_URLS": "true",
        "GATEWAY_TURN_DETAILS_HEADER": "true",
        **{f"{name.upper()}_ADDR": service.address for name, service in services.items()},
        **env,
    }
    return GatewayProcess(settings, log_path).start().wait_serving()


def simulator(gateway: GatewayProcess, recordings: RecordingServer) -> TwilioSimulator:
    return TwilioSimulator(gateway.address, AUTH_TOKEN, LOCAL_ACCOUNT_SID, recordings)


def caller_speech(services: dict[str, ServiceProcess], texts: list[str], encoding: int = audio.WAV) -> dict[str, bytes]:
    """What a caller says, synthesised by the tts process as 8 kHz telephone audio (WAV or raw mu-law)."""
    telephone = common_pb2.AudioFormat(encoding=encoding, sample_rate_hz=8000)
    with grpc.insecure_channel(services["tts"].address) as channel:
        stub = tts_pb2_grpc.TextToSpeechStub(channel)
        return {text: stub.Synthesize(tts_pb2.SynthesizeRequest(text=text, format=telephone), timeout=30).audio for text in texts}


@dataclass
class System:
    services: dict[str, ServiceProcess]
    recordings: RecordingServer
    gateway: GatewayProcess
    sim: TwilioSimulator


@contextmanager
def running_system(data_dir: Path, log_dir: Path, **gateway_env: str) -> Iterator[System]:
    """The four model services and a gateway as real processes, with a Twilio recording server; everything
    started is stopped afterwards, also when a later start fails."""
    services = start_model_services(data_dir, log_dir)
    recordings = RecordingServer(LOCAL_ACCOUNT_SID, AUTH_TOKEN)
    gateway = None
    try:
        gateway = start_gateway(data_dir, log_dir / "gateway.log", services, recordings, **gateway_env)
        yield System(services, recordings, gateway, simulator(gateway, recordings))
    finally:
        if gateway is not None:
            gateway.stop()
        recordings.close()
        for service in services.values():
            service.stop()
