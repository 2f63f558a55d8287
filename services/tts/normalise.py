"""Rewriting written text into what should be said: times, money, numbers, abbreviations.

Answers come from documents ("open 9:00 am-6:00 pm, $75, 1200 SE Hawthorne
Blvd"); read literally, an engine says "nine zero zero" or "dollar
seventy-five". Every backend gets the same spoken form, so Piper and Polly
say the same thing.
"""

from __future__ import annotations

import re

from num2words import num2words

_ABBREVIATIONS = {
    "St.": "Street",
    "Ave.": "Avenue",
    "Ave": "Avenue",
    "Blvd.": "Boulevard",
    "Blvd": "Boulevard",
    "Rd.": "Road",
    "Dr.": "Doctor",
    "Mr.": "Mister",
    "Mrs.": "Missus",
    "Ms.": "Miz",
    "e.g.": "for example",
    "i.e.": "that is",
    "etc.": "et cetera",
    "approx.": "approximately",
    "Mon.": "Monday",
    "Tue.": "Tuesday",
    "Wed.": "Wednesday",
    "Thu.": "Thursday",
    "Fri.": "Friday",
    "Sat.": "Saturday",
    "Sun.": "Sunday",
    "hrs": "hours",
    "mins": "minutes",
    "No.": "number",
}
_ABBREVIATION_PATTERN = re.compile(
    r"(?<![\w.])(" + "|".join(re.escape(key) for key in sorted(_ABBREVIATIONS, key=len, reverse=True)) + r")(?![\w])"
)
_TIME = re.compile(r"\b(\d{1,2}):(\d{2})(?:\s*([ap])\.?\s?m\.?\b)?", re.IGNORECASE)
_HOUR_MERIDIEM = re.compile(r"\b(\d{1,2})\s*([ap])\.?\s?m\b\.?", re.IGNORECASE)
_MONEY = re.compile(r"([$€£])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{2}))?")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?%")
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\w])")
_RANGE = re.compile(r"(\d(?:\s*[ap]\.?\s?m\b\.?)?)\s*[-–]\s*(?=\$?\d)", re.IGNORECASE)
_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence")}


def _words(number: int) -> str:
    return num2words(number).replace(",", "")


def _time(match: re.Match[str]) -> str:
    hour, minute, meridiem = int(match.group(1)), int(match.group(2)), match.group(3)
    if hour > 24 or minute > 59:
        return match.group(0)
    spoken_hour = _words(hour)
    if minute == 0:
        spoken = spoken_hour if meridiem else f"{spoken_hour} o'clock"
    elif minute < 10:
        spoken = f"{spoken_hour} oh {_words(minute)}"
    else:
        spoken = f"{spoken_hour} {_words(minute)}"
    return f"{spoken} {meridiem.upper()} M" if meridiem else spoken


def _money(match: re.Match[str]) -> str:
    one, many, sub_one, sub_many = _CURRENCIES[match.group(1)]
    amount = int(match.group(2).replace(",", ""))
    cents = int(match.group(3) or 0)
    spoken = f"{_words(amount)} {one if amount == 1 else many}"
    if cents:
        spoken += f" and {_words(cents)} {sub_one if cents == 1 else sub_many}"
    return spoken


def _number(match: re.Match[str]) -> str:
    digits, fraction = match.group(1), match.group(2)
    if fraction is not None:
        return f"{_words(int(digits.replace(',', '')))} point {' '.join(_words(int(d)) for d in fraction)}"
    if "," not in digits and len(digits) >= 5:
        # Postcodes, account and phone numbers are read digit by digit.
        return " ".join(_words(int(d)) for d in digits)
    value = int(digits.replace(",", ""))
    if len(digits) == 4 and 1900 <= value <= 2099:
        return num2words(value, to="year")
    return _words(value)


def normalise_for_speech(text: str) -> str:
    text = _ABBREVIATION_PATTERN.sub(lambda m: _ABBREVIATIONS[m.group(1)], text)
    text = _RANGE.sub(r"\1 to ", text)
    text = _TIME.sub(_time, text)
    text = _HOUR_MERIDIEM.sub(lambda m: f"{_words(int(m.group(1)))} {m.group(2).upper()} M", text)
    text = _MONEY.sub(_money, text)
    text = _PERCENT.sub(lambda m: f"{m.group(1)} percent", text)
    text = _ORDINAL.sub(lambda m: num2words(int(m.group(1)), to="ordinal"), text)
    text = _NUMBER.sub(_number, text)
    text = text.replace("&", " and ").replace("—", ", ").replace("–", " to ")
    return re.sub(r"\s+", " ", text).strip()
