"""Making generated text fit to be spoken: no markdown, no lists, a few sentences at most."""

from __future__ import annotations

import re

from services.common.sentences import split_sentences

_MARKDOWN_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_URL = re.compile(r"https?://\S+")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+", re.MULTILINE)
_HEADING = re.compile(r"^\s*#{1,6}\s*", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")


def strip_markup(text: str) -> str:
    """Markdown and list syntax removed; safe on partial text (streamed deltas)."""
    text = _MARKDOWN_LINK.sub(r"\1", text)
    text = _URL.sub("", text)
    text = _HEADING.sub("", text)
    return _EMPHASIS.sub("", text)


def to_spoken(text: str, max_sentences: int) -> str:
    """One paragraph of at most `max_sentences` sentences; list items become sentences."""
    text = strip_markup(text)
    items = [line.strip() for line in _LIST_MARKER.sub("", text).splitlines() if line.strip()]
    items = [item if item[-1] in ".!?:;," else item + "." for item in items]
    sentences = split_sentences(" ".join(items))
    return " ".join(sentence for sentence in sentences[:max_sentences] if sentence).strip()
