"""Starts the speech-to-text service: `python -m services.stt`."""

from __future__ import annotations

import asyncio

import numpy as np

from services.common import vad
from services.common.audio import Audio
from services.common.generated.voiceagent.v1 import stt_pb2_grpc
from services.common.grpc_server import GrpcService, run
from services.common.providers import ProviderMeter
from services.stt.backends import create_recognizer
from services.stt.backends.base import RECOGNIZER_RATE
from services.stt.config import SttSettings
from services.stt.servicer import SpeechToTextServicer
from services.stt.transcriber import Transcriber


def build_service(settings: SttSettings) -> GrpcService:
    recognizer = create_recognizer(settings)
    meter = ProviderMeter("stt", settings.data_dir)
    transcriber = Transcriber(recognizer, meter, settings.max_audio_seconds, settings.vad_threshold)
    servicer = SpeechToTextServicer(transcriber, settings)

    async def warm_up() -> None:
        await asyncio.to_thread(recognizer.load)
        await asyncio.to_thread(vad.load)
        if recognizer.provider == "local":
            # The first inference initialises the runtime; pay for it before the first caller does.
            await asyncio.to_thread(recognizer.transcribe, Audio(np.zeros(RECOGNIZER_RATE, np.float32), RECOGNIZER_RATE), "")

    return GrpcService(
        name="stt",
        grpc_services=["voiceagent.v1.SpeechToText"],
        register=lambda server: stt_pb2_grpc.add_SpeechToTextServicer_to_server(servicer, server),
        warm_up=warm_up,
    )


def main() -> None:
    settings = SttSettings()
    run(build_service(settings), settings)
