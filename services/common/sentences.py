"""Whole sentences of retrieved passages and their content words.

Shared by the extractive answerer (llm) and the gateway's last-resort answer
when the llm service is down: both may only ever say sentences copied from
the org's own documents.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Whitespace after a full stop, question or exclamation mark.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    "a an the and or but if of to in on at by for with from about as is are was were be been being do does did "
    "i you he she it we they me my your our their this that these those what which who whom when where why how "
    "can could would should will shall may might must have has had there here please tell know want like just "
    "any some much many so than then too very also not no yes hi hello thanks thank".split()
)


@dataclass(frozen=True)
class Sentence:
    text: str
    chunk_id: str


def split_sentences(text: str) -> list[str]:
    return [part for part in SENTENCE_END.split(text.strip()) if part]


# Where a long sentence can be cut without sounding cut: after a comma, semicolon or colon (not inside "9:00"),
# or before a conjunction.
_PHRASE_BREAK = re.compile(r"(?<=[,;:])\s+|\s+(?=(?:and|but|or|so|because|which|while|including)\s)")
_LEAD_MIN_WORDS = 3
_SHORT_ENOUGH_WORDS = 8


def lead_phrase(sentence: str) -> list[str]:
    """A long sentence as its first phrase and the rest, so speech can start after synthesising only the phrase
    (synthesis takes time in proportion to length); a short sentence, or one with no natural break, as it is."""
    if len(sentence.split()) <= _SHORT_ENOUGH_WORDS:
        return [sentence]
    for match in _PHRASE_BREAK.finditer(sentence):
        lead, rest = sentence[: match.start()].strip(), sentence[match.end() :].strip()
        if len(lead.split()) >= _LEAD_MIN_WORDS and rest:
            return [lead, rest]
    return [sentence]


def _stem(word: str) -> str:
    """Crude suffix stripping: enough to match "parking" with "park" and "bookings" with "booking"."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    return {_stem(word) for word in _WORD.findall(text.lower()) if word not in _STOPWORDS}


def candidate_sentences(passages: Iterable[tuple[str, str]]) -> list[Sentence]:
    """Whole sentences of (text, chunk_id) passages: no headings, no fragments cut by chunk overlap, no repeats."""
    seen: set[str] = set()
    candidates = []
    for text, chunk_id in passages:
        for paragraph in text.split("\n\n"):
            for sentence in split_sentences(paragraph):
                sentence = " ".join(sentence.split())
                if len(sentence.split()) < 4 or not (sentence[0].isupper() or sentence[0].isdigit()):
                    continue
                if sentence[-1] not in ".!?" or sentence in seen:
                    continue
                seen.add(sentence)
                candidates.append(Sentence(sentence, chunk_id))
    return candidates


def best_overlap_sentence(question: str, passages: Iterable[tuple[str, str]]) -> Sentence | None:
    """The sentence sharing the most content words with the question, if it shares any."""
    asked = content_words(question)
    scored = [(len(asked & content_words(s.text)), s) for s in candidate_sentences(passages)]
    best = max(scored, key=lambda pair: pair[0], default=(0, None))
    return best[1] if best[0] > 0 else None
