"""The shared gRPC bootstrap while a service warms up: health says NOT_SERVING, and calls are refused at once.

Found under load (`make load`, fault "kill -9 llm"): the port opens before the models load, and a call let
in then waited for the load, so the gateway's turns sat 3 to 9 s on a restarting llm instead of falling back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.cli.launcher import free_port
from services.common.generated.voiceagent.v1 import llm_pb2, llm_pb2_grpc
from services.common.grpc_server import GrpcService, serve
from services.common.settings import ServiceSettings

QUESTION = llm_pb2.GenerateRequest(org_id="acme", question="When do you open?")


def fake_generation(answered: list[str]) -> grpc.GenericRpcHandler:
    async def generate(request, context):
        answered.append("Generate")
        return llm_pb2.GenerateResponse(text="We open at nine.")

    async def stream_generate(request, context):
        answered.append("StreamGenerate")
        yield llm_pb2.GenerateDelta(done=True)

    return grpc.method_handlers_generic_handler("voiceagent.v1.Generation", {
        "Generate": grpc.unary_unary_rpc_method_handler(
            generate, request_deserializer=llm_pb2.GenerateRequest.FromString, response_serializer=llm_pb2.GenerateResponse.SerializeToString),
        "StreamGenerate": grpc.unary_stream_rpc_method_handler(
            stream_generate, request_deserializer=llm_pb2.GenerateRequest.FromString, response_serializer=llm_pb2.GenerateDelta.SerializeToString),
    })


async def health_status(channel: grpc.aio.Channel) -> int:
    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="voiceagent.v1.Generation"), timeout=2)
    return reply.status


def test_calls_during_warm_up_are_refused_at_once_and_served_once_it_is_done():
    async def scenario() -> None:
        loaded, answered = asyncio.Event(), []

        async def warm_up() -> None:
            await loaded.wait()

        service = GrpcService("llm", ["voiceagent.v1.Generation"], lambda server: server.add_generic_rpc_handlers((fake_generation(answered),)), warm_up)
        settings = ServiceSettings(grpc_host="127.0.0.1", grpc_port=free_port(), metrics_port=0, shutdown_grace_seconds=1)
        serving = asyncio.create_task(serve(service, settings))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{settings.grpc_port}") as channel:
            await asyncio.wait_for(channel.channel_ready(), 10)
            stub = llm_pb2_grpc.GenerationStub(channel)
            assert await health_status(channel) == health_pb2.HealthCheckResponse.NOT_SERVING

            async def unary() -> None:
                await stub.Generate(QUESTION, timeout=5)

            async def streaming() -> None:
                async for _ in stub.StreamGenerate(QUESTION, timeout=5):
                    pass

            for call in (unary, streaming):
                started = time.monotonic()
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await call()
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE and "warming up" in refused.value.details()
                assert time.monotonic() - started < 1
            assert answered == []  # the methods never ran before the service was ready

            loaded.set()
            while await health_status(channel) != health_pb2.HealthCheckResponse.SERVING:
                await asyncio.sleep(0.05)
            assert (await stub.Generate(QUESTION, timeout=5)).text == "We open at nine."
            assert answered == ["Generate"]
        os.kill(os.getpid(), signal.SIGTERM)  # serve() drains and returns on SIGTERM, as a pod's service does
        await asyncio.wait_for(serving, 10)

    asyncio.run(scenario())
