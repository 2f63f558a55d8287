"""The answer pipeline both call modes share: what is searched, what the llm is asked, what is said without it."""

from services.common.answering import Retrieved, generation_request, last_resort, search_query
from services.common.generated.voiceagent.v1 import llm_pb2, retrieval_pb2
from services.common.orgs import OrgConfig

ORG = OrgConfig(org_id="acme", name="Acme", greeting="Hi", persona="Be brief.", fallback_message="A colleague will call you back.")
HISTORY = [["caller", "What time do you open on Saturday?"], ["agent", "At ten."]]
PARKING = retrieval_pb2.SearchHit(text="We have four free parking spaces behind the shop.", chunk_id="location.html#2",
                                  block_type="paragraph", heading_path=["Find us", "Parking"])


def test_a_short_follow_up_is_searched_with_the_previous_question_and_a_new_question_alone():
    assert search_query("And on Sundays?", HISTORY) == "What time do you open on Saturday? And on Sundays?"
    assert search_query("Where can I park my car?", HISTORY) == "Where can I park my car?"
    assert search_query("And on Sundays?", []) == "And on Sundays?"


def test_the_llm_is_asked_with_persona_conversation_passages_and_unknown_terms():
    request = generation_request(ORG, "Where can I park?", HISTORY, Retrieved([PARKING], ["valet"]))
    assert (request.persona, request.fallback_message, request.question) == ("Be brief.", ORG.fallback_message, "Where can I park?")
    assert [turn.role for turn in request.history] == [llm_pb2.ConversationTurn.CALLER, llm_pb2.ConversationTurn.AGENT]
    assert request.context[0].block_type == "paragraph" and list(request.context[0].heading_path) == ["Find us", "Parking"]
    assert list(request.unknown_terms) == ["valet"]


def test_without_the_llm_the_best_passage_is_said_unless_the_question_names_what_the_documents_lack():
    assert last_resort(ORG, "Where can I park?", Retrieved([PARKING])) == (
        "We have four free parking spaces behind the shop.", ["location.html#2"]
    )
    assert last_resort(ORG, "Do you have valet parking?", Retrieved([PARKING], ["valet"])) == (ORG.fallback_message, [])
    assert last_resort(ORG, "Where can I park?", Retrieved()) == (ORG.fallback_message, [])
