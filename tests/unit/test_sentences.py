"""Cutting an answer's first sentence so its speech can start sooner, without cutting it where it would sound cut."""

import pytest

from services.common.sentences import lead_phrase, split_sentences


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


@pytest.mark.timeout(30)
def test_unmatched_quote_marks_do_not_make_splitting_quadratic():
    # A hang guard, not a measurement: 400 KB of backticks took 92 s before text was split into windows.
    text = "`" * 400_000
    assert "".join(split_sentences(text)) == text


def test_sentences_do_not_end_at_abbreviations_decimals_or_meridiems():
    text = "Our mechanic is Dr. Smith. Bring ID, e.g. a passport. It costs $3.50. We open at 9 a.m. Saturday. See you."
    assert split_sentences(text) == [
        "Our mechanic is Dr. Smith.", "Bring ID, e.g. a passport.", "It costs $3.50.", "We open at 9 a.m. Saturday.", "See you.",
    ]
