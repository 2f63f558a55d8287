"""An org's handoff config: only a valid number, in a real time zone, open when its hours say so."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.common.handoff import HandoffConfig


def config(**changes) -> HandoffConfig:
    return HandoffConfig(**{"number": "+14155550123", "timezone": "America/Los_Angeles", "hours": {"mon": "09:00-17:30"}, **changes})


def test_open_within_the_days_hours_in_the_orgs_time_zone():
    assert config().is_open(datetime(2026, 11, 30, 17, 0, tzinfo=UTC))  # 09:00 in Los Angeles
    assert not config().is_open(datetime(2026, 11, 30, 16, 59, tzinfo=UTC))  # 08:59
    assert not config().is_open(datetime(2026, 12, 1, 1, 30, tzinfo=UTC))  # Monday 17:30: closing time


def test_a_missing_day_and_a_closed_date_are_closed_and_24_hours_is_all_day():
    assert not config().is_open(datetime(2026, 12, 1, 20, 0, tzinfo=UTC))  # Tuesday
    assert not config(closed_dates=["2026-11-30"]).is_open(datetime(2026, 11, 30, 20, 0, tzinfo=UTC))
    all_day = config(hours={"sun": "00:00-24:00"})
    assert all_day.is_open(datetime(2026, 11, 29, 8, 0, tzinfo=UTC)) and all_day.is_open(datetime(2026, 11, 30, 7, 59, tzinfo=UTC))


@pytest.mark.parametrize(
    "changes",
    [{"number": "4155550123"}, {"number": "+1 415 555"}, {"timezone": "Mars/Olympus"}, {"hours": {"monday": "09:00-17:00"}},
     {"hours": {"mon": "9-5"}}, {"hours": {"mon": "17:00-09:00"}}, {"hours": {"mon": "09:00-24:30"}}, {"closed_dates": ["soon"]}],
)
def test_anything_else_is_refused_with_a_reason(changes):
    with pytest.raises(ValidationError):
        config(**changes)
