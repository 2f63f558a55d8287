"""The grounding prompt and the spoken-style clean-up of generated text."""

from services.common.generated.voiceagent.v1 import llm_pb2
from services.llm.prompt import build_messages
from services.llm.spoken import strip_markup, to_spoken


def request(**overrides):
    fields = dict(
        org_id="acme",
        org_name="Acme Bicycle Works",
        persona="You are the friendly assistant of Acme.",
        question="And on Sunday?",
        history=[
            llm_pb2.ConversationTurn(role=llm_pb2.ConversationTurn.CALLER, text="When do you open on Saturday?"),
            llm_pb2.ConversationTurn(role=llm_pb2.ConversationTurn.AGENT, text="At ten."),
        ],
        context=[llm_pb2.ContextChunk(text="We are closed on Sundays.", document="hours.md", chunk_id="hours.md#0")],
    )
    fields.update(overrides)
    return llm_pb2.GenerateRequest(**fields)


def test_prompt_grounds_the_model_in_the_context_and_persona():
    messages = build_messages(request(), fallback="Let me have a colleague call you back.")
    system = messages[0]["content"]
    assert messages[0]["role"] == "system"
    assert system.startswith("You are the friendly assistant of Acme.")
    assert "Answer only from the numbered context passages" in system
    assert "[1] hours.md (text)\nWe are closed on Sundays." in system
    assert "Let me have a colleague call you back." in system
    assert "Acme Bicycle Works" in system


def test_each_passage_says_where_it_comes_from_and_what_kind_of_text_it_is():
    faq = llm_pb2.ContextChunk(text="Can I pay by card?\nYes, all major cards.", document="faq.html", chunk_id="faq.html#2",
                               block_type="faq", heading_path=["Help", "Payment"])
    code = llm_pb2.ContextChunk(text="curl -X POST /v1/bookings", document="api.md", chunk_id="api.md#0", block_type="code")
    system = build_messages(request(context=[faq, code]), fallback="x")[0]["content"]
    assert "[1] faq.html > Help > Payment (FAQ (question, then answer))\nCan I pay by card?\nYes, all major cards." in system
    assert "[2] api.md (code (never read aloud))\ncurl -X POST /v1/bookings" in system
    assert "Never read code aloud" in system


def test_prompt_replays_the_conversation_then_asks_the_question():
    messages = build_messages(request(), fallback="x")
    assert [(m["role"], m["content"]) for m in messages[1:]] == [
        ("user", "When do you open on Saturday?"),
        ("assistant", "At ten."),
        ("user", "And on Sunday?"),
    ]


def test_prompt_says_when_there_is_no_context():
    assert "(no passages were found" in build_messages(request(context=[]), fallback="x")[0]["content"]


def test_markdown_and_lists_become_plain_sentences():
    text = "**Sure!** Here is what we offer:\n- Tune-ups for $75\n- Rentals from [our site](https://x.example)\n\n### Note\nCall us."
    assert to_spoken(text, max_sentences=10) == "Sure! Here is what we offer: Tune-ups for $75. Rentals from our site. Note. Call us."


def test_answers_are_cut_to_the_sentence_limit():
    assert to_spoken("One. Two. Three. Four.", max_sentences=3) == "One. Two. Three."


def test_deltas_lose_their_markup():
    assert strip_markup("**Sure") == "Sure"
