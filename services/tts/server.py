"""Starts the text-to-speech service: `python -m services.tts`."""

from __future__ import annotations

import asyncio

from services.common.generated.voiceagent.v1 import tts_pb2_grpc
from services.common.grpc_server import GrpcService, run
from services.common.providers import ProviderMeter
from services.tts.backends import create_synthesizer
from services.tts.config import TtsSettings
from services.tts.servicer import TextToSpeechServicer
from services.tts.speech import Speaker


def build_service(settings: TtsSettings) -> GrpcService:
    synthesizer = create_synthesizer(settings)
    speaker = Speaker(synthesizer, ProviderMeter("tts", settings.data_dir), settings.max_text_characters)
    servicer = TextToSpeechServicer(speaker)

    async def warm_up() -> None:
        await asyncio.to_thread(synthesizer.load)
        if synthesizer.provider == "local":
            await asyncio.to_thread(synthesizer.synthesize, "Ready.", "", 1.0)

    return GrpcService(
        name="tts",
        grpc_services=["voiceagent.v1.TextToSpeech"],
        register=lambda server: tts_pb2_grpc.add_TextToSpeechServicer_to_server(servicer, server),
        warm_up=warm_up,
    )


def main() -> None:
    settings = TtsSettings()
    run(build_service(settings), settings)
