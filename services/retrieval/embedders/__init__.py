"""Text embedders behind one interface, chosen by `RETRIEVAL_EMBEDDER`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.retrieval.embedders.base import Embedder, EmbedderError

if TYPE_CHECKING:
    from services.retrieval.config import RetrievalSettings

__all__ = ["Embedder", "EmbedderError", "create_embedder"]


def create_embedder(settings: RetrievalSettings) -> Embedder:
    """The configured embedder; imports its engine only when it is the one chosen."""
    if settings.embedder == "local":
        from services.common.minilm import MiniLMEmbedder

        return MiniLMEmbedder(batch_size=settings.embed_batch_size)
    from services.retrieval.embedders.openai import OpenAIEmbedder

    return OpenAIEmbedder(
        model=settings.openai_embedding_model,
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        batch_size=settings.embed_batch_size,
        timeout_seconds=settings.openai_timeout_seconds,
    )
