"""Handing a caller to a person: the org's transfer number and when someone is there to answer it.

The config shape is part of the public interface (issue #12):

    "handoff": {"number": "+14155550123", "timezone": "America/Los_Angeles",
                "hours": {"mon": "09:00-17:30", "sat": "10:00-14:00"}, "closed_dates": ["2026-12-25"]}

A day missing from `hours` is closed; "00:00-24:00" is all day. The number is the only place a call is
ever transferred to, so it is validated here, once.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)\Z")
_E164 = re.compile(r"^\+[1-9]\d{6,14}\Z")


def opening_span(text: str) -> tuple[time, time | None]:
    """"09:00-17:30" as (start, end); an end of 24:00 is None (until midnight)."""
    match = _SPAN.match(text)
    if not match:
        raise ValueError(f"{text!r} is not an opening time like 09:00-17:30")
    start = time(int(match[1]), int(match[2]))
    if match[3] == "24":
        if match[4] != "00":
            raise ValueError(f"{text!r}: the day ends at 24:00")
        return start, None
    end = time(int(match[3]), int(match[4]))
    if end <= start:
        raise ValueError(f"{text!r} ends before it starts")
    return start, end


def validate_timezone(name: str) -> str:
    """An IANA time zone name this machine knows, else ValueError saying what is expected."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as America/Los_Angeles)") from error
    return name


class HandoffConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    number: str
    timezone: str = "UTC"
    hours: dict[str, str] = Field(default_factory=dict)
    closed_dates: list[date] = Field(default_factory=list)

    @field_validator("number")
    @classmethod
    def _number_is_e164(cls, number: str) -> str:
        if not _E164.match(number):
            raise ValueError(f"{number!r} is not an E.164 number such as +14155550123")
        return number

    @field_validator("timezone")
    @classmethod
    def _timezone_exists(cls, name: str) -> str:
        return validate_timezone(name)

    @field_validator("hours")
    @classmethod
    def _hours_are_spans(cls, hours: dict[str, str]) -> dict[str, str]:
        for day, span in hours.items():
            if day not in DAYS:
                raise ValueError(f"unknown day {day!r}: use {', '.join(DAYS)}")
            opening_span(span)
        return hours

    def is_open(self, at: datetime) -> bool:
        """Whether someone is there to take a transfer at `at` (any aware datetime), in the org's time zone."""
        local = at.astimezone(ZoneInfo(self.timezone))
        if local.date() in self.closed_dates:
            return False
        span = self.hours.get(DAYS[local.weekday()])
        if span is None:
            return False
        start, end = opening_span(span)
        now = local.time().replace(tzinfo=None)
        return start <= now and (end is None or now < end)
