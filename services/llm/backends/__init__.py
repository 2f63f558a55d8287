"""Answer generators behind one interface, chosen by `LLM_BACKEND`."""

from __future__ import annotations

from services.llm.backends.base import Answer, AnswerGenerator
from services.llm.config import LlmSettings

__all__ = ["Answer", "AnswerGenerator", "create_generator"]


def create_generator(settings: LlmSettings) -> AnswerGenerator:
    """The configured generator; imports its engine only when it is the one chosen."""
    if settings.backend == "openai":
        from services.llm.backends.openai import OpenAIChat

        return OpenAIChat(
            settings.openai_api_key, settings.openai_base_url, settings.openai_model, settings.openai_timeout_seconds
        )
    from services.common.minilm import MiniLMEmbedder
    from services.llm.backends.extractive import ExtractiveAnswerer

    return ExtractiveAnswerer(MiniLMEmbedder())
