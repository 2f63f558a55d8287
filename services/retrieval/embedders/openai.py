"""OpenAI embeddings through the official SDK; `OPENAI_BASE_URL` reaches compatible servers too."""

from __future__ import annotations

import numpy as np
import openai

from services.retrieval.embedders.base import EmbedderError, normalise_rows

# Known sizes, so a shard's dimension is known before the first request.
_KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


class OpenAIEmbedder:
    def __init__(
        self,
        model: str,
        api_key: str,
        base_url: str | None,
        batch_size: int = 256,
        timeout_seconds: float = 30.0,
    ) -> None:
        self.model = model
        self.id = f"openai:{model}"
        self.batch_size = batch_size
        self._dimension = _KNOWN_DIMENSIONS.get(model, 0)
        self._client = openai.OpenAI(
            api_key=api_key or "missing-key", base_url=base_url or None, timeout=timeout_seconds, max_retries=2
        )
        self._has_key = bool(api_key)

    @property
    def dimension(self) -> int:
        if not self._dimension:
            self._dimension = int(self.embed(["dimension probe"]).shape[1])
        return self._dimension

    def load(self) -> None:
        if not self._has_key:
            raise EmbedderError("RETRIEVAL_EMBEDDER=openai needs OPENAI_API_KEY")

    def embed(self, texts: list[str]) -> np.ndarray:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            try:
                response = self._client.embeddings.create(model=self.model, input=batch)
            except openai.OpenAIError as exc:
                raise EmbedderError(f"OpenAI embeddings failed: {exc}") from exc
            ordered = sorted(response.data, key=lambda item: item.index)
            if len(ordered) != len(batch):
                raise EmbedderError(f"OpenAI returned {len(ordered)} embeddings for {len(batch)} inputs")
            rows.extend(item.embedding for item in ordered)
        if not rows:
            return np.zeros((0, self._dimension), dtype=np.float32)
        vectors = normalise_rows(np.asarray(rows, dtype=np.float32))
        self._dimension = vectors.shape[1]
        return vectors
