"""`make demo`: the four model services on the offline defaults, the sample org, a spoken conversation.

Until the Twilio gateway lands, the demo plays both sides of a call itself:
each caller question is synthesised and sent as 8 kHz mu-law telephone audio
(what Twilio records), then transcribed, searched, answered and spoken back,
with the per-stage latency printed and each answer written to out/.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.cli.launcher import REPO_ROOT, ServiceProcess  # noqa: E402
from services.cli.main import main as voiceagent  # noqa: E402
from services.common import audio  # noqa: E402
from services.common.generated.voiceagent.v1 import common_pb2, llm_pb2, llm_pb2_grpc, retrieval_pb2  # noqa: E402
from services.common.generated.voiceagent.v1 import retrieval_pb2_grpc, stt_pb2, stt_pb2_grpc, tts_pb2, tts_pb2_grpc  # noqa: E402
from services.common.orgs import load_org_config  # noqa: E402

ORG = "acme"
CALLER_TURNS = ["What time do you open on Saturday?", "And are you open on Sundays?", "How much does a basic tune-up cost?"]
TELEPHONE = common_pb2.AudioFormat(encoding=audio.MULAW, sample_rate_hz=8000)
OUT = REPO_ROOT / "out"


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


class Conversation:
    """One simulated call: the caller's audio in, the agent's audio out, memory across turns."""

    def __init__(self, channels: dict[str, grpc.Channel]) -> None:
        self.stt = stt_pb2_grpc.SpeechToTextStub(channels["stt"])
        self.retrieval = retrieval_pb2_grpc.RetrievalStub(channels["retrieval"])
        self.llm = llm_pb2_grpc.GenerationStub(channels["llm"])
        self.tts = tts_pb2_grpc.TextToSpeechStub(channels["tts"])
        self.org = load_org_config(REPO_ROOT / "data", ORG)
        self.history: list[llm_pb2.ConversationTurn] = []

    def caller_says(self, text: str) -> bytes:
        return self.tts.Synthesize(tts_pb2.SynthesizeRequest(org_id=ORG, text=text, format=TELEPHONE), timeout=30).audio

    def turn(self, number: int, recording: bytes) -> None:
        timings: dict[str, float] = {}

        def timed(stage, call):
            started = time.perf_counter()
            result = call()
            timings[stage] = (time.perf_counter() - started) * 1000
            return result

        metadata = [("x-call-sid", "CAdemo0000000000000000000000000001")]
        transcript = timed("stt", lambda: self.stt.Transcribe(
            stt_pb2.TranscribeRequest(org_id=ORG, audio=recording, format=TELEPHONE), timeout=30, metadata=metadata))
        hits = timed("retrieval", lambda: self.retrieval.Search(
            retrieval_pb2.SearchRequest(org_id=ORG, query=self._search_query(transcript.text)), timeout=10, metadata=metadata)).hits
        answer = timed("llm", lambda: self.llm.Generate(
            llm_pb2.GenerateRequest(
                org_id=ORG, org_name=self.org.name, persona=self.org.persona, fallback_message=self.org.fallback_message,
                question=transcript.text, history=self.history,
                context=[llm_pb2.ContextChunk(text=h.text, document=h.document, chunk_id=h.chunk_id, score=h.score) for h in hits],
            ), timeout=30, metadata=metadata))
        speech = timed("tts", lambda: self.tts.Synthesize(
            tts_pb2.SynthesizeRequest(org_id=ORG, text=answer.text, format=common_pb2.AudioFormat(encoding=audio.WAV)),
            timeout=30, metadata=metadata))
        output = OUT / f"answer-{number}.wav"
        output.write_bytes(speech.audio)
        self.history += [
            llm_pb2.ConversationTurn(role=llm_pb2.ConversationTurn.CALLER, text=transcript.text),
            llm_pb2.ConversationTurn(role=llm_pb2.ConversationTurn.AGENT, text=answer.text),
        ]
        print(f"caller (heard by stt): {transcript.text}")
        print(f"agent:                 {answer.text}")
        print(f"sources:               {', '.join(answer.citations) or '(none: fallback)'}")
        print("latency ms:            " + ", ".join(f"{stage} {ms:.0f}" for stage, ms in timings.items())
              + f", turn {sum(timings.values()):.0f}")
        print(f"answer audio:          {output.relative_to(REPO_ROOT)} ({speech.duration_seconds:.1f} s)")

    def _search_query(self, text: str) -> str:
        # A short follow-up ("and on Sundays?") is searched together with the previous question.
        callers = [turn.text for turn in self.history if turn.role == llm_pb2.ConversationTurn.CALLER]
        return f"{callers[-1]} {text}" if callers and len(text.split()) <= 5 else text


def main() -> int:
    OUT.mkdir(exist_ok=True)
    env = {"VOICEAGENT_DATA_DIR": str(REPO_ROOT / "data")}
    names = ("retrieval", "stt", "llm", "tts")
    banner("starting retrieval, stt, llm and tts on the offline defaults")
    started = time.perf_counter()
    services = {name: ServiceProcess(name, env, OUT / f"{name}.log").start() for name in names}
    try:
        for service in services.values():
            service.wait_serving()
        print(f"all serving after {time.perf_counter() - started:.1f}s: "
              + ", ".join(f"{name} {service.address}" for name, service in services.items()))
        for name, service in services.items():
            os.environ[f"{name.upper()}_ADDR"] = service.address
        banner(f"voiceagent ingest --org {ORG} --rebuild data/{ORG}/knowledge")
        if voiceagent(["ingest", "--org", ORG, "--rebuild", str(REPO_ROOT / "data" / ORG / "knowledge")]) != 0:
            return 1
        channels = {name: grpc.insecure_channel(service.address) for name, service in services.items()}
        conversation = Conversation(channels)
        for number, question in enumerate(CALLER_TURNS, start=1):
            banner(f"turn {number}: the caller asks {question!r} (sent as 8 kHz mu-law telephone audio)")
            conversation.turn(number, conversation.caller_says(question))
        for channel in channels.values():
            channel.close()
    finally:
        for service in services.values():
            service.stop()
    banner("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
