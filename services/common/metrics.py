"""Prometheus metrics shared by every service, and the gRPC interceptor that feeds them.

Labels are bounded (service, method, status code); call ids and phone numbers
never become labels.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import Counter, Gauge, Histogram

from services.common.logs import call_sid_var

# 1 ms to 30 s, dense where a voice turn's stages live.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

GRPC_REQUESTS = Counter(
    "voiceagent_grpc_server_requests_total",
    "gRPC calls handled, by service, method and status code.",
    ["service", "method", "code"],
)
GRPC_LATENCY = Histogram(
    "voiceagent_grpc_server_request_duration_seconds",
    "Time to handle a gRPC call, by service, method and status code.",
    ["service", "method", "code"],
    buckets=LATENCY_BUCKETS,
)
GRPC_IN_FLIGHT = Gauge(
    "voiceagent_grpc_server_in_flight_requests",
    "gRPC calls being handled now.",
    ["service"],
)
CALL_SID_METADATA_KEY = "x-call-sid"


def _status_name(context: grpc.aio.ServicerContext, error: BaseException | None) -> str:
    if isinstance(error, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED.name
    code = context.code()
    if code is None:
        return grpc.StatusCode.OK.name if error is None else grpc.StatusCode.UNKNOWN.name
    # grpc.aio reports the code as an int when set through abort().
    if isinstance(code, int):
        return next(status.name for status in grpc.StatusCode if status.value[0] == code)
    return code.name


class ObservabilityInterceptor(grpc.aio.ServerInterceptor):
    """Counts and times every call, and binds the caller's call id to the logs.

    It wraps the four handler kinds in the same way: bind context, run, record
    the final status code whether the call returned, aborted or raised.
    """

    def __init__(self, service: str) -> None:
        self.service = service

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method.rsplit("/", 1)[-1]
        full = handler_call_details.method
        # Health and reflection are noise in the request metrics; only our own services count.
        if not full.startswith("/voiceagent."):
            return handler
        call_sid = dict(handler_call_details.invocation_metadata or ()).get(CALL_SID_METADATA_KEY, "")
        if handler.unary_unary:
            return handler._replace(unary_unary=self._wrap_unary(handler.unary_unary, method, call_sid))
        if handler.stream_unary:
            return handler._replace(stream_unary=self._wrap_unary(handler.stream_unary, method, call_sid))
        if handler.unary_stream:
            return handler._replace(unary_stream=self._wrap_streaming(handler.unary_stream, method, call_sid))
        return handler._replace(stream_stream=self._wrap_streaming(handler.stream_stream, method, call_sid))

    def _record(self, method: str, started: float, context: grpc.aio.ServicerContext, error: BaseException | None) -> None:
        code = _status_name(context, error)
        GRPC_REQUESTS.labels(self.service, method, code).inc()
        GRPC_LATENCY.labels(self.service, method, code).observe(time.perf_counter() - started)
        GRPC_IN_FLIGHT.labels(self.service).dec()

    def _wrap_unary(self, behaviour: Callable[..., Awaitable[Any]], method: str, call_sid: str) -> Callable[..., Awaitable[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            call_sid_var.set(call_sid)
            GRPC_IN_FLIGHT.labels(self.service).inc()
            started = time.perf_counter()
            error: BaseException | None = None
            try:
                return await behaviour(request, context)
            except BaseException as exc:
                error = exc
                raise
            finally:
                self._record(method, started, context, error)

        return wrapped

    def _wrap_streaming(self, behaviour: Callable[..., AsyncIterator[Any]], method: str, call_sid: str) -> Callable[..., AsyncIterator[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            call_sid_var.set(call_sid)
            GRPC_IN_FLIGHT.labels(self.service).inc()
            started = time.perf_counter()
            error: BaseException | None = None
            try:
                async for response in behaviour(request, context):
                    yield response
            except BaseException as exc:
                error = exc
                raise
            finally:
                self._record(method, started, context, error)

        return wrapped
