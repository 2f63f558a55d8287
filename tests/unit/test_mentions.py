"""Naming the kinds of facts a text gives, so "what's your address?" finds the sentence that has one."""

import pytest

from services.common.mentions import mentions


@pytest.mark.parametrize(
    "text,kinds",
    [
        ("Acme Bicycle Works is at 1200 Southeast Hawthorne Boulevard, Portland.", ("address location",)),
        ("BrightSmile Dental, 1420 Division Street, Suite 200, Oakridge, OR 97463", ("address location",)),
        ("Call the front desk at (503) 555-0142.", ("phone number",)),
        ("We are open Monday to Friday from 9:00 am to 6:00 pm.", ("hours time",)),
        ("A basic tune-up costs $75.", ("price cost",)),
        ("Write to office@harbor.example for a quote of 75 dollars.", ("price cost", "email address")),
        ("We are closed on Sundays.", ()),
        ("Order 4471 shipped on 2026-11-02 in 3 boxes.", ()),
    ],
)
def test_each_kind_of_fact_is_named(text, kinds):
    assert mentions(text) == kinds


@pytest.mark.timeout(30)
def test_hostile_text_is_handled_in_linear_time():
    # A hang guard, not a measurement.
    assert mentions("1 A" * 50_000 + "9" * 100_000) == ()
