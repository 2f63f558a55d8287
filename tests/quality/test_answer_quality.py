"""Answer quality on documents shaped like real businesses' (FAQ pages, price tables, policy PDFs with lists,
technical specs, a plain-text page with hours and phone numbers), as a regression test.

The suites and how they are scored are described in bench/answer_quality.py, which prints the same figures in
`make bench`. The floors below are today's measured quality less a small margin, so a change that makes
answers worse fails here; they are below the targets of the answers issue (accuracy 0.85, recall@3 0.96,
fallback recall 0.90), which the offline answerer does not reach yet (see the README's quality section).
"""

from __future__ import annotations

import re

import phonenumbers
import pytest

from bench.answer_quality import Report, evaluate
from services.common.minilm import MiniLMEmbedder
from services.llm.backends.extractive import ExtractiveAnswerer
from services.tts.normalise import normalise_for_speech

pytestmark = pytest.mark.slow

FLOORS = {
    # suite: (recall@3, accuracy, fallback recall)
    "dev": (0.92, 0.70, 0.58),
    "heldout": (0.93, 0.54, 0.70),
}
_DIGIT_WORDS = {"0": "oh", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six", "7": "seven",
                "8": "eight", "9": "nine"}


@pytest.fixture(scope="module")
def reports() -> dict[str, Report]:
    embedder = MiniLMEmbedder()
    answerer = ExtractiveAnswerer(embedder)
    return {suite: evaluate(suite, embedder, answerer) for suite in FLOORS}


@pytest.mark.parametrize("suite", FLOORS)
def test_answers_are_at_least_as_good_as_measured(reports, suite):
    report = reports[suite]
    recall, accuracy, fallback_recall = FLOORS[suite]
    assert report.recall(3) >= recall
    assert report.accuracy >= accuracy
    assert report.fallback_recall >= fallback_recall


@pytest.mark.parametrize("suite", FLOORS)
def test_no_answer_says_a_word_the_documents_do_not_contain(reports, suite):
    assert reports[suite].fabricated == 0, [o.fabricated for o in reports[suite].outcomes if o.fabricated]


def test_every_number_in_an_answer_is_spoken_in_words_and_phone_numbers_digit_by_digit(reports):
    answers = [o.answer for report in reports.values() for o in report.outcomes if not o.fallback]
    with_numbers = [answer for answer in answers if re.search(r"\d", answer)]
    assert len(with_numbers) > 50
    for answer in with_numbers:
        spoken = normalise_for_speech(answer, "en-US")
        assert not re.search(r"[\d$€£%]", spoken), (answer, spoken)
        for match in phonenumbers.PhoneNumberMatcher(answer, "US"):
            national = str(match.number.national_number)
            digits = " ".join(_DIGIT_WORDS[digit] for digit in national[-4:])
            assert digits in spoken, (answer, spoken)
