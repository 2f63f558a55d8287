"""gRPC methods of voiceagent.v1.Generation: translate messages and errors, nothing more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from services.common.generated.voiceagent.v1 import llm_pb2, llm_pb2_grpc
from services.common.grpc_errors import ErrorTable, abort_for
from services.common.logs import get_logger, org_id_var
from services.common.openai_client import ProviderError
from services.common.threads import iterate_in_thread
from services.llm.answering import InvalidGenerationRequestError, Responder

log = get_logger(__name__)

_ERRORS: ErrorTable = [
    (InvalidGenerationRequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (ProviderError, grpc.StatusCode.UNAVAILABLE),
]


class GenerationServicer(llm_pb2_grpc.GenerationServicer):
    def __init__(self, responder: Responder) -> None:
        self.responder = responder

    async def Generate(self, request: llm_pb2.GenerateRequest, context: grpc.aio.ServicerContext) -> llm_pb2.GenerateResponse:
        org_id_var.set(request.org_id)
        try:
            response = await asyncio.to_thread(self.responder.generate, request)
        except Exception as error:
            await abort_for(context, error, _ERRORS)
        log.info("generate.done", fallback=response.fallback, citations=len(response.citations), tokens=response.usage.quantity)
        return response

    async def StreamGenerate(
        self, request: llm_pb2.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[llm_pb2.GenerateDelta]:
        org_id_var.set(request.org_id)
        generator = self.responder.generator
        try:
            options = self.responder.options(request)
            with self.responder.meter.call(generator.provider):
                async for piece in iterate_in_thread(generator.stream(request, options)):
                    if piece.answer is not None:
                        yield llm_pb2.GenerateDelta(done=True, response=self.responder.response(request, piece.answer))
                    elif piece.text:
                        yield llm_pb2.GenerateDelta(text=piece.text)
        except Exception as error:
            await abort_for(context, error, _ERRORS)
