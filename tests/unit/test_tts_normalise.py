"""Written text becomes what a person would say on the phone."""

import pytest

from services.tts.normalise import normalise_for_speech
from services.tts.speech import split_sentences


@pytest.mark.parametrize(
    "written,spoken",
    [
        ("We open at 9:00 am.", "We open at nine A M."),
        ("Open 10:00 am-4:00 pm on Sat.", "Open ten A M to four P M on Saturday"),
        ("Closing at 16:30, lunch at 12:05.", "Closing at sixteen thirty, lunch at twelve oh five."),
        ("Doors open at 10:00.", "Doors open at ten o'clock."),
        ("A tune-up costs $75.", "A tune-up costs seventy-five dollars."),
        ("It is $12.50 or €1,200.", "It is twelve dollars and fifty cents or one thousand two hundred euros."),
        ("$1 per hour", "one dollar per hour"),
        ("10% off your 1st visit & more", "ten percent off your first visit and more"),
        ("Since 2026, at 1200 Hawthorne Blvd., Portland 97214", "Since twenty twenty-six, at one thousand two hundred Hawthorne Boulevard, Portland nine seven two one four"),
        ("Call 9am to 5 p.m. e.g. today", "Call nine A M to five P M for example today"),
        ("Version 2.5", "Version two point five"),
    ],
)
def test_normalisation(written, spoken):
    assert normalise_for_speech(written) == spoken


def test_text_without_numbers_is_unchanged():
    assert normalise_for_speech("Thanks for calling, how can I help?") == "Thanks for calling, how can I help?"


def test_sentences_split_for_streaming():
    assert split_sentences("We open at nine. Parking is free! Anything else?") == [
        "We open at nine.",
        "Parking is free!",
        "Anything else?",
    ]
    assert split_sentences("It costs $12.50 today.") == ["It costs $12.50 today."]
