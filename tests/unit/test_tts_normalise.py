"""Written text becomes what a person would say on the phone.

Each table is the specification of one kind of number: the written form from
a business's documents, and exactly what the tts engine is sent.
"""

import random

import pytest

from services.common.sentences import split_sentences
from services.tts.normalise import normalise_for_speech, region_of


def says(*cases: tuple[str, str]):
    return pytest.mark.parametrize("written,spoken", cases)


@says(
    ("You can reach the front desk at 503-555-0142.", "You can reach the front desk at five oh three, five five five, oh one four two."),
    ("(503) 555-0142", "five oh three, five five five, oh one four two"),
    ("503.555.0142", "five oh three, five five five, oh one four two"),
    ("503 555 0142", "five oh three, five five five, oh one four two"),
    ("5035550142", "five oh three, five five five, oh one four two"),
    ("Call 503-555-0142 or 503.555.0199 today.", "Call five oh three, five five five, oh one four two or five oh three, five five five, oh one nine nine today."),
    # The country code of the org's own country is not said: callers dial the number as it is read.
    ("+1 503 555 0142", "five oh three, five five five, oh one four two"),
    ("+1 (503) 555-0142", "five oh three, five five five, oh one four two"),
    ("1-503-555-0142", "five oh three, five five five, oh one four two"),
    # Toll-free numbers are said with the 1 callers must dial, and "eight hundred" as people say it.
    ("1-800-555-0199", "one eight hundred, five five five, oh one nine nine"),
    ("(800) 555-0199", "one eight hundred, five five five, oh one nine nine"),
    ("+1 888 555 0123", "one eight eight eight, five five five, oh one two three"),
    # Foreign numbers keep "plus" and their country code, in their international groups.
    ("+44 20 7946 0958", "plus four four, two oh, seven nine four six, oh nine five eight"),
    ("+33 1 42 68 53 00", "plus three three, one, four two, six eight, five three, oh oh"),
    ("503-555-0142 ext. 12", "five oh three, five five five, oh one four two, extension one two"),
    ("In an emergency call 911.", "In an emergency call nine one one."),
)
def test_phone_numbers_are_read_digit_by_digit_in_their_groups(written, spoken):
    assert normalise_for_speech(written, "en-US") == spoken


@says(
    ("+44 20 7946 0958", "oh two oh, seven nine four six, oh nine five eight"),
    ("020 7946 0958", "oh two oh, seven nine four six, oh nine five eight"),
    ("0800 123 4567", "oh eight hundred, one two three, four five six seven"),
    ("+1 503 555 0142", "plus one, five oh three, five five five, oh one four two"),
)
def test_phone_numbers_are_domestic_or_foreign_from_the_orgs_region(written, spoken):
    assert normalise_for_speech(written, "en-GB") == spoken


@says(
    ("Order 5035550142 has shipped", "Order five oh three five five five oh one four two has shipped"),
    ("order 12345678901", "order one two three four five six seven eight nine oh one"),
    ("ZIP 97214-1234", "ZIP nine seven two one four, one two three four"),
    ("on 12/24/2026", "on December twenty-fourth, twenty twenty-six"),
    ("on 2026-12-24", "on December twenty-fourth, twenty twenty-six"),
    ("It costs $1,250.50", "It costs one thousand two hundred fifty dollars and fifty cents"),
    ("Revenue was $5,035,550,142", "Revenue was five billion thirty-five million five hundred fifty thousand one hundred forty-two dollars"),
    ("Years 2026 2027 2028", "Years twenty twenty-six twenty twenty-seven twenty twenty-eight"),
    ("Invoice 2024-0001234", "Invoice two oh two four, oh oh oh one two three four"),
    ("ISBN 978-3-16-148410-0", "ISBN nine seven eight, three, one six, one four eight four one oh, oh"),
    ("1,250,000 people", "one million two hundred fifty thousand people"),
)
def test_numbers_that_are_not_phone_numbers_are_not_read_as_phone_numbers(written, spoken):
    assert normalise_for_speech(written, "en-US") == spoken


