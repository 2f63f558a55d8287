"""`make bench`: voice-to-voice latency of streaming calls with the offline models on this machine.

Every service is a real process on the offline defaults; a simulated Twilio
Media Stream speaks each question in real time (20 ms frames) and plays the
answer in real time. Latency is measured at the caller: from the last frame
of the question to the first frame of the answer, so it includes the
end-of-speech silence the endpointer waits for (GATEWAY_STREAM_END_OF_SPEECH_MS).
The gateway's own per-milestone histograms are printed too.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import urllib.request
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.retrieval_bench import print_header, print_row  # noqa: E402
from services.cli.call_simulator import LOCAL_ACCOUNT_SID, RecordingServer  # noqa: E402
from services.cli.stream_simulator import MediaStreamCaller  # noqa: E402
from services.common import audio  # noqa: E402
from services.common.generated.voiceagent.v1 import common_pb2, tts_pb2, tts_pb2_grpc  # noqa: E402
from tests.conftest import SPOKEN_QUESTIONS, copy_sample_org  # noqa: E402
from tests.integration.stack import AUTH_TOKEN, simulator, start_gateway, start_model_services, write_org  # noqa: E402

NUMBER = "+14155550133"
TURNS = 20


def milestone_means(metrics_url: str) -> dict[str, float]:
    text = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
    sums, counts = {}, {}
    for line in text.splitlines():
        if line.startswith("voiceagent_gateway_stream_latency_seconds_sum"):
            sums[line.split('milestone="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("voiceagent_gateway_stream_latency_seconds_count"):
            counts[line.split('milestone="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
    return {name: sums[name] / counts[name] * 1000 for name in sums if counts.get(name)}


async def converse(url: str, parameters: dict[str, str], call_sid: str, questions: list[bytes]) -> list[float]:
    async with MediaStreamCaller(url, parameters, call_sid=call_sid) as caller:
        await caller.wait_for_answer()
        for question in questions:
            await caller.say(question)
            await caller.wait_for_answer(quiet_seconds=0.5)
    return [turn.latency_ms for turn in caller.turns if turn.latency_ms is not None]


def main() -> int:
    with tempfile.TemporaryDirectory() as root:
        data_dir, logs = Path(root) / "data", Path(root) / "logs"
        data_dir.mkdir()
        logs.mkdir()
        copy_sample_org(data_dir)
        write_org(data_dir, "streamco", NUMBER, conversation_mode="streaming")
        services = start_model_services(data_dir, logs)
        recordings = RecordingServer(LOCAL_ACCOUNT_SID, AUTH_TOKEN)
        gateway = start_gateway(data_dir, logs / "gateway.log", services, recordings)
        try:
            with grpc.insecure_channel(services["tts"].address) as channel:
                tts = tts_pb2_grpc.TextToSpeechStub(channel)
                telephone = common_pb2.AudioFormat(encoding=audio.MULAW, sample_rate_hz=8000)
                questions = [tts.Synthesize(tts_pb2.SynthesizeRequest(text=q, format=telephone), timeout=30).audio for q in SPOKEN_QUESTIONS]
            sim = simulator(gateway, recordings)
            latencies: list[float] = []
            call = 0
            while len(latencies) < TURNS:
                call += 1
                params = {"AccountSid": LOCAL_ACCOUNT_SID, "CallSid": f"CA{call:032d}", "From": "+15555550900", "To": NUMBER}
                stream = ElementTree.fromstring(sim.post("/voice/inbound", params).text).find("Connect/Stream")
                parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
                latencies += asyncio.run(converse(stream.get("url"), parameters, params["CallSid"], questions))
            print(f"\nStreaming voice-to-voice latency, offline models, {len(latencies)} turns (caller's view)\n")
            print_header(["turns", "p50 ms", "p95 ms", "max ms"])
            print_row([str(len(latencies)), f"{np.percentile(latencies, 50):.0f}", f"{np.percentile(latencies, 95):.0f}", f"{max(latencies):.0f}"])
            print("\nGateway milestones after stt's end-of-speech event (mean ms)\n")
            means = milestone_means(gateway.metrics_url)
            print_header(list(means))
            print_row([f"{value:.0f}" for value in means.values()])
        finally:
            gateway.stop()
            recordings.close()
            for service in services.values():
                service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
