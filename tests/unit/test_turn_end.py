"""Whether the words heard before a pause can end the caller's turn."""

import pytest

from services.stt.turn_end import is_complete


@pytest.mark.parametrize(
    "words",
    [
        "What time do you open on Saturday?",
        "I need to reschedule my cleaning.",
        "Do you know where it is?",  # an auxiliary that closes an embedded question
        "Yes, I am.",  # ... or a short reply
        "Thanks, that's all I needed.",
        "Call me back at 503-555-0142.",  # a dictated number that is whole
        "My zip code is 97214.",
        "I think so.",
        "Can you do that?",
        "",  # nothing understood: nothing to wait for
    ],
)
def test_complete_questions_requests_and_replies_end_the_turn(words):
    assert is_complete(words)


@pytest.mark.parametrize(
    "words",
    [
        "I'd like to book a repair for",  # a preposition
        "Do you have a table for the",  # an article
        "I was wondering if",  # a conjunction
        "Can I bring my",  # a possessive
        "My order number is",  # an auxiliary introducing what follows
        "Do you",  # a question just begun
        "Um",  # a filler
        "I need brakes, a new chain, and...",  # the recogniser heard the voice trail off
        "My number is 503-",
        "The reference is A B..",
        "What is the, the",  # a stutter
        "My order number is number is",
        "I need a hammer, some nails, a saw",  # a list with more to come
        "I'd like eggs, toast,",
        "My number is 503 555",  # a phone number shorter than a phone number
        "You can reach me on five oh three",
        "The zip code is nine seven",
        "My card ends in four",
        "I live at 12",  # a house number without its street
    ],
)
def test_unfinished_phrases_keep_the_turn_open(words):
    assert not is_complete(words)


def test_only_the_end_of_a_long_transcript_is_read():
    assert is_complete("and " * 10_000 + "what time do you open?")
    assert not is_complete("What time do you open? " * 1_000 + "and on")


@pytest.mark.parametrize("words", ["Hi, yes, what time do you open on Saturday?", "Thanks, that is all I need, bye.", "Yes, please, that would be great."])
def test_commas_in_a_finished_sentence_are_not_a_list(words):
    assert is_complete(words)
