"""The offline answerer: right facts read by block type, honest fallback, nothing made up, nothing unsayable."""

from __future__ import annotations

import pytest

from services.common.generated.voiceagent.v1 import llm_pb2
from services.common.minilm import MiniLMEmbedder
from services.common.passages import passages
from services.llm.backends.base import GenerationOptions
from services.llm.backends.extractive import ExtractiveAnswerer
from services.retrieval.ingest import Chunk, document_chunks
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
    return ExtractiveAnswerer(embedder)


@pytest.fixture(scope="module")
def sample_chunks():
    chunks = []
    for path in sorted((SAMPLE_ORG / "knowledge").iterdir()):
        chunks.extend(document_chunks(path.name, path.read_bytes()))
    return chunks


def context_of(chunks: list[Chunk]) -> list[llm_pb2.ContextChunk]:
    return [
        llm_pb2.ContextChunk(text=c.text, document=c.document, chunk_id=c.chunk_id, block_type=c.kind, heading_path=c.headings)
        for c in chunks
    ]


def ask(answerer, embedder, chunks, question, history=()):
    """Retrieve the four closest chunks by meaning, then answer."""
    scores = embedder.embed([c.indexed_text for c in chunks]) @ embedder.embed([question])[0]
    top = sorted(range(len(chunks)), key=lambda i: -scores[i])[:4]
    context = context_of([chunks[i] for i in top])
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
        sentences = [passage.said for passage in passages(context)]
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
    context = context_of([c for c in sample_chunks if c.document == "price-list.pdf"])
    request = llm_pb2.GenerateRequest(org_id="acme", question="And for a week?", context=context, history=history)
    answer = answerer.generate(request, OPTIONS)
    assert "300 dollars per week" in answer.text


def test_a_short_question_of_its_own_is_not_read_as_a_follow_up(answerer, embedder, sample_chunks):
    history = [
        llm_pb2.ConversationTurn(role=llm_pb2.ConversationTurn.CALLER, text="What time do you open on Saturday?"),
        llm_pb2.ConversationTurn(role=llm_pb2.ConversationTurn.AGENT, text=""),
    ]
    context = context_of(sample_chunks)
    answer = answerer.generate(llm_pb2.GenerateRequest(org_id="acme", question="Where can I park?", context=context, history=history), OPTIONS)
    assert "park" in answer.text.lower() and "saturday" not in answer.text.lower()


def test_no_context_means_fallback(answerer):
    answer = answerer.generate(llm_pb2.GenerateRequest(question="What time do you open?"), OPTIONS)
    assert answer.fallback and answer.text == FALLBACK


def test_chunk_overlap_fragments_are_never_spoken():
    chunk = llm_pb2.ContextChunk(text="is 4:30 pm on weekdays.\n\nWe open at nine every day.", chunk_id="c#1", block_type="paragraph",
                                 heading_path=["Opening hours"])
    assert [p.said for p in passages([chunk])] == ["We open at nine every day."]


STRUCTURED = [
    llm_pb2.ContextChunk(text="Can I pay by card?\nYes. We take Visa, Mastercard and American Express.", chunk_id="faq.html#3",
                         block_type="faq", heading_path=["FAQ", "Payment"]),
    llm_pb2.ContextChunk(text="Day rental: price $40\nWeek rental: price $150", chunk_id="prices.md#1", block_type="table_row",
                         heading_path=["Prices", "Bike rental"]),
    llm_pb2.ContextChunk(text="No pets\nNo smoking inside the shop", chunk_id="rules.txt#0", block_type="list_item",
                         heading_path=["House rules"]),
    llm_pb2.ContextChunk(text="curl -X POST https://api.example.com/v1/bookings", chunk_id="api.md#2", block_type="code",
                         heading_path=["API", "Bookings"]),
    llm_pb2.ContextChunk(text="E4021: HTTP 401, meaning signing secret expired\nE4040: HTTP 404, meaning resource not found",
                         chunk_id="errors.md#0", block_type="table_row", heading_path=["Error codes"]),
]


@pytest.mark.parametrize(
    "question,said",
    [
        ("Do you guys take credit cards?", "Yes. We take Visa, Mastercard and American Express."),
        ("How much is it to rent a bike for a day?", "Day rental: price $40."),
        ("Are pets allowed?", "No pets."),
        ("What does error E4021 mean?", "E4021: HTTP 401, meaning signing secret expired."),
    ],
)
def test_each_block_type_is_said_as_a_complete_phrase(answerer, question, said):
    answer = answerer.generate(llm_pb2.GenerateRequest(org_id="x", question=question, context=STRUCTURED), OPTIONS)
    assert not answer.fallback and answer.text.startswith(said)


def test_a_faq_question_a_heading_and_code_are_never_said(answerer):
    for question in ("Can I pay by card?", "How do I create a booking with the API?", "What are the house rules?"):
        answer = answerer.generate(llm_pb2.GenerateRequest(org_id="x", question=question, context=STRUCTURED), OPTIONS)
        assert "Can I pay by card?" not in answer.text and "curl" not in answer.text and "House rules" not in answer.text


class CountingEmbedder:
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self, embedder: MiniLMEmbedder) -> None:
        self.embedder, self.id, self.texts = embedder, embedder.id, 0

    def embed(self, texts):
        self.texts += len(texts)
        return self.embedder.embed(texts)


def test_context_sentences_are_embedded_once_across_questions(embedder, sample_chunks):
    counting = CountingEmbedder(embedder)
    answerer = ExtractiveAnswerer(counting)
    first, context = ask(answerer, embedder, sample_chunks, "What time do you open on Saturday?")
    embedded_first = counting.texts
    request = llm_pb2.GenerateRequest(org_id="acme", question="When do you open on Saturdays?", context=context)
    second = answerer.generate(request, OPTIONS)
    assert embedded_first > 5 and counting.texts == embedded_first + 1  # only the new question
    assert second.text == first.text


def test_a_question_naming_what_the_documents_never_mention_gets_the_fallback(answerer):
    request = llm_pb2.GenerateRequest(org_id="x", question="Can I pay with Venmo?", context=STRUCTURED, unknown_terms=["venmo"])
    answer = answerer.generate(request, OPTIONS)
    assert answer.fallback and answer.text == FALLBACK
