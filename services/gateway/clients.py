"""The gateway's view of the four services: one channel each, deadlines on every call, safe retries."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.generated.voiceagent.v1 import llm_pb2_grpc, retrieval_pb2, retrieval_pb2_grpc, stt_pb2_grpc, tts_pb2_grpc
from services.common.logs import get_logger
from services.gateway.config import GatewaySettings

log = get_logger(__name__)

SERVICE_NAMES = {
    "stt": "voiceagent.v1.SpeechToText",
    "retrieval": "voiceagent.v1.Retrieval",
    "llm": "voiceagent.v1.Generation",
    "tts": "voiceagent.v1.TextToSpeech",
}


# gRPC backs off reconnecting up to two minutes by default, so a service that restarted was still avoided for
# seconds (turns fell back meanwhile): reconnect attempts stay at most a second apart.
# Round robin: with a dns:/// address (every ready replica, as retrieval has in the cluster) calls spread over
# all of them and a replica that goes away is skipped; with one address it changes nothing.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.lb_policy_name", "round_robin"),
]
# Loading an org's shard on a cold replica; the call never waits for it.
WARM_TIMEOUT_SECONDS = 10.0


class ServiceClients:
    def __init__(self, settings: GatewaySettings) -> None:
        self.channels = {
            name: grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
            for name, address in (
                ("stt", settings.stt_addr), ("retrieval", settings.retrieval_addr),
                ("llm", settings.llm_addr), ("tts", settings.tts_addr),
            )
        }
        self.stt = stt_pb2_grpc.SpeechToTextStub(self.channels["stt"])
        self.retrieval = retrieval_pb2_grpc.RetrievalStub(self.channels["retrieval"])
        self.llm = llm_pb2_grpc.GenerationStub(self.channels["llm"])
        self.tts = tts_pb2_grpc.TextToSpeechStub(self.channels["tts"])

    async def call(
        self, method: Callable[..., Awaitable[Any]], request: Any, timeout: float, call_sid: str, attempts: int = 2
    ) -> Any:
        """Every call the gateway makes is a read (transcribe, search, generate, synthesise), so a call
        refused with UNAVAILABLE (a restarting pod) is retried once, within the same stage deadline."""
        deadline = time.monotonic() + timeout
        for attempt in range(attempts):
            try:
                remaining = max(0.001, deadline - time.monotonic())
                return await method(request, timeout=remaining, metadata=[("x-call-sid", call_sid)])
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE or attempt == attempts - 1 or time.monotonic() >= deadline:
                    raise
        raise AssertionError("unreachable")

    async def warm(self, org_id: str, call_sid: str) -> None:
        """Ask retrieval to load the org's shard while the greeting plays, so the first question is not the one
        that pays for a cold replica. Best effort: a failure here costs nothing but that head start."""
        try:
            await self.retrieval.Warm(retrieval_pb2.WarmRequest(org_id=org_id), timeout=WARM_TIMEOUT_SECONDS, metadata=[("x-call-sid", call_sid)])
        except grpc.aio.AioRpcError as error:
            log.info("retrieval.warm_failed", code=error.code().name)

    async def readiness(self) -> dict[str, bool]:
        status = {}
        for name, channel in self.channels.items():
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=SERVICE_NAMES[name]), timeout=1.0
                )
                status[name] = reply.status == health_pb2.HealthCheckResponse.SERVING
            except grpc.aio.AioRpcError:
                status[name] = False
        return status

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
