"""The org's knowledge base through the retrieval service's gRPC API, as any other client uses it, and
"try a question" through retrieval and the llm exactly as the gateway asks them during a call.

Writes (ingest, delete) send the retrieval admin token; every call has a deadline. The stubs are the blocking
ones: page handlers run in FastAPI's thread pool, like the call store's reads. A failure becomes a
KnowledgeError whose message a page can show as it is ("the knowledge service cannot be reached").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import grpc

from services.common.answering import Retrieved, generation_request, last_resort
from services.common.generated.voiceagent.v1 import llm_pb2_grpc, retrieval_pb2, retrieval_pb2_grpc
from services.common.orgs import OrgConfig
from services.console.config import ConsoleSettings

# Bytes per streamed message of an upload: well under gRPC's default 4 MB message limit.
INGEST_PIECE_BYTES = 256 * 1024
_MESSAGES = {
    grpc.StatusCode.UNAVAILABLE: "the {service} service cannot be reached; try again in a moment",
    grpc.StatusCode.DEADLINE_EXCEEDED: "the {service} service took too long to answer; try again",
    grpc.StatusCode.UNAUTHENTICATED: "the console is not allowed to change documents: set RETRIEVAL_ADMIN_TOKEN for it",
    grpc.StatusCode.PERMISSION_DENIED: "the console is not allowed to change documents: set RETRIEVAL_ADMIN_TOKEN for it",
}


class KnowledgeError(RuntimeError):
    """A retrieval or llm call failed; the message is fit to show on the page."""


@dataclass(frozen=True)
class Document:
    name: str
    chunks: int
    characters: int
    ingested_at: datetime | None


@dataclass(frozen=True)
class Shard:
    documents: list[Document]
    chunks: int
    embedder: str
    updated_at: datetime | None


@dataclass(frozen=True)
class UploadResult:
    name: str
    ok: bool
    chunks: int
    error: str


@dataclass(frozen=True)
class Source:
    document: str
    chunk_id: str
    text: str
    heading_path: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TriedAnswer:
    question: str
    answer: str
    fallback: bool
    sources: list[Source]
    # Set when the llm could not answer and the answer is the pipeline's last resort.
    note: str = ""


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def _failure(error: grpc.RpcError, service: str) -> KnowledgeError:
    """The failure in words a page can show (the status code decides; details only when nothing better)."""
    template = _MESSAGES.get(error.code())
    return KnowledgeError(template.format(service=service) if template else f"{service}: {error.details() or error.code().name}")


class KnowledgeBase:
    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self._retrieval_channel = grpc.insecure_channel(settings.retrieval_addr)
        self._llm_channel = grpc.insecure_channel(settings.llm_addr)
        self.retrieval = retrieval_pb2_grpc.RetrievalStub(self._retrieval_channel)
        self.llm = llm_pb2_grpc.GenerationStub(self._llm_channel)

    def _admin(self) -> list[tuple[str, str]]:
        token = self.settings.admin_token
        return [("authorization", f"Bearer {token}")] if token else []

    def shard(self, org_id: str) -> Shard:
        timeout = self.settings.retrieval_timeout_seconds
        try:
            listed = self.retrieval.ListDocuments(retrieval_pb2.ListDocumentsRequest(org_id=org_id), timeout=timeout)
            described = self.retrieval.DescribeShard(retrieval_pb2.DescribeShardRequest(org_id=org_id), timeout=timeout)
        except grpc.RpcError as error:
            raise _failure(error, "knowledge") from None
        documents = [Document(d.name, d.chunks, d.characters, _time(d.ingested_at)) for d in listed.documents]
        return Shard(sorted(documents, key=lambda d: d.name.lower()), described.chunks, described.embedder, _time(described.updated_at))

    def upload(self, org_id: str, files: list[tuple[str, bytes]]) -> list[UploadResult]:
        """Ingest the files (a name already there is replaced); per-file failures are results, not errors."""

        def requests() -> Iterator[retrieval_pb2.IngestRequest]:
            yield retrieval_pb2.IngestRequest(org_id=org_id, options=retrieval_pb2.IngestOptions())
            for name, data in files:
                yield retrieval_pb2.IngestRequest(document=retrieval_pb2.DocumentStart(name=name))
                for start in range(0, max(len(data), 1), INGEST_PIECE_BYTES):
                    yield retrieval_pb2.IngestRequest(data=data[start : start + INGEST_PIECE_BYTES])

        try:
            response = self.retrieval.Ingest(requests(), timeout=self.settings.ingest_timeout_seconds, metadata=self._admin())
        except grpc.RpcError as error:
            raise _failure(error, "knowledge") from None
        return [UploadResult(r.name, r.ok, r.chunks, r.error) for r in response.results]

    def delete(self, org_id: str, document: str) -> int:
        request = retrieval_pb2.DeleteDocumentRequest(org_id=org_id, document=document)
        try:
            response = self.retrieval.DeleteDocument(request, timeout=self.settings.retrieval_timeout_seconds, metadata=self._admin())
        except grpc.RpcError as error:
            raise _failure(error, "knowledge") from None
        return response.chunks_removed

    def try_question(self, org: OrgConfig, question: str) -> TriedAnswer:
        """The answer and sources a caller asking `question` would get as the first question of a call."""
        search = retrieval_pb2.SearchRequest(org_id=org.org_id, query=question, top_k=org.top_k)
        try:
            found = self.retrieval.Search(search, timeout=self.settings.retrieval_timeout_seconds)
        except grpc.RpcError as error:
            raise _failure(error, "knowledge") from None
        retrieved = Retrieved(list(found.hits), list(found.unknown_terms))
        try:
            answer = self.llm.Generate(generation_request(org, question, [], retrieved), timeout=self.settings.llm_timeout_seconds)
            text, citations, fallback, note = answer.text, list(answer.citations), answer.fallback, ""
        except grpc.RpcError as error:
            # What a caller hears while the llm is down: the best matching passage, or the fallback message.
            text, citations = last_resort(org, question, retrieved)
            fallback, note = not citations, str(_failure(error, "answer")) + " (callers hear this answer of last resort meanwhile)"
        by_id = {hit.chunk_id: hit for hit in retrieved.hits}
        sources = [Source(by_id[c].document, c, by_id[c].text, list(by_id[c].heading_path)) for c in citations if c in by_id]
        return TriedAnswer(question, text, fallback, sources, note)

    def close(self) -> None:
        self._retrieval_channel.close()
        self._llm_channel.close()
