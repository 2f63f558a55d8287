"""Starts the answer-generation service: `python -m services.llm`."""

from __future__ import annotations

import asyncio

from services.common.generated.voiceagent.v1 import llm_pb2_grpc
from services.common.grpc_server import GrpcService, run
from services.common.providers import ProviderMeter
from services.llm.answering import Responder
from services.llm.backends import create_generator
from services.llm.config import LlmSettings
from services.llm.servicer import GenerationServicer


def build_service(settings: LlmSettings) -> GrpcService:
    generator = create_generator(settings)
    responder = Responder(generator, ProviderMeter("llm", settings.data_dir), settings)
    servicer = GenerationServicer(responder)

    async def warm_up() -> None:
        await asyncio.to_thread(generator.load)

    return GrpcService(
        name="llm",
        grpc_services=["voiceagent.v1.Generation"],
        register=lambda server: llm_pb2_grpc.add_GenerationServicer_to_server(servicer, server),
        warm_up=warm_up,
    )


def main() -> None:
    settings = LlmSettings()
    run(build_service(settings), settings)
