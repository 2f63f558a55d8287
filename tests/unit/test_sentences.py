"""Cutting an answer's first sentence so its speech can start sooner, without cutting it where it would sound cut."""

import pytest

from services.common.sentences import lead_phrase


@pytest.mark.parametrize(
    "sentence,pieces",
    [
        ("We have four free customer parking spaces behind the shop, reached from the alley on 12th Avenue.",
         ["We have four free customer parking spaces behind the shop,", "reached from the alley on 12th Avenue."]),
        ("A basic tune-up costs 75 dollars and includes adjusting the brakes and gears.",
         ["A basic tune-up costs 75 dollars", "and includes adjusting the brakes and gears."]),
        # A clock time is not a break, and a lead of fewer than three words is not worth its own synthesis.
        ("Yes, we are open from 9:00 am to 6:00 pm every weekday but not on holidays.",
         ["Yes, we are open from 9:00 am to 6:00 pm every weekday", "but not on holidays."]),
    ],
)
def test_a_long_sentence_is_cut_at_its_first_natural_break(sentence, pieces):
    assert lead_phrase(sentence) == pieces
    assert " ".join(pieces) == sentence  # the caller hears every word, once, in order


@pytest.mark.parametrize(
    "sentence",
    ["We are closed on Sundays.", "Our mechanics service electric bikes from every major brand in the workshop downstairs."],
)
def test_short_sentences_and_sentences_without_a_break_stay_whole(sentence):
    assert lead_phrase(sentence) == [sentence]
