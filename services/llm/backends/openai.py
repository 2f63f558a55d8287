"""OpenAI chat completions (GPT-4 class), or any compatible server (vLLM, Ollama) via OPENAI_BASE_URL."""

from __future__ import annotations

from collections.abc import Iterator

import openai

from services.common.generated.voiceagent.v1 import llm_pb2
from services.common.openai_client import OpenAIBackend, ProviderError
from services.llm.backends.base import Answer, GenerationOptions, StreamPiece
from services.llm.prompt import build_messages
from services.llm.spoken import strip_markup, to_spoken


class OpenAIChat(OpenAIBackend):
    def _create(self, request: llm_pb2.GenerateRequest, options: GenerationOptions, **extra):
        try:
            return self.client.chat.completions.create(
                model=self.model,
                messages=build_messages(request, options.fallback),
                max_tokens=options.max_tokens,
                temperature=options.temperature,
                **extra,
            )
        except openai.OpenAIError as exc:
            raise ProviderError(f"OpenAI chat completion failed: {exc}") from exc

    def _answer(self, request: llm_pb2.GenerateRequest, options: GenerationOptions, text: str, usage) -> Answer:
        spoken = to_spoken(text, options.max_sentences) or options.fallback
        return Answer(
            spoken,
            # The model is told to use only these passages; which ones it used is not reported back.
            citations=[chunk.chunk_id for chunk in request.context],
            fallback=not text.strip() or options.fallback in spoken,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
        )

    def generate(self, request: llm_pb2.GenerateRequest, options: GenerationOptions) -> Answer:
        response = self._create(request, options)
        return self._answer(request, options, response.choices[0].message.content or "", response.usage)

    def stream(self, request: llm_pb2.GenerateRequest, options: GenerationOptions) -> Iterator[StreamPiece]:
        stream = self._create(request, options, stream=True, stream_options={"include_usage": True})
        parts: list[str] = []
        usage = None
        try:
            for chunk in stream:
                usage = chunk.usage or usage
                if chunk.choices and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
                    yield StreamPiece(text=strip_markup(chunk.choices[0].delta.content))
        except openai.OpenAIError as exc:
            raise ProviderError(f"OpenAI stream broke off: {exc}") from exc
        yield StreamPiece(answer=self._answer(request, options, "".join(parts), usage))
