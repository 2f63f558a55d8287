"""OpenAI embeddings through the official SDK; `OPENAI_BASE_URL` reaches compatible servers too."""

from __future__ import annotations

import numpy as np
import openai

from services.common.openai_client import OpenAIBackend, ProviderError
from services.retrieval.embedders.base import EmbedderError, normalise_rows

# Known sizes, so a shard's dimension is known before the first request.
_KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


class OpenAIEmbedder(OpenAIBackend):
    def __init__(
        self,
        model: str,
        api_key: str,
        base_url: str | None,
        batch_size: int = 256,
        timeout_seconds: float = 30.0,
    ) -> None:
        super().__init__(api_key, base_url, model, timeout_seconds)
        self.id = f"openai:{model}"
        self.batch_size = batch_size
        self._dimension = _KNOWN_DIMENSIONS.get(model, 0)

    @property
    def dimension(self) -> int:
        if not self._dimension:
            self._dimension = int(self.embed(["dimension probe"]).shape[1])
        return self._dimension

    def load(self) -> None:
        try:
            super().load()
        except ProviderError as exc:
            raise EmbedderError(f"RETRIEVAL_EMBEDDER=openai: {exc}") from exc

    def embed(self, texts: list[str]) -> np.ndarray:
        client = self.client
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            try:
                response = client.embeddings.create(model=self.model, input=batch)
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