@says(
    ("12/24/2026", "December twenty-fourth, twenty twenty-six"),
    ("12/24/26", "December twenty-fourth, twenty twenty-six"),
    ("2026-12-24", "December twenty-fourth, twenty twenty-six"),
    ("Dec 24", "December twenty-fourth"),
    ("Dec. 24", "December twenty-fourth"),
    ("December 24, 2026", "December twenty-fourth, twenty twenty-six"),
    ("24 December", "December twenty-fourth"),
    ("24th of December 2026", "December twenty-fourth, twenty twenty-six"),
    ("Independence Day (July 4)", "Independence Day (July fourth)"),
    ("Closed Dec 24-26.", "Closed December twenty-fourth to twenty-sixth."),
    ("We close 24 Dec.", "We close December twenty-fourth."),
    ("closed 7/4", "closed July fourth"),
    ("in 2026", "in twenty twenty-six"),
    ("since 1999", "since nineteen ninety-nine"),
    ("in 2005", "in two thousand five"),
    ("in the 1990s", "in the nineteen nineties"),
    ("from 2024-2026", "from twenty twenty-four to twenty twenty-six"),
)
def test_dates_and_years(written, spoken):
    assert normalise_for_speech(written, "en-US") == spoken


@says(
    ("24/12/2026", "the twenty-fourth of December, twenty twenty-six"),
    ("12/11/2026", "the twelfth of November, twenty twenty-six"),
    ("December 24", "the twenty-fourth of December"),
    ("24-26 December", "the twenty-fourth to the twenty-sixth of December"),
    ("in 2005", "in two thousand and five"),
)
def test_dates_are_read_day_first_where_the_region_writes_them_so(written, spoken):
    assert normalise_for_speech(written, "en-GB") == spoken


@says(
    ("We open at 9:00 am.", "We open at nine A M."),
    ("9:30 a.m.", "nine thirty A M."),
    ("It was 5 p.m. and then", "It was five P M and then"),
    ("Open 9am-5pm", "Open nine A M to five P M"),
    ("9:00 am – 6:00 pm", "nine A M to six P M"),
    ("Open 10:00 am-4:00 pm on Sat.", "Open ten A M to four P M on Saturday."),
    ("Call 9am to 5 p.m. e.g. today", "Call nine A M to five P M for example today"),
    ("9-5pm", "nine A M to five P M"),
    ("1-3pm", "one to three P M"),
    ("Doors open at 10:00.", "Doors open at ten o'clock."),
    ("Lunch at 12:05.", "Lunch at twelve oh five."),
    ("Closing at 17:00", "Closing at five P M"),
    ("Closing at 16:30", "Closing at four thirty P M"),
    ("Open 9:00-17:00", "Open nine A M to five P M"),
    ("Back at noon, 12:00 pm", "Back at noon, noon"),
    ("Open Mon-Fri 9-5, Sat 10-4.", "Open Monday to Friday nine to five, Saturday ten to four."),
    ("Mon.–Fri.: 8:30am–6pm", "Monday to Friday: eight thirty A M to six P M"),
)
def test_times(written, spoken):
    assert normalise_for_speech(written, "en-US") == spoken


@says(
    ("A tune-up costs $75.", "A tune-up costs seventy-five dollars."),
    ("$40", "forty dollars"),
    ("$1", "one dollar"),
    ("$1,250.50", "one thousand two hundred fifty dollars and fifty cents"),
    ("$0.99", "ninety-nine cents"),
    ("$12.50 or €1,200", "twelve dollars and fifty cents or one thousand two hundred euros"),
    ("€15", "fifteen euros"),
    ("£3.50", "three pounds and fifty pence"),
    ("$40/day", "forty dollars per day"),
    ("$75/hr", "seventy-five dollars per hour"),
    ("$40-$60", "forty to sixty dollars"),
    ("$40-60", "forty to sixty dollars"),
    ("$12.50-$15", "twelve dollars and fifty cents to fifteen dollars"),
    ("$1.5 million", "one point five million dollars"),
    ("USD 20", "twenty dollars"),
    ("20 USD", "twenty dollars"),
    ("99¢", "ninety-nine cents"),
)
def test_prices(written, spoken):
    assert normalise_for_speech(written, "en-US") == spoken


@says(
    ("2.5%", "two point five percent"),
    ("10% off your 1st visit & more", "ten percent off your first visit and more"),
    ("10-20% off", "ten to twenty percent off"),
    ("3rd", "third"),
    ("21st", "twenty-first"),
    ("5 DVDs", "five DVDs"),
    ("1,000", "one thousand"),
    ("3.5", "three point five"),
    ("Version 2.5.1", "Version two point five point one"),
    ("105 bikes", "one hundred five bikes"),
    ("1500 riders", "fifteen hundred riders"),
    ("5-7 days", "five to seven days"),
    ("18+ only", "eighteen plus only"),
    ("24/7 support at 1/2 price", "twenty-four seven support at one half price"),
    ("No. 5 is open. No. We close", "number five is open. No. We close"),
)
def test_percentages_ordinals_and_plain_numbers(written, spoken):
    assert normalise_for_speech(written, "en-US") == spoken


