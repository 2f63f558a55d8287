"""`make bench`: the offline model backends on this machine.

Measured in-process (no gRPC hop), one request at a time, after a warm-up:
speech-to-text real-time factor on 8 kHz mu-law telephone audio, text-to-
speech time to first sentence and real-time factor, and extractive answer
latency with four retrieved chunks. The vendor backends (OpenAI, Polly)
cannot be measured here: this machine has no route to them.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.tables import print_header, print_row  # noqa: E402
from services.common import audio  # noqa: E402
from services.common.generated.voiceagent.v1 import llm_pb2  # noqa: E402
from services.common.minilm import MiniLMEmbedder  # noqa: E402
from services.common.providers import ProviderMeter  # noqa: E402
from services.common.sentences import split_sentences  # noqa: E402
from services.llm.backends.base import GenerationOptions  # noqa: E402
from services.llm.backends.extractive import ExtractiveAnswerer  # noqa: E402
from services.retrieval.ingest import document_chunks  # noqa: E402
from services.stt.backends.moonshine import MoonshineRecognizer  # noqa: E402
from services.stt.transcriber import Transcriber  # noqa: E402
from services.tts.backends.espeak import EspeakSynthesizer  # noqa: E402
from services.tts.backends.piper import PiperSynthesizer  # noqa: E402
from services.tts.speech import Speaker  # noqa: E402
from tests.conftest import SPOKEN_QUESTIONS  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ANSWER = (
    "Acme Bicycle Works is open Monday to Friday from 9:00 am to 6:00 pm and on Saturday from 10:00 am to 4:00 pm. "
    "We are closed on Sundays. Is there anything else I can help you with?"
)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def bench_stt(speaker: Speaker) -> list[str]:
    recognizer = MoonshineRecognizer()
    recognizer.load()
    transcriber = Transcriber(recognizer, ProviderMeter("stt", REPO / "data"), 120, 0.5)
    clips = [speaker.synthesize(q, "", audio.MULAW, 8000, 1.0, "bench").audio for q in SPOKEN_QUESTIONS]
    transcriber.transcribe(clips[0], audio.MULAW, 8000, "en", "bench")
    seconds, durations = [], []
    for clip in clips:
        started = time.perf_counter()
        transcriber.transcribe(clip, audio.MULAW, 8000, "en", "bench")
        seconds.append(time.perf_counter() - started)
        durations.append(len(clip) / 8000)
    rtf = sum(seconds) / sum(durations)
    return ["stt", "local (Moonshine base-en)", f"{len(clips)} questions, {sum(durations):.1f} s of 8 kHz mu-law",
            f"p50 {percentile(seconds, 50) * 1000:.0f} ms, p95 {percentile(seconds, 95) * 1000:.0f} ms", f"RTF {rtf:.3f}"]


def bench_tts(name: str, synthesizer) -> list[str]:
    synthesizer.load()
    speaker = Speaker(synthesizer, ProviderMeter("tts", REPO / "data"), 3000)
    speaker.synthesize("Warm up.", "", audio.MULAW, 8000, 1.0, "bench")
    first_chunk, totals, audio_seconds = [], [], []
    for _ in range(5):
        started = time.perf_counter()
        spoken = [speaker.speak_sentence(s, "", audio.MULAW, 8000, 1.0, "bench") for s in split_sentences(ANSWER)]
        totals.append(time.perf_counter() - started)
        audio_seconds.append(sum(s.duration_seconds for s in spoken))
        started = time.perf_counter()
        speaker.speak_sentence(split_sentences(ANSWER)[0], "", audio.MULAW, 8000, 1.0, "bench")
        first_chunk.append(time.perf_counter() - started)
    rtf = sum(totals) / sum(audio_seconds)
    return ["tts", name, f"3-sentence answer, {audio_seconds[0]:.1f} s of speech, 8 kHz mu-law",
            f"first sentence p50 {percentile(first_chunk, 50) * 1000:.0f} ms", f"RTF {rtf:.3f}"]


def bench_extractive() -> list[str]:
    embedder = MiniLMEmbedder()
    answerer = ExtractiveAnswerer(embedder)
    answerer.load()
    chunks = []
    for path in sorted((REPO / "data" / "acme" / "knowledge").iterdir()):
        chunks.extend(document_chunks(path.name, path.read_bytes()))
    vectors = embedder.embed([c.indexed_text for c in chunks])
    options = GenerationOptions(150, 3, 0.2, "fallback")
    seconds = []
    for question in SPOKEN_QUESTIONS * 3:
        top = np.argsort(-(vectors @ embedder.embed([question])[0]))[:4]
        context = [
            llm_pb2.ContextChunk(text=chunks[i].text, chunk_id=chunks[i].chunk_id, block_type=chunks[i].kind, heading_path=chunks[i].headings)
            for i in top
        ]
        request = llm_pb2.GenerateRequest(question=question, context=context)
        started = time.perf_counter()
        answerer.generate(request, options)
        seconds.append(time.perf_counter() - started)
    return ["llm", "extractive (MiniLM)", f"{len(seconds)} questions, 4 chunks of context each",
            f"p50 {percentile(seconds, 50) * 1000:.0f} ms, p95 {percentile(seconds, 95) * 1000:.0f} ms", "-"]


def main() -> int:
    piper = PiperSynthesizer()
    piper.load()
    speaker = Speaker(piper, ProviderMeter("tts", REPO / "data"), 3000)
    print("\nOffline model backends (in-process, one request at a time)\n")
    print_header(["stage", "backend", "workload", "latency", "real-time factor"])
    print_row(bench_stt(speaker))
    print_row(bench_tts("local (Piper en_US-joe-medium)", PiperSynthesizer()))
    print_row(bench_tts("espeak-ng (fallback)", EspeakSynthesizer()))
    print_row(bench_extractive())
    return 0


if __name__ == "__main__":
    sys.exit(main())
