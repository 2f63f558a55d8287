"""`make bench`: what the gateway adds to a turn, alone and under many concurrent calls.

The four services are replaced by fakes over real gRPC (in this process) that
answer after a fixed delay; the gateway is the real process; calls are driven
with signed webhooks and recordings served from a local server, as Twilio
would. Overhead = the webhook's wall time minus the fakes' delays, so it
includes HTTP, signature checks, the recording download, session storage,
TwiML and gRPC marshalling, and nothing of the models.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from pathlib import Path

import grpc
import httpx
import numpy as np
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # noqa: E402

from bench.tables import print_header, print_row  # noqa: E402
from services.cli.call_simulator import LOCAL_ACCOUNT_SID, RecordingServer  # noqa: E402
from services.cli.launcher import REPO_ROOT, GatewayProcess, free_port  # noqa: E402
from services.common import audio  # noqa: E402
from services.common.generated.voiceagent.v1 import (  # noqa: E402
    common_pb2,
    llm_pb2,
    llm_pb2_grpc,
    retrieval_pb2,
    retrieval_pb2_grpc,
    stt_pb2,
    stt_pb2_grpc,
    tts_pb2,
    tts_pb2_grpc,
)
from services.stt.endpointing import Endpointer  # noqa: E402

TOKEN = "bench-token"
ANSWER_WAV = audio.wav_bytes(audio.Audio(np.zeros(8000, dtype=np.float32), 8000))
ANSWER_MULAW = audio.mulaw_encode(np.zeros(4000, dtype=np.float32))
RECORDING = audio.wav_bytes(audio.Audio((0.3 * np.sin(np.arange(16000) / 8000 * 2 * np.pi * 300)).astype(np.float32), 8000))
REALISTIC_MS = {"stt": 600, "retrieval": 20, "llm": 150, "tts": 350}


class Fakes(stt_pb2_grpc.SpeechToTextServicer, retrieval_pb2_grpc.RetrievalServicer, llm_pb2_grpc.GenerationServicer, tts_pb2_grpc.TextToSpeechServicer):
    def __init__(self) -> None:
        self.delay_ms = {name: 0 for name in REALISTIC_MS}

    async def _wait(self, stage: str) -> None:
        if self.delay_ms[stage]:
            await asyncio.sleep(self.delay_ms[stage] / 1000)

    async def Transcribe(self, request, context):
        await self._wait("stt")
        return stt_pb2.Transcript(text="What time do you open on Saturday?", duration_seconds=2.0)

    async def Search(self, request, context):
        await self._wait("retrieval")
        return retrieval_pb2.SearchResponse(hits=[retrieval_pb2.SearchHit(text="We open at ten on Saturday.", chunk_id=f"h#{i}", score=0.6) for i in range(4)])

    async def Generate(self, request, context):
        await self._wait("llm")
        return llm_pb2.GenerateResponse(text="We open at ten on Saturday.", citations=["h#0"], model="fake")

    async def Synthesize(self, request, context):
        await self._wait("tts")
        return tts_pb2.SynthesizeResponse(audio=ANSWER_WAV, format=common_pb2.AudioFormat(encoding=audio.WAV, sample_rate_hz=8000))

    # Streaming calls: the first chunk of each stage comes after its delay.

    async def StreamTranscribe(self, request_iterator, context):
        """The real endpointer finds the end of speech; the final transcript follows after the stt delay."""
        config = (await anext(request_iterator)).config
        endpointer = Endpointer(8000, lambda frame: audio.rms_dbfs(frame) >= audio.SPEECH_DBFS, 120, config.end_of_speech_silence_ms, 60)
        async for message in request_iterator:
            events = endpointer.feed(audio.mulaw_decode(message.audio))
            if events.started_at is not None:
                yield stt_pb2.StreamTranscribeResponse(event=stt_pb2.SpeechEvent(kind=stt_pb2.SpeechEvent.SPEECH_STARTED, offset_seconds=events.started_at))
            for utterance in events.finished:
                yield stt_pb2.StreamTranscribeResponse(event=stt_pb2.SpeechEvent(kind=stt_pb2.SpeechEvent.SPEECH_ENDED, offset_seconds=utterance.end_seconds))
                await self._wait("stt")
                yield stt_pb2.StreamTranscribeResponse(final=stt_pb2.Transcript(text="What time do you open on Saturday?"))

    async def StreamGenerate(self, request, context):
        await self._wait("llm")
        yield llm_pb2.GenerateDelta(text="We open at ten on Saturday. ")
        yield llm_pb2.GenerateDelta(done=True, response=llm_pb2.GenerateResponse(text="We open at ten on Saturday.", model="fake"))

    async def StreamSynthesize(self, request, context):
        await self._wait("tts")
        yield tts_pb2.AudioChunk(audio=ANSWER_MULAW, format=common_pb2.AudioFormat(encoding=audio.MULAW, sample_rate_hz=8000), last=True)


async def start_fakes() -> tuple[grpc.aio.Server, Fakes, int]:
    fakes = Fakes()
    server = grpc.aio.server()
    for add in (stt_pb2_grpc.add_SpeechToTextServicer_to_server, retrieval_pb2_grpc.add_RetrievalServicer_to_server,
                llm_pb2_grpc.add_GenerationServicer_to_server, tts_pb2_grpc.add_TextToSpeechServicer_to_server):
        add(fakes, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    await server.start()
    for name in ("", "voiceagent.v1.SpeechToText", "voiceagent.v1.Retrieval", "voiceagent.v1.Generation", "voiceagent.v1.TextToSpeech"):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, fakes, port


class Caller:
    def __init__(self, gateway: str, recordings: RecordingServer, client: httpx.AsyncClient) -> None:
        self.gateway, self.recordings, self.client = gateway, recordings, client
        self.validator = RequestValidator(TOKEN)

    async def post(self, path: str, params: dict[str, str]) -> httpx.Response:
        url = self.gateway + path
        return await self.client.post(url, data=params, headers={"X-Twilio-Signature": self.validator.compute_signature(url, params)})

    async def call(self, caller: str) -> float:
        """One call (greeting, one turn, hang-up); returns the turn's webhook time in seconds."""
        params = {"AccountSid": LOCAL_ACCOUNT_SID, "CallSid": "CA" + secrets.token_hex(16), "From": caller, "To": "+14155550100"}
        (await self.post("/voice/inbound", {**params, "CallStatus": "ringing"})).raise_for_status()
        url = self.recordings.add(RECORDING)
        started = time.perf_counter()
        response = await self.post("/voice/recording-callback", {**params, "CallStatus": "in-progress", "RecordingUrl": url})
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        if "<Play>" not in response.text:
            raise RuntimeError("turn fell back: " + response.text[:200])
        await self.post("/voice/status", {**params, "CallStatus": "completed"})
        return elapsed


