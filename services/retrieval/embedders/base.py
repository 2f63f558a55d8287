"""The embedder interface every engine implements."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class EmbedderError(RuntimeError):
    """The embedding engine failed (provider down, bad credentials, bad response)."""


class Embedder(Protocol):
    # Stored in every shard; a shard built with another id is refused.
    id: str

    @property
    def dimension(self) -> int: ...

    def load(self) -> None:
        """Prepare the engine (load weights, check credentials) before serving."""

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, so inner product is cosine similarity."""
        ...


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms
