"""What kinds of facts a text gives, named in the words a caller uses to ask for them.

"Acme Bicycle Works is at 1200 Southeast Hawthorne Boulevard" is the answer to
"what's your address?", yet shares no word with it, and a sentence embedding
does not reliably connect them. Callers ask for a business's address, phone
number, hours, prices and e-mail all the time, so text that contains one is
indexed (retrieval) and matched (the extractive answerer) together with the
name of what it contains. The names are never said: they are not part of the
text a caller hears.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

# A house number, up to three capitalised words, a street type; or a US state (or its code) and a ZIP code.
_STREET_ADDRESS = re.compile(
    r"\b\d{1,6}(?:\s+(?:[NSEW]|NE|NW|SE|SW|North|South|East|West|Northeast|Northwest|Southeast|Southwest)\.?)?"
    r"(?:\s+[A-Z][\w'.-]{0,30}){1,3}\s+(?:Street|St|Avenue|Ave|Boulevard|Blvd|Road|Rd|Drive|Dr|Lane|Ln|Way|Court|Ct"
    r"|Place|Pl|Highway|Hwy|Parkway|Pkwy|Plaza|Square|Sq|Terrace|Circle|Trail)\b\.?"
    r"|\b(?:[A-Z]{2}|[A-Z][a-z]{3,13})\s+\d{5}(?:-\d{4})?\b"
)
_CLOCK_TIME = re.compile(r"\b\d{1,2}(?::\d{2})?\s?(?:[ap]\.?m\b\.?)|\b(?:[01]?\d|2[0-3]):[0-5]\d\b", re.IGNORECASE)
_PRICE = re.compile(r"[$€£]\s?\d|\b\d+(?:\.\d{2})?\s?(?:dollars|euros|pounds|USD|EUR|GBP)\b")
_EMAIL = re.compile(r"\b[\w.+-]{1,64}@[\w-]{1,63}\.[\w.-]{2,63}\b")


@lru_cache(maxsize=10_000)
def mentions(text: str, region: str = "US") -> tuple[str, ...]:
    """Names of the kinds of facts in `text`, such as "address" or "phone number" (cached: the same passages
    come back question after question)."""
    found = []
    if _STREET_ADDRESS.search(text):
        found.append("address location")
    if any(True for _ in phonenumbers.PhoneNumberMatcher(text, region)):
        found.append("phone number")
    if _CLOCK_TIME.search(text):
        found.append("hours time")
    if _PRICE.search(text):
        found.append("price cost")
    if _EMAIL.search(text):
        found.append("email address")
    return tuple(found)