async def run() -> None:
    server, fakes, port = await start_fakes()
    recordings = RecordingServer(LOCAL_ACCOUNT_SID, TOKEN)
    address = f"127.0.0.1:{port}"
    gateway = GatewayProcess(
        {
            "VOICEAGENT_DATA_DIR": str(REPO_ROOT / "data"), "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_ACCOUNT_SID": LOCAL_ACCOUNT_SID,
            "RECORDING_URL_ALLOWLIST": recordings.base_url, "GATEWAY_ALLOW_INSECURE_RECORDING_URLS": "true",
            "STT_ADDR": address, "RETRIEVAL_ADDR": address, "LLM_ADDR": address, "TTS_ADDR": address,
            "GATEWAY_CALLS_PER_WINDOW": "1000000", "GATEWAY_TURNS_PER_WINDOW": "1000000", "VOICEAGENT_LOG_LEVEL": "WARNING",
        },
        REPO_ROOT / "out" / "bench-gateway.log",
    ).start()
    await asyncio.to_thread(gateway.wait_serving)
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
    try:
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            caller = Caller(gateway.address, recordings, client)
            for _ in range(20):
                await caller.call("+15550000000")
            print("\nGateway overhead per turn (zero-latency fakes over real gRPC, one call at a time)\n")
            print_header(["turns", "p50 ms", "p99 ms", "max ms"])
            times = [await caller.call(f"+1555{n:07d}") * 1000 for n in range(300)]
            print_row(["300", f"{np.percentile(times, 50):.1f}", f"{np.percentile(times, 99):.1f}", f"{max(times):.1f}"])

            fakes.delay_ms.update(REALISTIC_MS)
            model_ms = sum(REALISTIC_MS.values())
            print(f"\nConcurrent calls (fakes answer after stt {REALISTIC_MS['stt']}, retrieval {REALISTIC_MS['retrieval']}, "
                  f"llm {REALISTIC_MS['llm']}, tts {REALISTIC_MS['tts']} ms: {model_ms} ms per turn)\n")
            print_header(["concurrent calls", "errors", "overhead p50 ms", "overhead p99 ms", "wall s"])
            for concurrency in (100, 1000):
                started = time.perf_counter()
                results = await asyncio.gather(*(caller.call(f"+1666{n:07d}") for n in range(concurrency)), return_exceptions=True)
                wall = time.perf_counter() - started
                ok = [r * 1000 - model_ms for r in results if isinstance(r, float)]
                errors = len(results) - len(ok)
                print_row([str(concurrency), str(errors), f"{np.percentile(ok, 50):.0f}" if ok else "-", f"{np.percentile(ok, 99):.0f}" if ok else "-", f"{wall:.1f}"])
    finally:
        gateway.stop()
        recordings.close()
        await server.stop(0)


if __name__ == "__main__":
    asyncio.run(run())
