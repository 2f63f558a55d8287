"""gRPC methods of voiceagent.v1.Retrieval: translate messages and errors, nothing more."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator

import grpc

from services.common.generated.voiceagent.v1 import retrieval_pb2 as pb
from services.common.generated.voiceagent.v1 import retrieval_pb2_grpc
from services.common.grpc_errors import ORG_ERRORS, ErrorTable, abort_for
from services.common.logs import get_logger, org_id_var
from services.retrieval.embedders import EmbedderError
from services.retrieval.knowledge import (
    DocumentNotFoundError,
    DocumentOutcome,
    EmbedderMismatchError,
    InvalidRequestError,
    KnowledgeBase,
    SearchHit,
    UploadedDocument,
)
from services.retrieval.shard import OrgShard, ShardCorruptError
from services.retrieval.stores import StoreUnavailableError, VersionConflictError

log = get_logger(__name__)

# Most specific first: each failure gets the status code a caller can act on.
_ERRORS: ErrorTable = [
    *ORG_ERRORS,
    (InvalidRequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (DocumentNotFoundError, grpc.StatusCode.NOT_FOUND),
    (EmbedderMismatchError, grpc.StatusCode.FAILED_PRECONDITION),
    (EmbedderError, grpc.StatusCode.UNAVAILABLE),
    (ShardCorruptError, grpc.StatusCode.DATA_LOSS),
    (StoreUnavailableError, grpc.StatusCode.UNAVAILABLE),
    (VersionConflictError, grpc.StatusCode.ABORTED),
]


def describe(shard: OrgShard) -> pb.ShardDescription:
    return pb.ShardDescription(
        org_id=shard.org_id,
        chunks=len(shard.chunks),
        documents=len(shard.documents),
        dimension=shard.dimension,
        embedder=shard.embedder,
        index_type=shard.index_type,
        updated_at=shard.updated_at,
        version=shard.version,
    )


def search_hits(hits: list[SearchHit]) -> list[pb.SearchHit]:
    return [
        pb.SearchHit(
            text=hit.chunk.text,
            score=hit.score,
            document=hit.chunk.document,
            chunk_id=hit.chunk.chunk_id,
            position=hit.chunk.position,
            block_type=hit.chunk.kind,
            heading_path=hit.chunk.headings,
        )
        for hit in hits
    ]


class _Upload:
    """Reassembles the documents of a client-streamed Ingest (header, then data pieces)."""

    def __init__(self, max_document_bytes: int) -> None:
        self.max_document_bytes = max_document_bytes
        self.org_id = ""
        self.options = pb.IngestOptions()
        self.documents: list[UploadedDocument] = []
        # Too large to ingest: name -> reason. Their bytes are not kept.
        self.oversized: dict[str, str] = {}
        self._current: pb.DocumentStart | None = None
        self._parts: list[bytes] = []
        self._size = 0

    def add(self, message: pb.IngestRequest) -> None:
        self.org_id = self.org_id or message.org_id
        part = message.WhichOneof("part")
        if part == "options":
            self.options = message.options
        elif part == "document":
            if not message.document.name:
                raise InvalidRequestError("a document has no name")
            self._close_document()
            self._current, self._parts, self._size = message.document, [], 0
        elif part == "data":
            if self._current is None:
                raise InvalidRequestError("document data arrived before a document header")
            self._size += len(message.data)
            if self._size <= self.max_document_bytes:
                self._parts.append(message.data)

    def _close_document(self) -> None:
        if self._current is None:
            return
        name = self._current.name
        if self._size > self.max_document_bytes:
            self.oversized[name] = f"document is larger than the limit of {self.max_document_bytes} bytes"
        self.documents.append(UploadedDocument(name, b"".join(self._parts), self._current.media_type))
        self._current = None

    def finish(self) -> list[UploadedDocument]:
        self._close_document()
        return self.documents


class RetrievalServicer(retrieval_pb2_grpc.RetrievalServicer):
    def __init__(self, knowledge: KnowledgeBase, admin_tokens: list[str], max_document_bytes: int, allow_open_writes: bool = False) -> None:
        self.knowledge = knowledge
        self.admin_tokens = [token.encode() for token in admin_tokens]
        self.allow_open_writes = allow_open_writes
        self.max_document_bytes = max_document_bytes

    async def _require_admin(self, context: grpc.aio.ServicerContext) -> None:
        """Writes need `authorization: Bearer <token>` with one of RETRIEVAL_ADMIN_TOKEN's tokens; without any
        token configured they are refused, unless open writes were asked for (local development)."""
        if not self.admin_tokens:
            if self.allow_open_writes:
                return
            log.warning("request.unauthenticated", reason="no admin token configured")
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "writes are refused: set RETRIEVAL_ADMIN_TOKEN on the service (RETRIEVAL_ALLOW_OPEN_WRITES=true only for local development)",
            )
        header = dict(context.invocation_metadata() or ()).get("authorization", "")
        scheme, _, token = header.partition(" ")
        presented = token.encode(errors="replace")
        # Every token is compared, so the time taken does not tell which one nearly matched.
        matches = [hmac.compare_digest(presented, expected) for expected in self.admin_tokens]
        if scheme.lower() != "bearer" or not any(matches):
            log.warning("request.unauthenticated", reason="missing" if not header else "wrong token")
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "this write needs 'authorization: Bearer <token>' metadata matching RETRIEVAL_ADMIN_TOKEN",
            )

    async def Search(self, request: pb.SearchRequest, context: grpc.aio.ServicerContext) -> pb.SearchResponse:
        org_id_var.set(request.org_id)
        try:
            result = await self.knowledge.search(request.org_id, request.query, request.top_k, request.min_score)
        except Exception as error:
            await abort_for(context, error, _ERRORS)
        return pb.SearchResponse(embedder=result.shard.embedder, hits=search_hits(result.hits), unknown_terms=result.unknown_terms)

    async def Ingest(
        self, request_iterator: AsyncIterator[pb.IngestRequest], context: grpc.aio.ServicerContext
    ) -> pb.IngestResponse:
        await self._require_admin(context)
        upload = _Upload(self.max_document_bytes)
        try:
            async for message in request_iterator:
                upload.add(message)
        except InvalidRequestError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        documents = upload.finish()
        org_id_var.set(upload.org_id)
        if not upload.org_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message must carry org_id")
        if not documents and not upload.options.rebuild:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no documents were sent")
        accepted = [document for document in documents if document.name not in upload.oversized]
        try:
            report = await self.knowledge.ingest(
                upload.org_id,
                accepted,
                chunk_size=upload.options.chunking.chunk_size,
                chunk_overlap=upload.options.chunking.chunk_overlap,
                rebuild=upload.options.rebuild,
            )
        except Exception as error:
            await abort_for(context, error, _ERRORS)
        outcomes = {outcome.name: outcome for outcome in report.outcomes}
        outcomes.update({name: DocumentOutcome(name, error=error) for name, error in upload.oversized.items()})
        results = [
            pb.DocumentResult(name=o.name, ok=not o.error, error=o.error, chunks=o.chunks)
            for o in (outcomes[document.name] for document in documents)
        ]
        return pb.IngestResponse(
            documents_ingested=sum(result.ok for result in results),
            documents_failed=sum(not result.ok for result in results),
            chunks_added=report.chunks_added,
            chunks_removed=report.chunks_removed,
            results=results,
            shard=describe(report.shard),
        )

    async def DeleteDocument(
        self, request: pb.DeleteDocumentRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteDocumentResponse:
        await self._require_admin(context)
        org_id_var.set(request.org_id)
        try:
            removed, shard = await self.knowledge.delete_document(request.org_id, request.document)
        except Exception as error:
            await abort_for(context, error, _ERRORS)
        return pb.DeleteDocumentResponse(chunks_removed=removed, shard=describe(shard))

    async def ListDocuments(
        self, request: pb.ListDocumentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDocumentsResponse:
        org_id_var.set(request.org_id)
        try:
            shard = await self.knowledge.describe(request.org_id)
        except Exception as error:
            await abort_for(context, error, _ERRORS)
        return pb.ListDocumentsResponse(
            documents=[
                pb.DocumentInfo(
                    name=record.name,
                    chunks=record.chunks,
                    sha256=record.sha256,
                    characters=record.characters,
                    ingested_at=record.ingested_at,
                )
                for record in sorted(shard.documents.values(), key=lambda record: record.name)
            ]
        )

    async def DescribeShard(
        self, request: pb.DescribeShardRequest, context: grpc.aio.ServicerContext
    ) -> pb.ShardDescription:
        org_id_var.set(request.org_id)
        try:
            shard = await self.knowledge.describe(request.org_id)
        except Exception as error:
            await abort_for(context, error, _ERRORS)
        return describe(shard)

    async def Warm(self, request: pb.WarmRequest, context: grpc.aio.ServicerContext) -> pb.WarmResponse:
        org_id_var.set(request.org_id)
        try:
            shard, already_loaded = await self.knowledge.warm(request.org_id)
        except Exception as error:
            await abort_for(context, error, _ERRORS)
        return pb.WarmResponse(shard=describe(shard), already_loaded=already_loaded)
