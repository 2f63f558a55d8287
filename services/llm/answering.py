"""The answer-generation work, independent of gRPC: validate, generate, account."""

from __future__ import annotations

from services.common.generated.voiceagent.v1 import llm_pb2
from services.common.providers import ProviderMeter
from services.llm.backends.base import Answer, AnswerGenerator, GenerationOptions
from services.llm.config import LlmSettings

DEFAULT_FALLBACK = "I'm not sure about that. Let me have someone from the team call you back."


class InvalidGenerationRequestError(ValueError):
    pass


class Responder:
    def __init__(self, generator: AnswerGenerator, meter: ProviderMeter, settings: LlmSettings) -> None:
        self.generator = generator
        self.meter = meter
        self.settings = settings

    def options(self, request: llm_pb2.GenerateRequest) -> GenerationOptions:
        """The request's limits where given, the service's defaults otherwise; raises for bad input."""
        if not request.question.strip():
            raise InvalidGenerationRequestError("question is empty")
        if len(request.question) > self.settings.max_question_characters:
            raise InvalidGenerationRequestError(f"question is longer than {self.settings.max_question_characters} characters")
        limits = request.limits
        if limits.max_tokens < 0 or limits.max_sentences < 0 or not 0 <= limits.temperature <= 2:
            raise InvalidGenerationRequestError("limits must be non-negative and temperature at most 2")
        return GenerationOptions(
            max_tokens=min(limits.max_tokens or self.settings.max_tokens, 4096),
            max_sentences=min(limits.max_sentences or self.settings.max_sentences, 10),
            temperature=limits.temperature or self.settings.temperature,
            fallback=request.fallback_message.strip() or DEFAULT_FALLBACK,
        )

    def response(self, request: llm_pb2.GenerateRequest, answer: Answer) -> llm_pb2.GenerateResponse:
        usage = self.meter.record(
            self.generator.provider,
            request.org_id,
            "tokens",
            answer.prompt_tokens + answer.completion_tokens,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
        )
        return llm_pb2.GenerateResponse(
            text=answer.text, usage=usage, model=self.generator.model, citations=answer.citations, fallback=answer.fallback
        )

    def generate(self, request: llm_pb2.GenerateRequest) -> llm_pb2.GenerateResponse:
        options = self.options(request)
        with self.meter.call(self.generator.provider):
            answer = self.generator.generate(request, options)
        return self.response(request, answer)
