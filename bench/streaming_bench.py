"""`make bench`: voice-to-voice latency of streaming calls, and what the streaming pipeline itself adds.

1. Offline models: every service is a real process on the offline defaults;
   a simulated Twilio Media Stream speaks each question in real time (20 ms
   frames) and plays the answer in real time. Latency is measured at the
   caller, from the last frame of the question loud enough to be speech to
   the first frame of the answer, so it includes the end-of-speech silence
   the endpointer waits for. The gateway's own milestones are printed too.
2. Pipeline overhead: the model services are replaced by fakes over real
   gRPC whose first chunk comes after a fixed delay (the real endpointer
   still finds the end of speech). Overhead = the caller's latency minus the
   end-of-speech wait and the fakes' delays: WebSocket, framing, gRPC
   streams, sentence splitting and the gateway's scheduling.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import urllib.request
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gateway_bench import REALISTIC_MS, start_fakes  # noqa: E402
from bench.tables import print_header, print_row  # noqa: E402
from services.cli.call_simulator import LOCAL_ACCOUNT_SID, RecordingServer, TwilioSimulator  # noqa: E402
from services.cli.launcher import GatewayProcess  # noqa: E402
from services.cli.stream_simulator import MediaStreamCaller  # noqa: E402
from services.common import audio  # noqa: E402
from tests.conftest import SPOKEN_QUESTIONS, copy_sample_org  # noqa: E402
from tests.integration.stack import AUTH_TOKEN, caller_speech, running_system, simulator, write_org  # noqa: E402

NUMBER = "+14155550133"
TURNS = 20
END_OF_SPEECH_MS = 500
MILESTONES = ("final_transcript", "first_token", "first_audio", "first_frame_sent")
# A second of a loud tone: speech to the endpointer.
TONE = audio.mulaw_encode(0.3 * np.sin(np.arange(8000) / 8000 * 2 * np.pi * 300).astype(np.float32))


def milestone_means(metrics_url: str) -> dict[str, float]:
    text = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
    sums, counts = {}, {}
    for line in text.splitlines():
        if line.startswith("voiceagent_gateway_stream_latency_seconds_sum"):
            sums[line.split('milestone="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("voiceagent_gateway_stream_latency_seconds_count"):
            counts[line.split('milestone="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
    return {name: sums[name] / counts[name] * 1000 for name in MILESTONES if counts.get(name)}


async def converse(url: str, parameters: dict[str, str], call_sid: str, questions: list[bytes]) -> list[float]:
    async with MediaStreamCaller(url, parameters, call_sid=call_sid) as caller:
        await caller.wait_for_answer()
        for question in questions:
            await caller.say(question)
            await caller.wait_for_answer(quiet_seconds=0.5)
    return [turn.latency_ms for turn in caller.turns if turn.latency_ms is not None]


def open_stream(sim: TwilioSimulator, call_sid: str) -> tuple[str, dict[str, str]]:
    """The signed inbound webhook's <Connect><Stream>: the WebSocket URL and the parameters Twilio passes on."""
    params = {"AccountSid": LOCAL_ACCOUNT_SID, "CallSid": call_sid, "From": "+15555550900", "To": NUMBER}
    stream = ElementTree.fromstring(sim.post("/voice/inbound", params).text).find("Connect/Stream")
    return stream.get("url"), {p.get("name"): p.get("value") for p in stream.findall("Parameter")}


def server_voice_to_voice(gateway_log: Path) -> list[float]:
    """Per turn, the gateway's own voice-to-voice time: its `stream.turn_latency` log lines."""
    turns = (json.loads(line) for line in gateway_log.read_text().splitlines() if '"stream.turn_latency"' in line)
    return [float(turn["first_frame_sent_ms"]) for turn in turns]


def print_latencies(title: str, latencies: list[float]) -> None:
    print(f"\n{title}, {len(latencies)} turns\n")
    print_header(["turns", "p50 ms", "p95 ms", "max ms"])
    print_row([str(len(latencies)), f"{np.percentile(latencies, 50):.0f}", f"{np.percentile(latencies, 95):.0f}", f"{max(latencies):.0f}"])


