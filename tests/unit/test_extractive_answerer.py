"""The offline answerer on the sample org: right facts, honest fallback, nothing made up."""

from __future__ import annotations

import pytest

from services.common.generated.voiceagent.v1 import llm_pb2
from services.common.minilm import MiniLMEmbedder
from services.common.sentences import candidate_sentences
from services.llm.backends.base import GenerationOptions
from services.llm.backends.extractive import ExtractiveAnswerer
from services.retrieval.ingest import chunk_text, extract_text
from tests.conftest import SAMPLE_ORG

FALLBACK = "I'm not sure about that one."
OPTIONS = GenerationOptions(max_tokens=150, max_sentences=3, temperature=0.2, fallback=FALLBACK)


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    model = MiniLMEmbedder()
    model.load()
    return model


@pytest.fixture(scope="module")
def answerer(embedder) -> ExtractiveAnswerer:
    return ExtractiveAnswerer(embedder, min_similarity=0.40)


@pytest.fixture(scope="module")
def sample_chunks():
    chunks = []
    for path in sorted((SAMPLE_ORG / "knowledge").iterdir()):
        chunks.extend(chunk_text(path.name, extract_text(path.name, path.read_bytes())))
    return chunks


def ask(answerer, embedder, chunks, question, history=()):
    """Retrieve the four closest chunks like the service would, then answer."""
    scores = embedder.embed([c.text for c in chunks]) @ embedder.embed([question])[0]
    top = sorted(range(len(chunks)), key=lambda i: -scores[i])[:4]
    context = [llm_pb2.ContextChunk(text=chunks[i].text, document=chunks[i].document, chunk_id=chunks[i].chunk_id) for i in top]
    request = llm_pb2.GenerateRequest(org_id="acme", question=question, context=context, history=list(history))
    return answerer.generate(request, OPTIONS), context


@pytest.mark.parametrize(
    "question,fact",
    [
        ("What time do you open on Saturday?", "Saturday from 10:00 am to 4:00 pm"),
        ("How much does a basic tune-up cost?", "A basic tune-up costs 75 dollars"),
        ("How much is it to rent an electric bike for a day?", "75 dollars per day"),
        ("Where can I park?", "four free customer parking spaces"),
        ("Can I cancel my rental booking?", "cancelled free of charge up to 24 hours"),
        ("Are you open on Sundays?", "closed on Sundays"),
        ("Can I pay with a check?", "do not accept personal checks"),
    ],
)
def test_answers_with_the_right_fact(answerer, embedder, sample_chunks, question, fact):
    answer, _ = ask(answerer, embedder, sample_chunks, question)
    assert not answer.fallback and fact in answer.text
    assert answer.citations and answer.completion_tokens > 0


@pytest.mark.parametrize("question", ["Do you sell pizza?", "What is the capital of France?", "Who won the game last night?"])
def test_unrelated_questions_get_the_fallback(answerer, embedder, sample_chunks, question):
    answer, _ = ask(answerer, embedder, sample_chunks, question)
    assert answer.fallback and answer.text == FALLBACK and answer.citations == []


QUESTIONS = [
    "What time do you open on Saturday?", "Where are you?", "How much is a full service?", "Do you rent kids bikes?",
    "What is your return policy?", "Is there a warranty on repairs?", "Do you sell pizza?", "Can you pick up my bike?",
    "How long does a bike fit take?", "Do you take Apple Pay?", "When are you closed for holidays?", "Tell me a joke",
]


def test_never_says_anything_that_is_not_in_the_context(answerer, embedder, sample_chunks):
    for question in QUESTIONS:
        answer, context = ask(answerer, embedder, sample_chunks, question)
        if answer.fallback:
            assert answer.text == FALLBACK
            continue
        sentences = [s.text for s in candidate_sentences((c.text, c.chunk_id) for c in context)]
        spoken = answer.text
        for sentence in sorted(sentences, key=len, reverse=True):
            spoken = spoken.replace(sentence, "")
        assert spoken.strip() == "", f"{question!r} produced text not in the context: {spoken!r}"
        assert len(answer.text.split()) <= 60


def test_a_short_follow_up_is_read_with_the_previous_question(answerer, embedder, sample_chunks):
    history = [
        llm_pb2.ConversationTurn(role=llm_pb2.ConversationTurn.CALLER, text="How much does it cost to rent an electric bike?"),
        llm_pb2.ConversationTurn(role=llm_pb2.ConversationTurn.AGENT, text="Electric bikes cost 20 dollars per hour."),
    ]
    context = [llm_pb2.ContextChunk(text=c.text, chunk_id=c.chunk_id, document=c.document) for c in sample_chunks if c.document == "price-list.pdf"]
    request = llm_pb2.GenerateRequest(org_id="acme", question="And for a week?", context=context, history=history)
    answer = answerer.generate(request, OPTIONS)
    assert "300 dollars per week" in answer.text


def test_a_short_question_of_its_own_is_not_read_as_a_follow_up(answerer, embedder, sample_chunks):
    history = [
        llm_pb2.ConversationTurn(role=llm_pb2.ConversationTurn.CALLER, text="What time do you open on Saturday?"),
        llm_pb2.ConversationTurn(role=llm_pb2.ConversationTurn.AGENT, text=""),
    ]
    context = [llm_pb2.ContextChunk(text=c.text, chunk_id=c.chunk_id, document=c.document) for c in sample_chunks]
    answer = answerer.generate(llm_pb2.GenerateRequest(org_id="acme", question="Where can I park?", context=context, history=history), OPTIONS)
    assert "park" in answer.text.lower() and "saturday" not in answer.text.lower()


def test_no_context_means_fallback(answerer):
    answer = answerer.generate(llm_pb2.GenerateRequest(question="What time do you open?"), OPTIONS)
    assert answer.fallback and answer.text == FALLBACK


def test_chunk_overlap_fragments_and_headings_are_never_spoken():
    passage = ("is 4:30 pm on weekdays.\n\nOpening hours\n\nWe open at nine every day.", "c#1")
    assert [c.text for c in candidate_sentences([passage])] == ["We open at nine every day."]


class CountingEmbedder:
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self, embedder: MiniLMEmbedder) -> None:
        self.embedder, self.id, self.texts = embedder, embedder.id, 0

    def embed(self, texts):
        self.texts += len(texts)
        return self.embedder.embed(texts)


def test_context_sentences_are_embedded_once_across_questions(embedder, sample_chunks):
    counting = CountingEmbedder(embedder)
    answerer = ExtractiveAnswerer(counting, min_similarity=0.40)
    first, context = ask(answerer, embedder, sample_chunks, "What time do you open on Saturday?")
    embedded_first = counting.texts
    request = llm_pb2.GenerateRequest(org_id="acme", question="When do you open on Saturdays?", context=context)
    second = answerer.generate(request, OPTIONS)
    assert embedded_first > 5 and counting.texts == embedded_first + 1  # only the new question
    assert second.text == first.text
