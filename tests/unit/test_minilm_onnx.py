"""MiniLM in onnxruntime: the same vectors as sentence-transformers, without importing torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from services.common.minilm import MiniLMEmbedder, model_directory
from tests.conftest import REPO_ROOT

TEXTS = [
    "What time do you open on Saturday?",
    "Error E4021 means the signing secret expired; rotate it in the dashboard.",
    "Snowboard: half day $30, full day $42",
    "über naïve café ☕ 日本語",
    "",
    "ok",
    # Longer than the model's 256 tokens: both must cut it at the same place.
    "The derailleur needs adjusting every three months. " * 40,
]


@pytest.mark.slow
def test_vectors_match_sentence_transformers_within_1e_5():
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(model_directory()), device="cpu").encode(TEXTS, normalize_embeddings=True, batch_size=4)
    vectors = MiniLMEmbedder(batch_size=4).embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    assert np.abs(vectors - reference).max() < 1e-5


def test_vectors_are_unit_length_and_independent_of_their_batch():
    embedder = MiniLMEmbedder(batch_size=3)
    together = embedder.embed(TEXTS)
    alone = np.concatenate([embedder.embed([text]) for text in TEXTS])
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-6)
    assert np.abs(together - alone).max() < 1e-5
    assert embedder.embed([]).shape == (0, 384)


def test_loading_the_model_imports_neither_torch_nor_sentence_transformers():
    probe = (
        "import sys\n"
        "from services.common.minilm import MiniLMEmbedder\n"
        "MiniLMEmbedder().embed(['warm-up'])\n"
        "print(sorted({'torch', 'sentence_transformers', 'transformers'} & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
