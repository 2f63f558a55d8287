"""The answer-generator interface."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from services.common.generated.voiceagent.v1 import llm_pb2


@dataclass(frozen=True)
class GenerationOptions:
    max_tokens: int
    max_sentences: int
    temperature: float
    fallback: str


@dataclass(frozen=True)
class Answer:
    text: str
    citations: list[str] = field(default_factory=list)
    # True when the context did not answer the question and the fallback is what was said.
    fallback: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class StreamPiece:
    """A text delta while generating; the last piece carries the whole answer instead."""

    text: str = ""
    answer: Answer | None = None


class AnswerGenerator(Protocol):
    # Label for metrics and cost accounting ("local", "openai").
    provider: str
    model: str

    def load(self) -> None: ...

    def generate(self, request: llm_pb2.GenerateRequest, options: GenerationOptions) -> Answer: ...

    def stream(self, request: llm_pb2.GenerateRequest, options: GenerationOptions) -> Iterator[StreamPiece]: ...