def offline_models() -> None:
    with tempfile.TemporaryDirectory() as root:
        data_dir, logs = Path(root) / "data", Path(root) / "logs"
        data_dir.mkdir()
        logs.mkdir()
        copy_sample_org(data_dir)
        write_org(data_dir, "streamco", NUMBER, conversation_mode="streaming")
        with running_system(data_dir, logs) as system:
            spoken = caller_speech(system.services, SPOKEN_QUESTIONS, audio.MULAW)
            questions = [spoken[question] for question in SPOKEN_QUESTIONS]
            latencies: list[float] = []
            call = 0
            while len(latencies) < TURNS:
                call += 1
                url, parameters = open_stream(system.sim, f"CA{call:032d}")
                latencies += asyncio.run(converse(url, parameters, f"CA{call:032d}", questions))
            print_latencies("Streaming voice-to-voice latency, offline models (caller's view)", latencies)
            print_latencies(
                "The same turns at the gateway (arrival of the end of the caller's speech -> first answer frame sent)",
                server_voice_to_voice(logs / "gateway.log"),
            )
            print("\nGateway milestones after the end of the caller's speech (mean ms)\n")
            means = milestone_means(system.gateway.metrics_url)
            print_header(list(means))
            print_row([f"{value:.0f}" for value in means.values()])


async def pipeline_overhead() -> None:
    server, fakes, port = await start_fakes()
    fakes.delay_ms.update(REALISTIC_MS)
    address = f"127.0.0.1:{port}"
    recordings = RecordingServer(LOCAL_ACCOUNT_SID, AUTH_TOKEN)
    with tempfile.TemporaryDirectory() as root:
        data_dir = Path(root)
        copy_sample_org(data_dir)
        write_org(data_dir, "streamco", NUMBER, conversation_mode="streaming")
        gateway = GatewayProcess(
            {
                "VOICEAGENT_DATA_DIR": str(data_dir), "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_ACCOUNT_SID": LOCAL_ACCOUNT_SID,
                "STT_ADDR": address, "RETRIEVAL_ADDR": address, "LLM_ADDR": address, "TTS_ADDR": address,
                "GATEWAY_STREAM_END_OF_SPEECH_MS": str(END_OF_SPEECH_MS), "VOICEAGENT_LOG_LEVEL": "WARNING",
            },
            data_dir / "gateway.log",
        ).start()
        await asyncio.to_thread(gateway.wait_serving)
        try:
            url, parameters = await asyncio.to_thread(open_stream, simulator(gateway, recordings), "CA" + "7" * 32)
            async with MediaStreamCaller(url, parameters, call_sid="CA" + "7" * 32) as caller:
                await caller.wait_for_answer(quiet_seconds=0.3)
                for _ in range(TURNS):
                    await caller.say(TONE)
                    await caller.wait_for_answer(quiet_seconds=0.3)
        finally:
            gateway.stop()
            recordings.close()
            await server.stop(0)
    stages_ms = END_OF_SPEECH_MS + sum(REALISTIC_MS.values())
    overheads = [turn.latency_ms - stages_ms for turn in caller.turns if turn.latency_ms is not None]
    if len(overheads) < len(caller.turns):
        raise RuntimeError(f"{len(caller.turns) - len(overheads)} of {len(caller.turns)} turns got no answer")
    print_latencies(
        f"Streaming pipeline overhead above the end-of-speech wait ({END_OF_SPEECH_MS} ms) and the fakes' first chunks "
        f"(stt {REALISTIC_MS['stt']}, retrieval {REALISTIC_MS['retrieval']}, llm {REALISTIC_MS['llm']}, tts {REALISTIC_MS['tts']} ms)",
        overheads,
    )


def main() -> int:
    offline_models()
    asyncio.run(pipeline_overhead())
    return 0


if __name__ == "__main__":
    sys.exit(main())
