"""The one way every gRPC service starts, reports health and stops.

A service hands over what is specific to it (its servicers and a warm-up
that loads models); this module owns the rest: health (NOT_SERVING while
warming up and while draining), reflection, metrics and graceful shutdown.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from services.common.logs import configure_logging, get_logger
from services.common.metrics import ObservabilityInterceptor
from services.common.settings import ServiceSettings

log = get_logger(__name__)


@dataclass
class GrpcService:
    """What makes one service different from the others."""

    # Short name used in logs and metric labels, e.g. "retrieval".
    name: str
    # Fully qualified gRPC service names, e.g. "voiceagent.v1.Retrieval".
    grpc_services: list[str]
    register: Callable[[grpc.aio.Server], None]
    # Loads models or indexes before the service reports SERVING.
    warm_up: Callable[[], Awaitable[None]] | None = None


class ReadinessGate(grpc.aio.ServerInterceptor):
    """Refuses every call but health and reflection with UNAVAILABLE until the warm-up has finished.

    The port opens before models load, so health can say NOT_SERVING meanwhile; but a call let in then waited
    for the load. Under `make load`, the gateway's turns sat 3 to 9 s on an llm restarting after kill -9 (its
    deadline is 10 s), where UNAVAILABLE lets the caller hear the fallback at once."""

    def __init__(self) -> None:
        self.ready = False

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if self.ready or handler is None or handler_call_details.method.startswith(_ALWAYS_OPEN):
            return handler
        return _refusing(handler)


# Health answers NOT_SERVING while warming up; reflection describes the service whatever its state.
_ALWAYS_OPEN = ("/grpc.health.", "/grpc.reflection.")
_WARMING_UP = "the service is warming up (loading its models); try again shortly"


async def _refuse(request_or_iterator, context: grpc.aio.ServicerContext) -> None:
    await context.abort(grpc.StatusCode.UNAVAILABLE, _WARMING_UP)


async def _refuse_stream(request_or_iterator, context: grpc.aio.ServicerContext):
    await context.abort(grpc.StatusCode.UNAVAILABLE, _WARMING_UP)
    yield  # an async generator, as a response-streaming method must be


def _refusing(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that refuses the call."""
    make = {
        (False, False): grpc.unary_unary_rpc_method_handler, (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler, (True, True): grpc.stream_stream_rpc_method_handler,
    }[(handler.request_streaming, handler.response_streaming)]
    behaviour = _refuse_stream if handler.response_streaming else _refuse
    return make(behaviour, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)


async def _set_status(health_servicer: health.aio.HealthServicer, names: list[str], status: int) -> None:
    for name in ["", *names]:
        await health_servicer.set(name, status)


async def serve(service: GrpcService, settings: ServiceSettings) -> None:
    """Run `service` until SIGTERM or SIGINT, then drain in-flight calls within the grace period."""
    configure_logging(service.name, settings.log_level)
    if settings.metrics_port:
        start_http_server(settings.metrics_port)
    gate = ReadinessGate()
    server = grpc.aio.server(
        interceptors=[ObservabilityInterceptor(service.name), gate],
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
        ],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    await _set_status(health_servicer, service.grpc_services, health_pb2.HealthCheckResponse.NOT_SERVING)
    reflection.enable_server_reflection(
        [*service.grpc_services, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    service.register(server)
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    server.add_insecure_port(address)
    await server.start()
    log.info("service.listening", address=address, metrics_port=settings.metrics_port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    warm_up = asyncio.create_task(_warm_up(service, health_servicer, gate))
    # A service that cannot load its models must exit rather than sit NOT_SERVING forever.
    warm_up.add_done_callback(lambda task: task.cancelled() or task.exception() is None or stop.set())
    await stop.wait()
    warm_up.cancel()
    log.info("service.draining", grace_seconds=settings.shutdown_grace_seconds)
    # NOT_SERVING for every service, and no later set() (say, a warm-up finishing) can undo it.
    await health_servicer.enter_graceful_shutdown()
    await server.stop(settings.shutdown_grace_seconds)
    log.info("service.stopped")
    if warm_up.done() and not warm_up.cancelled() and warm_up.exception() is not None:
        raise SystemExit(1)


async def _warm_up(service: GrpcService, health_servicer: health.aio.HealthServicer, gate: ReadinessGate) -> None:
    if service.warm_up is not None:
        log.info("service.warming_up")
        try:
            await service.warm_up()
        except Exception:
            log.exception("service.warm_up_failed")
            raise
    gate.ready = True
    await _set_status(health_servicer, service.grpc_services, health_pb2.HealthCheckResponse.SERVING)
    log.info("service.serving")


def run(service: GrpcService, settings: ServiceSettings) -> None:
    """Entry point for `python -m services.<name>`."""
    asyncio.run(serve(service, settings))
