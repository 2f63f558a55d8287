"""Turning a service's domain errors into the gRPC status a caller can act on."""

from __future__ import annotations

import grpc

from services.common.logs import get_logger
from services.common.orgs import InvalidOrgIdError, OrgConfigError, UnknownOrgError

log = get_logger(__name__)

ErrorTable = list[tuple[type[BaseException], grpc.StatusCode]]

# Errors every service that takes an org id can raise.
ORG_ERRORS: ErrorTable = [
    (InvalidOrgIdError, grpc.StatusCode.INVALID_ARGUMENT),
    (UnknownOrgError, grpc.StatusCode.NOT_FOUND),
    (OrgConfigError, grpc.StatusCode.FAILED_PRECONDITION),
]


async def abort_for(context: grpc.aio.ServicerContext, error: Exception, table: ErrorTable) -> None:
    """Abort with the first matching status (most specific first in `table`), logging why.

    Errors not in the table are logged with their traceback and become
    INTERNAL, so the caller gets an answer and the service keeps serving.
    """
    for error_type, code in table:
        if isinstance(error, error_type):
            log.warning("request.failed", code=code.name, error=str(error))
            await context.abort(code, str(error))
    log.exception("request.crashed", error_type=type(error).__name__)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error ({type(error).__name__}); see the service log")
