"""The four model services as fixed-latency fakes over real gRPC, in a process of their own.

Under load the gateway is measured alone: every stt, retrieval, llm and tts
call is answered after a fixed delay, whatever the load, so any latency above
those delays is the gateway's. The unary answers are the gateway benchmark's
fakes; streaming transcription ends an utterance after the silence the
gateway asks for, judged by loudness alone, so the fake does not depend on
stt's endpointer (and costs next to no CPU per frame).

    python -m bench.load.fakes --port 50099 --delays stt=100,retrieval=20,llm=100,tts=100
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from bench.gateway_bench import Fakes
from services.cli.launcher import REPO_ROOT, ServiceProcess
from services.common import audio
from services.common.generated.voiceagent.v1 import llm_pb2_grpc, retrieval_pb2_grpc, stt_pb2, stt_pb2_grpc, tts_pb2_grpc

# What a turn costs with fakes: enough for queueing in the gateway to show, small enough that a turn-based
# turn (all four) and a streaming turn (the gateway's end-of-speech silence, then all four) fit under 1 s.
LOAD_DELAYS_MS = {"stt": 100, "retrieval": 20, "llm": 100, "tts": 100}
SERVICE_NAMES = ("", "voiceagent.v1.SpeechToText", "voiceagent.v1.Retrieval", "voiceagent.v1.Generation", "voiceagent.v1.TextToSpeech")
FRAME_SECONDS = 0.02
SpeechEvent = stt_pb2.SpeechEvent


class LoudnessEndpointer:
    """Speech is any loud 20 ms frame; an utterance ends after `end_silence_ms` of quiet frames."""

    def __init__(self, end_silence_ms: int) -> None:
        self.end_silence_frames = max(1, end_silence_ms // 20)
        self.frames = 0
        self.in_speech = False
        self.quiet_frames = 0

    def feed(self, frame: bytes) -> SpeechEvent.Kind | None:
        """The event this frame causes, if any."""
        self.frames += 1
        loud = audio.rms_dbfs(audio.mulaw_decode(frame)) >= audio.SPEECH_DBFS
        if loud:
            self.quiet_frames = 0
            if not self.in_speech:
                self.in_speech = True
                return SpeechEvent.SPEECH_STARTED
            return None
        if self.in_speech:
            self.quiet_frames += 1
            if self.quiet_frames >= self.end_silence_frames:
                self.in_speech = False
                return SpeechEvent.SPEECH_ENDED
        return None

    @property
    def offset_seconds(self) -> float:
        return self.frames * FRAME_SECONDS


class LoadFakes(Fakes):
    def __init__(self) -> None:
        super().__init__()
        self.answers = 0

    async def Generate(self, request, context):
        """Every answer is new, as a caller's would be, so the gateway synthesises it (it caches audio by text)."""
        response = await super().Generate(request, context)
        self.answers += 1
        response.text = f"{response.text} Reference {self.answers}."
        return response

    async def StreamTranscribe(self, request_iterator, context):
        config = (await anext(request_iterator)).config
        endpointer = LoudnessEndpointer(config.end_of_speech_silence_ms or 500)
        async for message in request_iterator:
            kind = endpointer.feed(message.audio)
            if kind is None:
                continue
            yield stt_pb2.StreamTranscribeResponse(event=SpeechEvent(kind=kind, offset_seconds=endpointer.offset_seconds))
            if kind == SpeechEvent.SPEECH_ENDED:
                await self._wait("stt")
                yield stt_pb2.StreamTranscribeResponse(final=stt_pb2.Transcript(text="What time do you open on Saturday?"))


def parse_delays(text: str) -> dict[str, int]:
    """`stt=100,llm=50` over the defaults."""
    delays = dict(LOAD_DELAYS_MS)
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if name not in delays:
            raise ValueError(f"unknown service {name!r} (one of {', '.join(delays)})")
        delays[name] = int(value)
    return delays


async def serve(port: int, delays: dict[str, int]) -> None:
    fakes = LoadFakes()
    fakes.delay_ms.update(delays)
    server = grpc.aio.server()
    for add in (stt_pb2_grpc.add_SpeechToTextServicer_to_server, retrieval_pb2_grpc.add_RetrievalServicer_to_server,
                llm_pb2_grpc.add_GenerationServicer_to_server, tts_pb2_grpc.add_TextToSpeechServicer_to_server):
        add(fakes, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    for name in SERVICE_NAMES:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    await server.wait_for_termination()


class FakeServicesProcess(ServiceProcess):
    """The fakes as a child process, started and health-checked like a real service."""

    def __init__(self, delays: dict[str, int], log_path: Path) -> None:
        super().__init__("fakes", log_path=log_path)
        self.delays = delays

    def start(self) -> FakeServicesProcess:
        delays = ",".join(f"{name}={ms}" for name, ms in self.delays.items())
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.load.fakes", "--port", str(self.grpc_port), "--delays", delays],
                cwd=REPO_ROOT, env=self.env, stdout=log, stderr=log,
            )
        return self


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delays", default="", help="per service, e.g. stt=100,retrieval=20,llm=100,tts=100")
    args = parser.parse_args()
    asyncio.run(serve(args.port, parse_delays(args.delays)))


if __name__ == "__main__":
    main()