@says(
    ("105 bikes", "one hundred and five bikes"),
    ("1,250 people", "one thousand two hundred and fifty people"),
)
def test_british_numbers_keep_their_and(written, spoken):
    assert normalise_for_speech(written, "en-GB") == spoken


@says(
    ("1200 SE Hawthorne Blvd", "twelve hundred South East Hawthorne Boulevard"),
    ("1234 Main St.", "twelve thirty-four Main Street."),
    ("Visit 1234 Main St. today", "Visit twelve thirty-four Main Street today"),
    ("15 Oak Dr. is ours", "fifteen Oak Drive is ours"),
    ("Ask Dr. Patel", "Ask Doctor Patel"),
    ("105 Elm Ave", "one oh five Elm Avenue"),
    ("123A Elm Ave", "one twenty-three A Elm Avenue"),
    ("500 N Main St NE", "five hundred North Main Street North East"),
    ("1005 NW 23rd Ave", "ten oh five North West twenty-third Avenue"),
    ("2000 Pine Ln", "two thousand Pine Lane"),
    ("Suite 200", "Suite two hundred"),
    ("Ste. 210", "Suite two ten"),
    ("Apt 4B", "Apartment four B"),
    ("on Hawthorne Blvd", "on Hawthorne Boulevard"),
    ("St. Johns Bridge", "Saint Johns Bridge"),
    ("Hwy 26 or I-405", "Highway twenty-six or I four oh five"),
    (
        "1200 SE Hawthorne Blvd, Suite 200, Portland, OR 97214",
        "twelve hundred South East Hawthorne Boulevard, Suite two hundred, Portland, Oregon nine seven two one four",
    ),
)
def test_street_addresses(written, spoken):
    assert normalise_for_speech(written, "en-US") == spoken


@says(
    ("97214", "nine seven two one four"),
    ("97214-1234", "nine seven two one four, one two three four"),
    ("order 12345", "order one two three four five"),
    ("Order #12345 shipped", "Order number one two three four five shipped"),
    ("#A1234", "number A one two three four"),
    ("code E4021", "code E four oh two one"),
    ("Ticket: 987654", "Ticket: nine eight seven six five four"),
    ("confirmation number AB12CD", "confirmation number A B one two C D"),
    ("Reference REF-2026-0042", "Reference R E F, two oh two six, oh oh four two"),
    ("account number 1234 5678", "account number one two three four, five six seven eight"),
    ("call 555-0142", "call five five five, oh one four two"),
    ("E4021 and MP3", "E four oh two one and M P three"),
    ("007", "oh oh seven"),
    # Quantities after the same words are still quantities.
    ("order 10 bikes", "order ten bikes"),
    ("Return policy: 30 days", "Return policy: thirty days"),
)
def test_codes_and_identifiers_are_read_digit_by_digit(written, spoken):
    assert normalise_for_speech(written, "en-US") == spoken


@says(
    ("5 km", "five kilometers"),
    ("1 mi", "one mile"),
    ("2.5 mi", "two point five miles"),
    ("60 mph", "sixty miles per hour"),
    ("20 lbs", "twenty pounds"),
    ("5 kg", "five kilograms"),
    ("30 min.", "thirty minutes."),
    ("2 hrs", "two hours"),
    ("a 5-min walk", "a five-minute walk"),
    ("5-7 km", "five to seven kilometers"),
    ("75°F", "seventy-five degrees Fahrenheit"),
)
def test_units(written, spoken):
    assert normalise_for_speech(written, "en-US") == spoken


def test_text_without_numbers_is_unchanged():
    assert normalise_for_speech("Thanks for calling, how can I help?") == "Thanks for calling, how can I help?"


def test_the_default_region_is_the_united_states():
    assert normalise_for_speech("12/11/2026") == "December eleventh, twenty twenty-six"
    assert [region_of(tag) for tag in ("en-US", "en-GB", "en_gb", "en", "", "es-419")] == ["US", "GB", "GB", "US", "US", "US"]


@pytest.mark.timeout(30)
def test_a_megabyte_of_digits_dashes_dots_and_slashes_does_not_hang():
    rng = random.Random(7)
    for characters in ("0123456789-./ ", "0123456789-./"):
        text = "".join(rng.choice(characters) for _ in range(1_000_000))
        spoken = normalise_for_speech(text)
        assert spoken and not any(character.isdigit() for character in spoken)


def test_sentences_split_for_streaming():
    assert split_sentences("We open at nine. Parking is free! Anything else?") == [
        "We open at nine.",
        "Parking is free!",
        "Anything else?",
    ]
    assert split_sentences("It costs $12.50 today.") == ["It costs $12.50 today."]
