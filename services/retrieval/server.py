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
from services.retrieval.stores import StoreFactory, StoreUnavailableError, open_stores

log = get_logger(__name__)


background_tasks: set[asyncio.Task[None]] = set()


async def check_store(settings: RetrievalSettings, stores: StoreFactory) -> None:
    """Say at start-up, loudly, if a remote store cannot be reached (wrong bucket, endpoint or credentials).
    Serve anyway: a store that is back a minute later is better met by a running replica than by one that
    restarts in a loop."""
    check = getattr(stores, "check", None)  # remote stores have one; the file store needs none
    if check is None:
        return
    try:
        await asyncio.to_thread(check)
    except StoreUnavailableError as error:
        log.error("retrieval.store_unreachable", store=settings.store, error=str(error))


def build_service(settings: RetrievalSettings) -> GrpcService:
    embedder = create_embedder(settings)
    stores = open_stores(settings)
    cache = ShardCache(settings.data_dir, settings.shard_memory_budget_mb * 1024 * 1024, stores, settings.refresh_seconds)
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
        log.info("retrieval.store", store=settings.store, refresh_seconds=settings.refresh_seconds)
        await check_store(settings, stores)
        # A first embedding proves the model (or the provider) answers before we report SERVING.
        await asyncio.to_thread(embedder.load)
        await asyncio.to_thread(embedder.embed, ["warm-up"])
        refresher = asyncio.create_task(cache.keep_fresh())
        # Kept for the life of the service: an unreferenced task may be collected.
        background_tasks.add(refresher)

    return GrpcService(
        name="retrieval",
        grpc_services=["voiceagent.v1.Retrieval"],
        register=lambda server: retrieval_pb2_grpc.add_RetrievalServicer_to_server(servicer, server),
        warm_up=warm_up,
    )


def main() -> None:
    settings = RetrievalSettings()
    run(build_service(settings), settings)
