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


async def _set_status(health_servicer: health.aio.HealthServicer, names: list[str], status: int) -> None:
    for name in ["", *names]:
        await health_servicer.set(name, status)


async def serve(service: GrpcService, settings: ServiceSettings) -> None:
    """Run `service` until SIGTERM or SIGINT, then drain in-flight calls within the grace period."""
    configure_logging(service.name, settings.log_level)
    if settings.metrics_port:
        start_http_server(settings.metrics_port)
    server = grpc.aio.server(
        interceptors=[ObservabilityInterceptor(service.name)],
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

    warm_up = asyncio.create_task(_warm_up(service, health_servicer))
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


async def _warm_up(service: GrpcService, health_servicer: health.aio.HealthServicer) -> None:
    if service.warm_up is not None:
        log.info("service.warming_up")
        try:
            await service.warm_up()
        except Exception:
            log.exception("service.warm_up_failed")
            raise
    await _set_status(health_servicer, service.grpc_services, health_pb2.HealthCheckResponse.SERVING)
    log.info("service.serving")


def run(service: GrpcService, settings: ServiceSettings) -> None:
    """Entry point for `python -m services.<name>`."""
    asyncio.run(serve(service, settings))
