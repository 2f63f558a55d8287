"""`voiceagent transcribe`, `say` and `ask`: the model services from the command line."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import grpc

from services.cli.output import add_address_option, add_common_options, print_json
from services.common import audio
from services.common.generated.voiceagent.v1 import (
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
from services.common.orgs import OrgConfigError, UnknownOrgError, load_org_config
from services.common.passages import context_chunks

# File extension -> (encoding, sample rate it implies).
_FILE_FORMATS = {
    ".wav": (audio.WAV, 0),
    ".mp3": (audio.MP3, 0),
    ".ulaw": (audio.MULAW, 8000),
    ".mulaw": (audio.MULAW, 8000),
    ".ul": (audio.MULAW, 8000),
    ".raw": (audio.LINEAR16, 0),
    ".pcm": (audio.LINEAR16, 0),
}


def register(commands: argparse._SubParsersAction) -> None:
    transcribe = commands.add_parser("transcribe", help="speech to text for an audio file")
    transcribe.add_argument("file", type=Path, help=".wav, .mp3, .ulaw (8 kHz mu-law) or .raw/.pcm (16-bit, needs --sample-rate)")
    transcribe.add_argument("--sample-rate", type=int, default=0, help="for headerless audio")
    transcribe.add_argument("--language", default="en-US")
    add_address_option(transcribe, "stt")
    add_common_options(transcribe, timeout=60.0)
    transcribe.set_defaults(run=run_transcribe)

    say = commands.add_parser("say", help="text to speech into an audio file")
    say.add_argument("text")
    say.add_argument("-o", "--output", type=Path, required=True, help="output file: .wav, .mp3 or .ulaw (8 kHz mu-law)")
    say.add_argument("--voice", default="", help="backend voice (default: the service's)")
    say.add_argument("--rate", type=float, default=1.0, help="speaking rate, 0.5 to 2.0")
    say.add_argument("--language", default="en-US", help="BCP 47 tag; its region decides how phone numbers and dates are read")
    add_address_option(say, "tts")
    add_common_options(say, timeout=60.0)
    say.set_defaults(run=run_say)

    ask = commands.add_parser("ask", help="answer a question from an org's knowledge (retrieval + llm)")
    ask.add_argument("--org", required=True)
    ask.add_argument("question", nargs="+")
    ask.add_argument("--top-k", type=int, default=0, help="passages to retrieve (default: the org's top_k)")
    add_address_option(ask, "retrieval", "--retrieval-addr")
    add_address_option(ask, "llm", "--llm-addr")
    add_common_options(ask, timeout=30.0)
    ask.set_defaults(run=run_ask)


def _file_format(path: Path, sample_rate: int) -> common_pb2.AudioFormat:
    encoding, implied_rate = _FILE_FORMATS.get(path.suffix.lower(), (audio.UNSPECIFIED, 0))
    return common_pb2.AudioFormat(encoding=encoding, sample_rate_hz=sample_rate or implied_rate)


def run_transcribe(args: argparse.Namespace) -> int:
    request = stt_pb2.TranscribeRequest(audio=args.file.read_bytes(), format=_file_format(args.file, args.sample_rate), language=args.language)
    with grpc.insecure_channel(args.addr) as channel:
        transcript = stt_pb2_grpc.SpeechToTextStub(channel).Transcribe(request, timeout=args.timeout)
    if args.json:
        print_json(
            {
                "text": transcript.text,
                "confidence": round(transcript.confidence, 3),
                "language": transcript.language,
                "duration_seconds": round(transcript.duration_seconds, 3),
                "provider": transcript.usage.provider,
                "estimated_cost_usd": transcript.usage.estimated_cost_usd,
            }
        )
    else:
        print(transcript.text)
    return 0


def run_say(args: argparse.Namespace) -> int:
    output_format = _file_format(args.output, 0)
    if output_format.encoding in (audio.UNSPECIFIED, audio.LINEAR16):
        raise SystemExit("error: the output file must end in .wav, .mp3 or .ulaw")
    request = tts_pb2.SynthesizeRequest(
        text=args.text, voice=args.voice, format=output_format, speaking_rate=args.rate, language=args.language
    )
    with grpc.insecure_channel(args.addr) as channel:
        response = tts_pb2_grpc.TextToSpeechStub(channel).Synthesize(request, timeout=args.timeout)
    args.output.write_bytes(response.audio)
    if args.json:
        print_json(
            {
                "output": str(args.output),
                "bytes": len(response.audio),
                "sample_rate_hz": response.format.sample_rate_hz,
                "duration_seconds": round(response.duration_seconds, 3),
                "voice": response.voice,
                "provider": response.usage.provider,
                "spoken_text": response.spoken_text,
            }
        )
    else:
        print(f"wrote {args.output} ({response.duration_seconds:.1f} s, voice {response.voice})")
    return 0


def _org_profile(org_id: str) -> tuple[str, str, str]:
    """Persona, name and fallback from the local org config when this machine has it."""
    try:
        config = load_org_config(Path(os.environ.get("VOICEAGENT_DATA_DIR", "data")), org_id)
    except (UnknownOrgError, OrgConfigError):
        return "", "", ""
    return config.persona, config.name, config.fallback_message


def run_ask(args: argparse.Namespace) -> int:
    question = " ".join(args.question)
    with grpc.insecure_channel(args.retrieval_addr) as channel:
        found = retrieval_pb2_grpc.RetrievalStub(channel).Search(
            retrieval_pb2.SearchRequest(org_id=args.org, query=question, top_k=args.top_k), timeout=args.timeout
        )
    hits = found.hits
    persona, name, fallback = _org_profile(args.org)
    request = llm_pb2.GenerateRequest(
        org_id=args.org,
        org_name=name,
        persona=persona,
        fallback_message=fallback,
        question=question,
        context=context_chunks(hits),
        unknown_terms=found.unknown_terms,
    )
    with grpc.insecure_channel(args.llm_addr) as channel:
        answer = llm_pb2_grpc.GenerationStub(channel).Generate(request, timeout=args.timeout)
    by_id = {hit.chunk_id: hit for hit in hits}
    sources = [
        {
            "chunk_id": chunk_id,
            "document": by_id[chunk_id].document,
            "block_type": by_id[chunk_id].block_type,
            "heading_path": list(by_id[chunk_id].heading_path),
            "score": round(by_id[chunk_id].score, 4),
        }
        for chunk_id in answer.citations
        if chunk_id in by_id
    ]
    if args.json:
        print_json(
            {"question": question, "answer": answer.text, "fallback": answer.fallback, "sources": sources, "model": answer.model,
             "unknown_terms": list(found.unknown_terms)}
        )
    else:
        print(answer.text)
        for source in sources:
            print(f"source: {source['chunk_id']} ({source['block_type']}: {' > '.join(source['heading_path'])})")
    return 0
