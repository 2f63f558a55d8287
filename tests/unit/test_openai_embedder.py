"""The OpenAI embedder, through the real `openai` SDK against a local OpenAI-compatible server."""

import numpy as np
import pytest

from services.retrieval.embedders import EmbedderError
from services.retrieval.embedders.openai import OpenAIEmbedder


def embedder_for(fake, **overrides):
    options = {"model": "text-embedding-3-small", "api_key": fake.api_key, "base_url": fake.base_url, "batch_size": 3}
    return OpenAIEmbedder(**{**options, **overrides})


def test_embeddings_come_back_unit_length_in_input_order(fake_openai):
    texts = ["opening hours", "bike rental prices", "opening hours on saturday", "parking", "returns policy"]
    vectors = embedder_for(fake_openai).embed(texts)
    assert vectors.shape == (5, 64) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    similarities = vectors @ vectors[0]
    assert similarities[2] > similarities[1]


def test_requests_are_batched_and_authenticated(fake_openai):
    embedder_for(fake_openai).embed([f"text {i}" for i in range(7)])
    assert [len(r["body"]["input"]) for r in fake_openai.requests] == [3, 3, 1]
    assert {r["path"] for r in fake_openai.requests} == {"/v1/embeddings"}
    assert {r["body"]["model"] for r in fake_openai.requests} == {"text-embedding-3-small"}
    assert {r["auth"] for r in fake_openai.requests} == {"Bearer test-key"}


def test_the_embedder_id_names_the_model(fake_openai):
    assert embedder_for(fake_openai, model="text-embedding-3-large").id == "openai:text-embedding-3-large"


def test_a_wrong_key_is_an_embedder_error(fake_openai):
    with pytest.raises(EmbedderError, match="Incorrect API key"):
        embedder_for(fake_openai, api_key="wrong").embed(["hello"])


def test_a_provider_outage_is_an_embedder_error(fake_openai):
    fake_openai.fail_with = 503
    with pytest.raises(EmbedderError, match="OpenAI embeddings failed"):
        embedder_for(fake_openai).embed(["hello"])


def test_a_missing_key_is_refused_at_start_up(fake_openai):
    with pytest.raises(EmbedderError, match="OPENAI_API_KEY"):
        embedder_for(fake_openai, api_key="").load()
