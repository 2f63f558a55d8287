"""Who may write to the knowledge base: one of the admin tokens, and nobody when none is configured."""

import asyncio

import grpc
import pytest

from services.retrieval.config import RetrievalSettings
from services.retrieval.servicer import RetrievalServicer


class Aborted(Exception):
    def __init__(self, code, details):
        super().__init__(details)
        self.code, self.details = code, details


class FakeContext:
    def __init__(self, authorization: str | None = None) -> None:
        self.metadata = [("authorization", authorization)] if authorization is not None else []

    def invocation_metadata(self):
        return self.metadata

    async def abort(self, code, details):
        raise Aborted(code, details)


def may_write(servicer: RetrievalServicer, authorization: str | None) -> bool:
    try:
        asyncio.run(servicer._require_admin(FakeContext(authorization)))
    except Aborted as refused:
        assert refused.code == grpc.StatusCode.UNAUTHENTICATED
        return False
    return True


def servicer(**env) -> RetrievalServicer:
    settings = RetrievalSettings(**env)
    return RetrievalServicer(None, settings.admin_tokens, 1000, settings.allow_open_writes)


def test_without_a_token_writes_are_refused_and_the_message_says_what_to_set():
    with pytest.raises(Aborted, match="set RETRIEVAL_ADMIN_TOKEN"):
        asyncio.run(servicer()._require_admin(FakeContext("Bearer anything")))


def test_open_writes_are_for_local_development_only_when_asked_for():
    assert may_write(servicer(allow_open_writes=True), None)


def test_any_token_of_a_rotation_list_is_accepted_and_nothing_else():
    rotating = servicer(admin_token="old-token, new-token")
    assert may_write(rotating, "Bearer old-token") and may_write(rotating, "bearer new-token")
    assert not may_write(rotating, "Bearer other") and not may_write(rotating, None)
    assert not may_write(rotating, "Basic old-token") and not may_write(rotating, "Bearer é")
