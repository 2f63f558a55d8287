"""Message taking and requests for a person: the dialogue, turn by turn, with the words a caller might use."""

from datetime import UTC, datetime

import pytest

from services.common.handoff import HandoffConfig
from services.common.orgs import OrgConfig
from services.gateway.callbacks import (
    ASK_NUMBER,
    NO_ONE_AVAILABLE,
    OFFER,
    TRANSFERRING,
    CallbackDialogue,
    CallbackRequest,
    heard_number,
    spoken_digits,
    wants_person,
)

HOURS = HandoffConfig(number="+14155550123", timezone="America/Los_Angeles", hours={"mon": "09:00-17:30"}, closed_dates=["2026-12-28"])
MONDAY_NOON = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)  # 12:00 in Los Angeles
MONDAY_NIGHT = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 20:00 in Los Angeles


def org(handoff: HandoffConfig | None = None) -> OrgConfig:
    return OrgConfig(org_id="acme", name="Acme Bikes", greeting="Hi", persona="A bike shop", handoff=handoff)


def conversation(lines: list[str], caller_id: str = "+15035550142", handoff=None, now=MONDAY_NOON) -> tuple[list[str | None], dict]:
    """The agent's words after an offer, for each caller line (None: answered from the documents)."""
    state: dict = {}
    CallbackDialogue(org(handoff), state, caller_id, now).offer()
    said = []
    for line in lines:
        step = CallbackDialogue(org(handoff), state, caller_id, now).respond(line)
        said.append(step)
    return said, state


def test_a_caller_who_accepts_leaves_name_message_and_confirms_the_caller_id():
    steps, state = conversation(["Yes please.", "It's Maria Lopez.", "My brakes are squeaking.", "Yes, that's right."])
    assert [step.text for step in steps[:3]] == [
        "Sure. What's your name?", "Thanks, Maria Lopez. What is it about?", "Should we call you back on 5 0 3, 5 5 5, 0 1 4 2?",
    ]
    assert steps[3].callback == CallbackRequest("Maria Lopez", "+15035550142", "My brakes are squeaking.", "not_in_documents")
    assert "5 0 3, 5 5 5, 0 1 4 2" in steps[3].text and state == {}


def test_a_caller_can_give_another_number_and_hears_it_read_back():
    steps, _ = conversation(["Sure, my name is Sam.", "A refund.", "No, call me on four one five five five five one two three four.", "Yes."])
    assert steps[2].text == "I have 4 1 5, 5 5 5, 1 2 3 4. Is that right?"
    assert steps[3].callback.number == "4155551234" and steps[3].callback.name == "Sam"


def test_without_a_caller_id_the_number_is_asked_for_and_a_garbled_one_asked_again():
    steps, _ = conversation(["yes", "Ann", "my order", "um I don't know", "503 555 0199", "correct"], caller_id="anonymous")
    assert steps[2].text == ASK_NUMBER
    assert "one digit at a time" in steps[3].text
    assert steps[5].callback.number == "5035550199"


def test_a_caller_who_declines_or_asks_something_else_goes_back_to_questions():
    declined, _ = conversation(["No thanks."])
    assert declined[0].callback is None and "anything else" in declined[0].text
    moved_on, state = conversation(["What time do you open on Saturday?"])
    assert moved_on == [None] and state == {}


def test_asking_for_a_person_in_opening_hours_transfers_to_the_configured_number():
    step = CallbackDialogue(org(HOURS), {}, "+15035550142", MONDAY_NOON).respond("Can I talk to a real person?")
    assert step.text == TRANSFERRING and step.transfer_to == "+14155550123"


@pytest.mark.parametrize("now", [MONDAY_NIGHT, datetime(2026, 12, 28, 20, 0, tzinfo=UTC)], ids=["after hours", "closed date"])
def test_asking_for_a_person_when_no_one_is_there_takes_a_message(now):
    state: dict = {}
    step = CallbackDialogue(org(HOURS), state, "+15035550142", now).respond("operator")
    assert step.text == NO_ONE_AVAILABLE and step.transfer_to is None and state["step"] == "name"


def test_without_a_handoff_number_the_agent_never_transfers():
    step = CallbackDialogue(org(None), {}, "+15035550142", MONDAY_NOON).respond("", keypad_zero=True)
    assert step.transfer_to is None and step.text == NO_ONE_AVAILABLE


@pytest.mark.parametrize("words", ["I want to speak to someone", "representative please", "Can I talk with a human", "operator"])
def test_the_ways_callers_ask_for_a_person(words):
    assert wants_person(words)


@pytest.mark.parametrize("words", ["Do you have a person who fixes wheels?", "What operating hours do you have?"])
def test_questions_that_merely_mention_people_are_questions(words):
    assert not wants_person(words)


def test_numbers_are_heard_in_words_or_digits_and_read_back_in_groups():
    assert heard_number("five oh three, double five five, oh one four two") == "5035550142"
    assert heard_number("503-555-0142") == "5035550142"
    assert heard_number("my order was 42") == ""
    assert spoken_digits("+15035550142") == "5 0 3, 5 5 5, 0 1 4 2"
    assert spoken_digits("+442071234567") == "4 4 2, 0 7 1, 2 3 4, 5 6 7"


def test_an_offer_is_what_the_agent_says_after_the_fallback():
    state: dict = {}
    assert CallbackDialogue(org(), state, "").offer() == OFFER and state["step"] == "offered"


def test_asking_for_someone_while_leaving_a_message_is_what_the_message_is_about():
    steps, state = conversation(["Yes.", "Sam", "I want to talk to someone about my refund."], handoff=None)
    assert steps[2].text.startswith("Should we call you back") and state["about"] == "I want to talk to someone about my refund."


def test_a_number_given_with_a_yes_is_the_number_used():
    steps, _ = conversation(["Yes.", "Sam", "A refund.", "Yes, but please call 415 555 0123 instead.", "Yes."])
    assert steps[4].callback.number == "4155550123"


def test_an_interjection_and_an_extension_are_not_digits_and_it_is_about_is_not_a_name():
    assert heard_number("Oh, it's 415 555 0123") == "4155550123"
    assert heard_number("415 555 0123 extension 12") == "4155550123"
    steps, state = conversation(["Sure, it's about my bike."])
    assert steps[0].text == "Sure. What's your name?" and state["step"] == "name"


def test_turns_that_hold_the_callers_number_are_marked_private():
    steps, _ = conversation(["Yes.", "Sam", "A refund.", "Yes."])
    assert [step.private for step in steps] == [False, False, True, True]
