"""Starts the retrieval service: `python -m services.retrieval`."""

from __future__ import annotations

import asyncio

from services.common.generated.voiceagent.v1 import retrieval_pb2_grpc
from services.common.grpc_server import GrpcService, run
from services.common.logs import get_logger
from services.common.providers import ProviderMeter
from services.retrieval.config import RetrievalSettings
from services.retrieval.embedders import create_embedder
from services.retrieval.knowledge import KnowledgeBase
from services.retrieval.servicer import RetrievalServicer
from services.retrieval.shard_cache import ShardCache

log = get_logger(__name__)


def build_service(settings: RetrievalSettings) -> GrpcService:
    embedder = create_embedder(settings)
    cache = ShardCache(settings.data_dir, settings.shard_memory_budget_mb * 1024 * 1024)
    meter = ProviderMeter("retrieval", settings.data_dir)
    knowledge = KnowledgeBase(settings.data_dir, embedder, cache, settings.approximate_index_threshold, meter)
    servicer = RetrievalServicer(knowledge, settings.admin_tokens, settings.max_document_bytes, settings.allow_open_writes)

    async def warm_up() -> None:
        if not settings.admin_tokens:
            # Loud at start-up: an operator must see why ingestion is refused, or that anyone may write.
            log.warning(
                "retrieval.writes_open" if settings.allow_open_writes else "retrieval.writes_refused",
                detail="RETRIEVAL_ADMIN_TOKEN is not set: "
                + ("anyone who reaches this port can ingest and delete documents" if settings.allow_open_writes
                   else "Ingest and DeleteDocument are refused until it is"),
            )
        # A first embedding proves the model (or the provider) answers before we report SERVING.
        await asyncio.to_thread(embedder.load)
        await asyncio.to_thread(embedder.embed, ["warm-up"])

    return GrpcService(
        name="retrieval",
        grpc_services=["voiceagent.v1.Retrieval"],
        register=lambda server: retrieval_pb2_grpc.add_RetrievalServicer_to_server(servicer, server),
        warm_up=warm_up,
    )


def main() -> None:
    settings = RetrievalSettings()
    run(build_service(settings), settings)
