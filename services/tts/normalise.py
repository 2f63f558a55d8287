"""Rewriting written text into what a person would say on the phone.

Answers come from documents ("call 503-555-0142, open 9:00 am-6:00 pm, $75,
1200 SE Hawthorne Blvd"); read literally, an engine says "five hundred and
three to five hundred and fifty-five" or "dollar seventy-five". Every backend
gets the same spoken form, so Piper and Polly say the same thing.

The rewrite is a fixed sequence of passes, most specific first: dates and
identifiers ("order 12345"), then phone numbers, then times, money,
measurements and addresses, then plain numbers, then words. Each pass turns its digits into words, so a later
pass never sees them again. The org's region (from its language tag) decides
which phone numbers are domestic and whether 12/11/2026 is December or
November.

Every pattern runs in linear time on hostile input: repetitions are bounded and
each number pattern is anchored so it cannot restart inside a run of digits.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from functools import lru_cache

import phonenumbers
from num2words import num2words

DEFAULT_REGION = "US"
# Regions that write 12/24/2026 month first and say "December twenty-fourth" (no "and" inside numbers).
_MONTH_FIRST_REGIONS = frozenset({"US", "CA", "PH", "PR", "GU", "VI", "AS", "MP"})

_DIGIT_WORDS = ("oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_DECIMAL_WORDS = ("zero", *_DIGIT_WORDS[1:])
_MONTHS = list(calendar.month_name)[1:]
_MONTH_NUMBERS = {name: number for number, name in enumerate(_MONTHS, start=1)}
_MONTH_NUMBERS |= {name[:3]: number for name, number in list(_MONTH_NUMBERS.items())} | {"Sept": 9}
_MONTH = "(" + "|".join(sorted(_MONTH_NUMBERS, key=len, reverse=True)) + ")"
_DAYS = {day[:3]: day for day in calendar.day_name} | {"Tues": "Tuesday", "Thur": "Thursday", "Thurs": "Thursday"}
_DAY = "(" + "|".join(sorted([*_DAYS, *calendar.day_name], key=len, reverse=True)) + ")"
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
}
_CURRENCY_CODES = {"USD": "$", "EUR": "€", "GBP": "£", "€": "€", "£": "£"}
_SCALES = {"thousand": "thousand", "k": "thousand", "K": "thousand", "million": "million", "m": "million", "M": "million",
           "billion": "billion", "bn": "billion"}
_PER = {"hr": "hour", "h": "hour", "wk": "week", "mo": "month", "yr": "year", "pp": "person", "ea": "each"}
# Abbreviation -> (singular, plural).
_UNITS = {
    "km/h": ("kilometer per hour", "kilometers per hour"), "kph": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"), "MPH": ("mile per hour", "miles per hour"),
    "km": ("kilometer", "kilometers"), "mi": ("mile", "miles"), "ft": ("foot", "feet"), "sq ft": ("square foot", "square feet"),
    "cm": ("centimeter", "centimeters"), "mm": ("millimeter", "millimeters"),
    "kg": ("kilogram", "kilograms"), "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "ml": ("milliliter", "milliliters"), "mL": ("milliliter", "milliliters"), "gal": ("gallon", "gallons"),
    "min": ("minute", "minutes"), "mins": ("minute", "minutes"), "hr": ("hour", "hours"), "hrs": ("hour", "hours"),
    "sec": ("second", "seconds"), "secs": ("second", "seconds"),
    "kWh": ("kilowatt hour", "kilowatt hours"), "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°C": ("degree Celsius", "degrees Celsius"), "°": ("degree", "degrees"),
}
_STREET_TYPES = {
    "St": "Street", "Ave": "Avenue", "Av": "Avenue", "Blvd": "Boulevard", "Rd": "Road", "Ln": "Lane", "Dr": "Drive",
    "Hwy": "Highway", "Ct": "Court", "Pl": "Place", "Pkwy": "Parkway", "Ter": "Terrace", "Cir": "Circle", "Sq": "Square",
    "Trl": "Trail", "Plz": "Plaza", "Fwy": "Freeway", "Expy": "Expressway",
}
_STREET_WORDS = sorted({*_STREET_TYPES, *_STREET_TYPES.values(), "Way"}, key=len, reverse=True)
_DIRECTIONS = {"N": "North", "S": "South", "E": "East", "W": "West",
               "NE": "North East", "NW": "North West", "SE": "South East", "SW": "South West"}
_UNITS_IN_ADDRESSES = {"Suite": "Suite", "Ste": "Suite", "Apt": "Apartment", "Unit": "Unit", "Bldg": "Building",
                       "Building": "Building", "Apartment": "Apartment", "Fl": "Floor", "Floor": "Floor", "Rm": "Room", "Room": "Room"}
_STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California", "CO": "Colorado",
    "CT": "Connecticut", "DE": "Delaware", "DC": "D C", "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho",
    "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine",
    "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri",
    "MT": "Montana", "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico",
    "NY": "New York", "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
    "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee",
    "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington", "WV": "West Virginia",
    "WI": "Wisconsin", "WY": "Wyoming",
}
_FRACTIONS = {(1, 2): "one half", (1, 3): "one third", (2, 3): "two thirds", (1, 4): "one quarter", (3, 4): "three quarters"}
# Capitalised words before "Dr."/"St." that make it a title ("Ask Dr. Lee"), not a street ("Oak Dr.").
_NOT_STREET_NAMES = frozenset({"The", "A", "An", "Our", "Your", "My", "His", "Her", "Their", "This", "That", "Ask", "Call",
                               "See", "Visit", "Contact", "Email", "With", "By", "And", "Or", "Dear", "Hi", "Hello"})
_ABBREVIATIONS = {
    "Mr.": "Mister", "Mrs.": "Missus", "Ms.": "Miz", "Prof.": "Professor", "Mt.": "Mount",
    "e.g.": "for example", "i.e.": "that is", "etc.": "et cetera", "approx.": "approximately", "vs.": "versus",
    "hrs": "hours", "mins": "minutes",
}


def _alternatives(words) -> str:
    return "(" + "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True)) + ")"


# A whole number with optional thousands commas, then an optional decimal part; callers anchor it.
_INT = r"(\d{1,3}(?:,\d{3}){1,4}|\d{1,12})"
_NUM = _INT + r"(?:\.(\d{1,6}))?"
_MONEY_NUM = _INT + r"(?:\.(\d{1,2}))?"
_NUM_END = r"(?!\d|,\d{3}|\.\d)"
_TO = r"\s{0,3}(?:[-–]|to)\s{0,3}"
_ORDINAL_SUFFIX = r"(?:st|nd|rd|th)?"
_KEEP_DOT = r"(\.)?"

_PHONE_TRIES_CAP = 4096
_ANY_DIGIT = re.compile(r"\d")
# Cheap test for seven digits close together, so most answers never reach the phone number matcher.
_PHONE_CANDIDATE = re.compile(r"\d(?:[\s().+/-]{0,3}\d){6}")
_ADDRESS_UNIT = re.compile(rf"\b{_alternatives(_UNITS_IN_ADDRESSES)}(?:\.|\b)\s{{0,2}}#?\s{{0,2}}(\d{{1,5}}[A-Z]?|[A-Z]\d{{0,4}})(?![\w-])")
# "Call 911" is nine one one, not nine hundred eleven.
_SHORT_DIALLED = re.compile(r"\b((?:[Cc]all|[Dd]ial|[Rr]ing|[Tt]ext)\s{1,2})(\d{3})(?![\w-])")
_NUMBER_SIGN = re.compile(r"\bNo\.\s{0,2}#?\s{0,2}(?=\d)")
_IDENTIFIER = re.compile(
    r"\b(order|ticket|reference|ref|confirmation|invoice|account|acct|booking|reservation|tracking|case|claim|policy"
    r"|membership|member|customer|transaction|serial|code|pin|voucher|receipt)"
    r"((?:\s{1,2}(?:number|no\.|num\.|code|id|ID))?\s{0,2}(?:[:#]\s{0,2})?|\s{1,2})"
    r"(?=[A-Za-z-]{0,30}\d)([A-Za-z0-9][A-Za-z0-9-]{0,30}(?:\s\d{3,8}){0,4})(?![\w-])",
    re.IGNORECASE,
)
_HASH_IDENTIFIER = re.compile(r"(?<![\w&])#\s?(?=[A-Za-z-]{0,30}\d)([A-Za-z0-9][A-Za-z0-9-]{0,30})(?![\w-])")
_STATE_BEFORE_ZIP = re.compile(rf"\b{_alternatives(_STATES)}\s{{1,2}}(?=\d{{5}}(?:-\d{{4}})?(?![\d-]))")
_ISO_DATE = re.compile(r"(?<![\w.,/:-])(\d{4})-(\d{2})-(\d{2})(?![\w-]|[.,/]\d)")
_NUMERIC_DATE = re.compile(r"(?<![\w.,/:-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\w/-]|[.,]\d)")
_MONTH_DAY = re.compile(
    rf"\b{_MONTH}(?![a-z])\.?\s{{1,2}}(\d{{1,2}}){_ORDINAL_SUFFIX}(?:\s{{0,2}}[-–]\s{{0,2}}(\d{{1,2}}){_ORDINAL_SUFFIX})?"
    r"(?:,?\s{1,2}(\d{4}))?(?![\w:]|[.,]\d)"
)
_DAY_MONTH = re.compile(
    rf"(?<![\w.,/:$€£-])(\d{{1,2}}){_ORDINAL_SUFFIX}(?:\s{{0,2}}[-–]\s{{0,2}}(\d{{1,2}}){_ORDINAL_SUFFIX})?\s{{1,2}}(?:of\s{{1,2}})?"
    rf"{_MONTH}(?![a-z]){_KEEP_DOT}(?:,?\s{{1,2}}(\d{{4}}))?(?![\w:]|[.,]\d)"
)
_CLOCK = r"(\d{1,2})(?:([:.])([0-5]\d))?(?:\s{0,2}([AaPp])\.?\s?[Mm](?![\w])(\.)?)?"
_TIME = re.compile(
    rf"(?<![\w:.,/$€£#-]){_CLOCK}(?:\s{{0,3}}(?:[-–]|to|until|till)\s{{0,3}}{_CLOCK})?(?![\w:]|[.,]\d)"
)
_CODE_BEFORE_AMOUNT = re.compile(r"\b(USD|EUR|GBP)\s?(?=\d)")
_SYMBOL_AFTER_AMOUNT = re.compile(rf"(?<![\w.,]){_INT}(\.\d{{1,2}})?\s?(USD|EUR|GBP|€|£)(?![\w])")
_MONEY = re.compile(
    rf"(?<![\w.,])([$€£])\s?{_MONEY_NUM}(?:\s?(million|billion|thousand|bn|[kKmM])(?![\w]))?{_NUM_END}"
    rf"(?:{_TO}\1?\s?{_MONEY_NUM}(?:\s?(million|billion|thousand|bn|[kKmM])(?![\w]))?{_NUM_END})?"
    r"(?:\s{0,2}/\s{0,2}([A-Za-z]{1,10})(?![\w]))?"
)
_CENTS = re.compile(r"(?<![\w.,])(\d{1,2})\s?¢")
_PERCENT = re.compile(rf"(?<![\w.,]){_NUM}{_NUM_END}(?:{_TO}{_NUM}{_NUM_END})?\s?%")
_MEASURE = re.compile(rf"(?<![\w.,]){_NUM}{_NUM_END}(?:{_TO}{_NUM}{_NUM_END})?(\s?|-){_alternatives(_UNITS)}(?![\w/]){_KEEP_DOT}")
_DIRECTION = _alternatives(_DIRECTIONS)
_ADDRESS = re.compile(
    rf"(?<![\w.,$€£:/-])(\d{{1,5}})([A-Z]?)\s{{1,2}}(?:{_DIRECTION}\.?\s{{1,2}})?"
    rf"((?:(?:[A-Z][A-Za-z'-]{{0,20}}|\d{{1,3}}(?:st|nd|rd|th))\s{{1,2}}){{1,4}}){_alternatives(_STREET_WORDS)}(?![\w])"
    rf"{_KEEP_DOT}(?:\s{{1,2}}{_DIRECTION}(?![\w]){_KEEP_DOT})?"
)
_ROUTE = re.compile(r"\b(Hwy|Highway|Route|Rte|Interstate|I|US|SR)(?:-|\s{1,2})(\d{1,3})(?![\w-])")
_ORDINAL = re.compile(r"(?<![\w.,])(\d{1,9})(st|nd|rd|th)(?![\w])", re.IGNORECASE)
_DECADE = re.compile(r"(?<![\w.,])'?(\d{2}|\d{4})'?s(?![\w])")
_SLASHED = re.compile(r"(?<![\w./-])(\d{1,2})/(\d{1,2})(?![\w/]|[.,]\d)")
_DASHED = re.compile(r"(?<![\w.,:/-])(\d{1,8}(?:-\d{1,8}){1,7})(?![\w-]|[.,/]\d)")
_MIXED_TOKEN = re.compile(r"(?<![\w'-])(?=[A-Za-z0-9]{0,23}[A-Za-z])(?=[A-Za-z0-9]{0,23}\d)[A-Za-z0-9]{2,24}(?![\w'-])")
_PLAIN_NUMBER = re.compile(rf"(?<![\w.,])(?<!\d/){_NUM}(\+)?(?![\w]|[.,/]\d)")
_BETWEEN_DIGITS = re.compile(r"(?<=\d)([./-])(?=\d)")
_LEFTOVER_DIGITS = re.compile(r"\d{1,15}")
_DAY_RANGE = re.compile(rf"\b{_DAY}\.?\s{{0,2}}(?:[-–]|to|through|thru)\s{{0,2}}{_DAY}\b{_KEEP_DOT}")
_SHORT_DAY = re.compile(rf"\b{_alternatives(_DAYS)}(?:(\.)|(?=:|\s{{0,2}}\d))")
_SHORT_MONTH = re.compile(rf"\b{_MONTH}\.")
_STREET_AFTER_NAME = re.compile(rf"\b([A-Z][A-Za-z'-]{{0,20}}\.?\s{{1,2}}){_alternatives(_STREET_TYPES)}\b{_KEEP_DOT}")
_SAINT_OR_DOCTOR = re.compile(r"\b(St|Dr)\b(\.?)")
_CAPITALISED_NEXT = re.compile(r"\s{1,2}[A-Z][a-z]")
_DIRECTION_IN_ADDRESS = re.compile(
    rf"\b(Street|Avenue|Boulevard|Road|Lane|Drive|Highway|Court|Place|Parkway|Way)\s{{1,2}}{_DIRECTION}(?![\w]){_KEEP_DOT}"
    rf"|\b(NE|NW|SE|SW)\b(?=\.?\s{{1,2}}[A-Z0-9])\.?"
)
_ABBREVIATION = re.compile(r"(?<![\w.])" + _alternatives(_ABBREVIATIONS) + r"(?![\w])")
_SPACED_DASH = re.compile(r"\s[–—]\s|—")
_WORD_DASH = re.compile(r"(?<=\w)–(?=\w)")
_WHITESPACE = re.compile(r"\s+")
_TYPOGRAPHY = str.maketrans({"\u00a0": " ", "\u2007": " ", "\u2009": " ", "\u202f": " ", "\u2010": "-", "\u2011": "-",
                             "\u2012": "-", "\u2212": "-"})


# Control characters (C0 and C1, except the whitespace ones) cannot be spoken, and a NUL cannot even be passed to
# the engines (espeak-ng takes the text as an argument, Piper through a C string): each becomes a space.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def speakable(text: str) -> str:
    """`text` without the characters no voice can say."""
    return _CONTROL.sub(" ", text)


def region_of(language: str) -> str:
    """The region of a BCP 47 tag ("en-GB" -> "GB"); US when the tag names none that phone numbers know."""
    for part in re.split(r"[-_]", language or "")[1:]:
        if len(part) == 2 and part.upper() in phonenumbers.SUPPORTED_REGIONS:
            return part.upper()
    return DEFAULT_REGION


def normalise_for_speech(text: str, language: str = "") -> str:
    return _speech_for(region_of(language)).normalise(text)


@lru_cache(maxsize=64)
def _speech_for(region: str) -> _Speech:
    return _Speech(region)


def _digits(digits: str) -> str:
    return " ".join(_DIGIT_WORDS[int(d)] for d in digits)


def _spell(token: str) -> str:
    """An identifier read out: letters one by one, digits one by one, a pause at each dash."""
    groups = []
    for group in re.split(r"[\s-]", token.upper()):
        groups.append(" ".join(_digits(run) if run.isdigit() else " ".join(run) for run in re.findall(r"[A-Z]+|\d+", group)))
    return ", ".join(group for group in groups if group)


def _sentence_dot(match: re.Match[str], group: int) -> str:
    """An abbreviation's dot that was also the sentence's full stop stays a full stop."""
    if not match.group(group):
        return ""
    rest = match.string[match.end() : match.end() + 4]
    return "." if not rest.strip() or (rest[0].isspace() and rest.lstrip()[:1].isupper()) else ""


def _plural(word: str) -> str:
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


# A pattern and what each of its matches is said as.
_Pass = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]


class _Speech:
    """How numbers are said in one region."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.month_first = region in _MONTH_FIRST_REGIONS
        self.country_code = phonenumbers.country_code_for_region(region)
        # First, while "Sat 10-4" still has its digits.
        self.days: list[_Pass] = [
            (_DAY_RANGE, lambda m: f"{_DAYS.get(m.group(1), m.group(1))} to {_DAYS.get(m.group(2), m.group(2))}{_sentence_dot(m, 3)}"),
            (_SHORT_DAY, lambda m: _DAYS[m.group(1)] + _sentence_dot(m, 2)),
        ]
        # Before phone numbers: dates, and numbers that context says are not phone numbers.
        self.before_phones: list[_Pass] = [
            (_ISO_DATE, self._iso_date),
            (_NUMERIC_DATE, self._numeric_date),
            (_DAY_MONTH, self._day_month),
            (_MONTH_DAY, self._month_day),
            (_ADDRESS_UNIT, self._address_unit),
            (_NUMBER_SIGN, lambda m: "number "),
            (_SHORT_DIALLED, lambda m: m.group(1) + _digits(m.group(2))),
            (_IDENTIFIER, self._identifier),
            (_HASH_IDENTIFIER, lambda m: f"number {_spell(m.group(1))}"),
        ]
        self.after_phones: list[_Pass] = [
            (_STATE_BEFORE_ZIP, lambda m: f"{_STATES[m.group(1)]} "),
            (_CODE_BEFORE_AMOUNT, lambda m: _CURRENCY_CODES[m.group(1)]),
            (_SYMBOL_AFTER_AMOUNT, lambda m: f"{_CURRENCY_CODES[m.group(3)]}{m.group(1)}{m.group(2) or ''}"),
            (_TIME, self._time),
            (_MONEY, self._money),
            (_CENTS, lambda m: f"{self.cardinal(int(m.group(1)))} {'cent' if m.group(1) == '1' else 'cents'}"),
            (_PERCENT, self._percent),
            (_MEASURE, self._measure),
            (_ADDRESS, self._address),
            (_ROUTE, self._route),
            (_ORDINAL, lambda m: self.ordinal(int(m.group(1)))),
            (_DECADE, self._decade),
            (_SLASHED, self._slashed),
            (_DASHED, self._dashed),
            (_MIXED_TOKEN, self._mixed_token),
            (_PLAIN_NUMBER, self._plain_number),
            (_BETWEEN_DIGITS, lambda m: {".": " point ", "/": " slash ", "-": " "}[m.group(1)]),
            (_LEFTOVER_DIGITS, lambda m: f" {self._number_or_digits(m.group(0))} "),
        ]
        self.words: list[_Pass] = [
            (_SHORT_MONTH, lambda m: _MONTHS[_MONTH_NUMBERS[m.group(1)] - 1] + _sentence_dot(m, 0)),
            (_STREET_AFTER_NAME, self._street_after_name),
            (_SAINT_OR_DOCTOR, self._saint_or_doctor),
            (_DIRECTION_IN_ADDRESS, self._direction),
            (_ABBREVIATION, lambda m: _ABBREVIATIONS[m.group(1)]),
        ]

    # Numbers as words.

    def cardinal(self, number: int) -> str:
        return _cardinal(number, self.month_first)

    def ordinal(self, number: int) -> str:
        return _ordinal(number, self.month_first)

    def year(self, year: int) -> str:
        words = num2words(year, to="year").replace("oh-", "oh ")
        return _american(words) if self.month_first else words

    def number(self, integer: str, fraction: str | None = None) -> str:
        words = self.cardinal(int(integer.replace(",", "")))
        return f"{words} point {' '.join(_DECIMAL_WORDS[int(d)] for d in fraction)}" if fraction else words

    def _number_or_digits(self, digits: str) -> str:
        return self.cardinal(int(digits)) if len(digits) <= 4 and (digits == "0" or digits[0] != "0") else _digits(digits)

    def _house_number(self, digits: str) -> str:
        """1234 -> twelve thirty-four, 1200 -> twelve hundred, 105 -> one oh five, as addresses are read."""
        if len(digits) <= 2 or digits[0] == "0":
            return self._number_or_digits(digits)
        if int(digits) % 1000 == 0:
            return self.cardinal(int(digits))
        head, tail = digits[:-2], digits[-2:]
        head_words = self._house_number(head) if len(head) > 2 else self.cardinal(int(head))
        if tail == "00":
            return f"{head_words} hundred"
        return f"{head_words} oh {_DIGIT_WORDS[int(tail[1])]}" if tail[0] == "0" else f"{head_words} {self.cardinal(int(tail))}"

    # Passes.

    def normalise(self, text: str) -> str:
        text = self._apply(self.days, speakable(text).translate(_TYPOGRAPHY))
        if _ANY_DIGIT.search(text):
            text = self._apply(self.before_phones, text)
            text = self._phone_numbers(text)
            text = self._apply(self.after_phones, text)
        text = self._apply(self.words, text)
        text = text.replace("&", " and ")
        text = _SPACED_DASH.sub(", ", text)
        text = _WORD_DASH.sub(" to ", text)
        text = _WHITESPACE.sub(" ", text).strip()
        return text.replace(" ,", ",").replace(" .", ".")

    @staticmethod
    def _apply(passes: list[_Pass], text: str) -> str:
        for pattern, spoken in passes:
            text = pattern.sub(spoken, text)
        return text

    def _phone_numbers(self, text: str) -> str:
        if not _PHONE_CANDIDATE.search(text):
            return text
        pieces, last = [], 0
        # The matcher costs most on dense digit junk: bound the candidates it rejects (a dense 3,000-character answer
        # rejects about 250). Past the bound, numbers still read digit by digit in their groups.
        budget = min(_PHONE_TRIES_CAP, 256 + len(text) // 8)
        for match in phonenumbers.PhoneNumberMatcher(text, self.region, leniency=phonenumbers.Leniency.VALID, max_tries=budget):
            pieces += [text[last : match.start], self._phone_number(match.number)]
            last = match.end
        return "".join([*pieces, text[last:]])

    def _phone_number(self, number: phonenumbers.PhoneNumber) -> str:
        """Digit by digit in the number's own groups: national when domestic, with "plus" and the country code when not."""
        bare = phonenumbers.PhoneNumber()
        bare.merge_from(number)
        bare.extension = None
        domestic = number.country_code == self.country_code
        style = phonenumbers.PhoneNumberFormat.NATIONAL if domestic else phonenumbers.PhoneNumberFormat.INTERNATIONAL
        groups = re.findall(r"\d{1,20}", phonenumbers.format_number(bare, style))
        toll_free = phonenumbers.number_type(bare) == phonenumbers.PhoneNumberType.TOLL_FREE
        spoken = [_digits(group) for group in groups]
        if not domestic:
            spoken[0] = f"plus {spoken[0]}"
        elif toll_free:
            # Said as people say it: "one eight hundred", "oh eight hundred"; North American callers must dial the 1.
            spoken = ["eight hundred" if group == "800" else "oh eight hundred" if group == "0800" else words
                      for group, words in zip(groups, spoken)]
            if number.country_code == 1:
                spoken[0] = f"one {spoken[0]}"
        if number.extension:
            spoken.append(f"extension {_digits(number.extension)}")
        return ", ".join(spoken)

    def _address_unit(self, match: re.Match[str]) -> str:
        number = match.group(2)
        if number.isdigit():
            return f"{_UNITS_IN_ADDRESSES[match.group(1)]} {self._house_number(number)}"
        head = re.match(r"\d{0,5}", number).group(0)
        rest = number[len(head) :]
        words = " ".join(part for part in (self._house_number(head) if head else "", _spell(rest)) if part)
        return f"{_UNITS_IN_ADDRESSES[match.group(1)]} {words}"

    def _identifier(self, match: re.Match[str]) -> str:
        keyword, marker, token = match.groups()
        explicit = marker.strip(" :") != ""
        if not explicit and len(token) < 4 and token.isdigit():
            # "order 10 bikes": a quantity, not an order number.
            return match.group(0)
        marker = marker.replace("#", " number ")
        return f"{keyword}{marker} {_spell(token)}"

    def _date(self, month: int, day: int, year: str | None = None, last_day: str | None = None) -> str | None:
        year_number = None if year is None else int(year) + (2000 if len(year) == 2 else 0)
        if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year_number or 2024, month)[1]:
            return None
        last = None if last_day is None else int(last_day)
        if last is not None and not day < last <= 31:
            return None
        name = _MONTHS[month - 1]
        if self.month_first:
            spoken = f"{name} {self.ordinal(day)}" + (f" to {self.ordinal(last)}" if last else "")
        else:
            spoken = f"the {self.ordinal(day)}" + (f" to the {self.ordinal(last)}" if last else "") + f" of {name}"
        return spoken + (f", {self.year(year_number)}" if year_number else "")

    def _iso_date(self, match: re.Match[str]) -> str:
        return self._date(int(match.group(2)), int(match.group(3)), match.group(1)) or match.group(0)

    def _numeric_date(self, match: re.Match[str]) -> str:
        first, separator, second, year = match.groups()
        if separator != "/" and len(year) == 2:
            return match.group(0)
        month, day = (int(first), int(second)) if self.month_first else (int(second), int(first))
        return self._date(month, day, year) or match.group(0)

    def _month_day(self, match: re.Match[str]) -> str:
        month, day, last, year = match.groups()
        return self._date(_MONTH_NUMBERS[month], int(day), year, last) or match.group(0)

    def _day_month(self, match: re.Match[str]) -> str:
        day, last, month, dot, year = match.groups()
        spoken = self._date(_MONTH_NUMBERS[month], int(day), year, last)
        return spoken + (_sentence_dot(match, 4) if year is None else "") if spoken else match.group(0)

    def _time(self, match: re.Match[str]) -> str:
        groups = match.groups()
        clocks = [groups[:5], groups[5:]] if groups[5] else [groups[:5]]
        # A time has minutes after a colon or says am/pm: "3.50" alone is a decimal, "5 to 7" a range of numbers.
        if not any(clock[1] == ":" or clock[3] for clock in clocks) or any(clock[1] == "." and not clock[3] for clock in clocks):
            return match.group(0)
        if any(int(clock[0]) > 24 or (clock[3] and not 1 <= int(clock[0]) <= 12) for clock in clocks):
            return match.group(0)
        dot = _sentence_dot(match, 5 * len(clocks))
        if len(clocks) == 1:
            return self._clock(clocks[0], twenty_four=_is_twenty_four_hour(clocks[0])) + dot
        first, second = clocks
        if any(_is_twenty_four_hour(clock) for clock in clocks):
            return f"{self._clock(first, twenty_four=True)} to {self._clock(second, twenty_four=True)}{dot}"
        if bool(first[3]) != bool(second[3]):
            # "9-5pm" is nine in the morning, "1-3pm" one in the afternoon: say am/pm once when both share it.
            written = (first[3] or second[3]).lower()
            first_hour, second_hour = int(first[0]) % 12, int(second[0]) % 12
            same_half = first_hour < second_hour
            implied = written if same_half else "a" if written == "p" else "p"
            if not first[3]:
                first_words = self._clock(first, bare=True) if same_half else self._clock(first, implied)
                return f"{first_words} to {self._clock(second)}{dot}"
            return f"{self._clock(first)} to {self._clock(second, implied)}{dot}"
        return f"{self._clock(first)} to {self._clock(second)}{dot}"

    def _clock(self, clock: tuple, implied: str = "", twenty_four: bool = False, bare: bool = False) -> str:
        hour_text, _, minute_text, written, _ = clock
        hour, minute = int(hour_text), int(minute_text or 0)
        meridiem = (written or implied).lower()
        if twenty_four:
            meridiem = "a" if hour < 12 or hour == 24 else "p"
            hour = hour % 12 or 12
        if meridiem and hour == 12 and minute == 0 and not bare:
            return "noon" if meridiem == "p" else "midnight"
        words = self.cardinal(hour)
        if minute:
            words += f" oh {self.cardinal(minute)}" if minute < 10 else f" {self.cardinal(minute)}"
        elif not meridiem and not bare:
            words += " o'clock"
        return f"{words} {meridiem.upper()} M" if meridiem and not bare else words

    def _money(self, match: re.Match[str]) -> str:
        symbol, whole, cents, scale, to_whole, to_cents, to_scale, per = match.groups()
        one, many, sub_one, sub_many = _CURRENCIES[symbol]
        per_words = f" per {_PER.get(per, per)}" if per else ""
        if to_whole is not None and not cents and not to_cents and scale == to_scale:
            # "$40-$60" -> forty to sixty dollars.
            scale_words = f" {_SCALES[scale]}" if scale else ""
            return f"{self.cardinal(int(whole.replace(',', '')))} to {self.cardinal(int(to_whole.replace(',', '')))}{scale_words} {many}{per_words}"
        spoken = self._amount(whole, cents, scale, one, many, sub_one, sub_many)
        if to_whole is not None:
            spoken += " to " + self._amount(to_whole, to_cents, to_scale, one, many, sub_one, sub_many)
        return spoken + per_words

    def _amount(self, whole: str, cents: str | None, scale: str | None, one: str, many: str, sub_one: str, sub_many: str) -> str:
        if scale:
            return f"{self.number(whole, cents)} {_SCALES[scale]} {many}"
        amount = int(whole.replace(",", ""))
        cent_value = int((cents or "0").ljust(2, "0"))
        if amount == 0 and cent_value:
            return f"{self.cardinal(cent_value)} {sub_one if cent_value == 1 else sub_many}"
        spoken = f"{self.cardinal(amount)} {one if amount == 1 else many}"
        if cent_value:
            spoken += f" and {self.cardinal(cent_value)} {sub_one if cent_value == 1 else sub_many}"
        return spoken

    def _percent(self, match: re.Match[str]) -> str:
        whole, fraction, to_whole, to_fraction = match.groups()
        low = self.number(whole, fraction)
        return f"{low} to {self.number(to_whole, to_fraction)} percent" if to_whole else f"{low} percent"

    def _measure(self, match: re.Match[str]) -> str:
        whole, fraction, to_whole, to_fraction, joiner, unit, dot = match.groups()
        singular, plural = _UNITS[unit]
        spoken = self.number(whole, fraction)
        if to_whole:
            spoken += f" to {self.number(to_whole, to_fraction)}"
        if joiner == "-":
            # "a 5-min walk": an adjective, so singular and hyphenated.
            return f"{spoken}-{singular.replace(' ', '-')}{_sentence_dot(match, 7)}"
        one = not to_whole and not fraction and whole == "1"
        return f"{spoken} {singular if one else plural}{_sentence_dot(match, 7)}"

    def _address(self, match: re.Match[str]) -> str:
        number, letter, direction, name, street, dot, suffix, suffix_dot = match.groups()
        parts = [self._house_number(number) + (f" {letter}" if letter else "")]
        if direction:
            parts.append(_DIRECTIONS[direction])
        parts += [name.strip(), _STREET_TYPES.get(street, street)]
        if suffix:
            parts.append(_DIRECTIONS[suffix])
            return " ".join(parts) + _sentence_dot(match, 8)
        return " ".join(parts) + _sentence_dot(match, 6)

    def _route(self, match: re.Match[str]) -> str:
        road, number = match.groups()
        road = {"Hwy": "Highway", "Rte": "Route", "US": "U S", "SR": "State Route"}.get(road, road)
        return f"{road} {self._house_number(number) if len(number) == 3 else self.cardinal(int(number))}"

    def _decade(self, match: re.Match[str]) -> str:
        digits = match.group(1)
        if not digits.endswith("0"):
            return match.group(0)
        return _plural(self.year(int(digits)) if len(digits) == 4 else self.cardinal(int(digits)))

    def _slashed(self, match: re.Match[str]) -> str:
        first, second = int(match.group(1)), int(match.group(2))
        if (first, second) == (24, 7):
            return "twenty-four seven"
        if (first, second) in _FRACTIONS:
            return _FRACTIONS[(first, second)]
        month, day = (first, second) if self.month_first else (second, first)
        return self._date(month, day) or f"{self.cardinal(first)} slash {self.cardinal(second)}"

    def _dashed(self, match: re.Match[str]) -> str:
        groups = match.group(1).split("-")
        if len(groups) == 2 and all(len(g) <= 4 and (g == "0" or g[0] != "0") for g in groups) and [len(g) for g in groups] != [3, 4]:
            return " to ".join(self._range_end(group) for group in groups)
        # ZIP+4, local phone numbers, part numbers: each group digit by digit with a pause between.
        return ", ".join(_digits(group) for group in groups)

    def _range_end(self, digits: str) -> str:
        value = int(digits)
        return self.year(value) if len(digits) == 4 and 1900 <= value <= 2099 else self.cardinal(value)

    def _mixed_token(self, match: re.Match[str]) -> str:
        words = []
        for run in re.findall(r"[A-Za-z]+|\d+", match.group(0)):
            if run.isdigit():
                words.append(_digits(run))
            elif run.isupper() and len(run) <= 3:
                words.append(" ".join(run))
            else:
                words.append(run)
        return " ".join(words)

    def _plain_number(self, match: re.Match[str]) -> str:
        integer, fraction, plus = match.groups()
        digits = integer.replace(",", "")
        plus_words = " plus" if plus else ""
        if fraction is not None:
            return self.number(integer, fraction) + plus_words
        if "," not in integer and len(digits) > 1 and (digits[0] == "0" or len(digits) >= 5 and not digits.endswith("000")):
            # Postcodes, account numbers and codes are read digit by digit.
            return _digits(digits) + plus_words
        value = int(digits)
        if len(digits) == 4 and "," not in integer and (1900 <= value <= 2099 or (1100 <= value < 2000 and value % 100 == 0)):
            return self.year(value) + plus_words
        return self.cardinal(value) + plus_words

    def _street_after_name(self, match: re.Match[str]) -> str:
        name, street, dot = match.groups()
        title_before_name = _CAPITALISED_NEXT.match(match.string, match.end()) or name.strip(" .") in _NOT_STREET_NAMES
        if street in ("St", "Dr") and title_before_name:
            # "Call Dr. Patel", "visit St. Johns": a title before a name.
            return match.group(0)
        return f"{name}{_STREET_TYPES[street]}{_sentence_dot(match, 3)}"

    def _saint_or_doctor(self, match: re.Match[str]) -> str:
        word = "Saint" if match.group(1) == "St" else "Doctor"
        return word + (_sentence_dot(match, 2) if match.group(2) and not _CAPITALISED_NEXT.match(match.string, match.end()) else "")

    def _direction(self, match: re.Match[str]) -> str:
        street, direction, dot, before_name = match.groups()
        if before_name:
            return _DIRECTIONS[before_name]
        return f"{street} {_DIRECTIONS[direction]}{_sentence_dot(match, 3)}"


def _is_twenty_four_hour(clock: tuple) -> bool:
    """17:00, 00:30 and 09:00 are written on a 24-hour clock; 9:00 could be either and stays as written."""
    hour_text, separator, _, written, _ = clock
    hour = int(hour_text)
    return not written and separator == ":" and (hour == 0 or hour > 12 or hour_text.startswith("0"))


@lru_cache(maxsize=4096)
def _cardinal(number: int, american: bool) -> str:
    words = num2words(number).replace(",", "")
    return _american(words) if american else words


@lru_cache(maxsize=1024)
def _ordinal(number: int, american: bool) -> str:
    words = num2words(number, to="ordinal").replace(",", "")
    return _american(words) if american else words


def _american(words: str) -> str:
    """American English says "one hundred five", British English "one hundred and five"."""
    return words.replace(" and ", " ").replace(",", "")
