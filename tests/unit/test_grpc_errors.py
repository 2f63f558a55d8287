"""Errors become the status code a caller can act on; unexpected ones become INTERNAL and are logged."""

import asyncio

import grpc
import pytest

from services.common.grpc_errors import ORG_ERRORS, abort_for
from services.common.orgs import UnknownOrgError


class RecordingContext:
    def __init__(self):
        self.aborted = None

    async def abort(self, code, details):
        self.aborted = (code, details)
        raise grpc.aio.AbortError()


def outcome(error):
    context = RecordingContext()
    with pytest.raises(grpc.aio.AbortError):
        asyncio.run(abort_for(context, error, [*ORG_ERRORS, (ValueError, grpc.StatusCode.INVALID_ARGUMENT)]))
    return context.aborted


def test_known_errors_get_their_status_and_message():
    assert outcome(UnknownOrgError("unknown organisation 'x'")) == (grpc.StatusCode.NOT_FOUND, "unknown organisation 'x'")
    assert outcome(ValueError("bad")) == (grpc.StatusCode.INVALID_ARGUMENT, "bad")


def test_unexpected_errors_are_internal_and_logged_with_their_traceback(caplog):
    code, details = outcome(ZeroDivisionError("division by zero"))
    assert code == grpc.StatusCode.INTERNAL and "ZeroDivisionError" in details
    record = next(r for r in caplog.records if r.getMessage() == "request.crashed")
    assert record.exc_info is not None
