"""Sentence boundaries and content words: the one implementation every service uses.

Ingestion cuts chunks at sentence ends, the answerers choose whole
sentences, the gateway cuts a streamed answer into sentences for speech and
tts synthesises sentence by sentence; all of them must agree, and none may
end a sentence at "Dr.", "St.", "e.g.", "3.5" or "9 a.m. Saturday".
`sentencex` (MIT, no dependencies) does the segmentation: it handles
abbreviations, initials and decimals, and splits a short answer in about a
microsecond, two orders of magnitude faster than pysbd with the same
results on our cases. It still ends a sentence after "a.m."/"p.m." when a
capitalised day follows, so that one case is rejoined here.
"""

from __future__ import annotations

import re

from sentencex import segment

_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    "a an the and or but if of to in on at by for with from about as is are was were be been being do does did "
    "i you he she it we they me my your our their this that these those what which who whom when where why how "
    "can could would should will shall may might must have has had there here please tell know want like just "
    "any some much many so than then too very also not no yes hi hello thanks thank".split()
)
# Words that only name a quantity or are what is left of a contraction split into words ("isn't" -> "isn"):
# never the name of something a business could lack.
NOT_NAMES = frozenset(
    "isn aren wasn weren don doesn didn won wouldn couldn shouldn hasn haven hadn ll ve re s t m d "
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million half quarter "
    "first second third fourth fifth sixth seventh eighth ninth tenth".split()
)
_MERIDIEM_END = re.compile(r"\b[ap]\.m\.$", re.IGNORECASE)
# After "9 a.m." these continue the sentence: "9 a.m. Saturday", "9 a.m. to 5 p.m.", "9 a.m. or later".
_CONTINUES_AFTER_MERIDIEM = re.compile(
    r"^(?:[a-z0-9]|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|(?:Jan|Febr)uary|March|April|May|June|July|August"
    r"|September|October|November|December|Weekdays|Weekends)"
)


# sentencex matches quotes across its whole input, which is quadratic on text full of unmatched quote marks
# (100 KB of backticks took 6 s, holding the GIL). It is given windows of at most this many characters, cut
# where a sentence plainly ends, so its cost stays linear in the length of the text.
_WINDOW_CHARS = 2_000
_PLAIN_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])|\n")


def _windows(text: str) -> list[str]:
    if len(text) <= _WINDOW_CHARS:
        return [text]
    windows, start, last_end = [], 0, 0
    for match in _PLAIN_END.finditer(text):
        if match.start() - start > _WINDOW_CHARS:
            cut = last_end if last_end > start else match.start()
            windows.append(text[start:cut])
            start = cut
        last_end = match.end()
    while len(text) - start > _WINDOW_CHARS:
        cut = text.rfind(" ", start + _WINDOW_CHARS // 2, start + _WINDOW_CHARS) + 1 or start + _WINDOW_CHARS
        windows.append(text[start:cut])
        start = cut
    windows.append(text[start:])
    return windows


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, stripped, in order; nothing is dropped but whitespace."""
    sentences: list[str] = []
    for piece in (piece for window in _windows(text) for piece in segment("en", window)):
        piece = piece.strip()
        if not piece:
            continue
        if sentences and _MERIDIEM_END.search(sentences[-1]) and _CONTINUES_AFTER_MERIDIEM.match(piece):
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return sentences


def complete_sentences(pending: str) -> tuple[list[str], str]:
    """Sentences known to be complete in streamed text, and the rest that may still grow.

    A sentence is complete once another one has started after it, so
    "We open at 9 a.m." is held until the next words show it did not end.
    """
    sentences = split_sentences(pending)
    if len(sentences) < 2:
        return [], pending
    start = pending.rfind(sentences[-1])
    return sentences[:-1], pending[start:] if start >= 0 else sentences[-1]


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
    return {_stem(word) for word in _WORD.findall(text.lower()) if word not in STOPWORDS}


# A short question that leans on the previous one ("and on Sunday?", "what about a week?", "Sunday?") is read
# together with it; a short question of its own ("where can I park?") is not.
_FOLLOW_UP_CONTENT_WORDS = 2
_LEANS_ON_PREVIOUS = re.compile(r"^\W*(and|or|but|also|so|then|what about|how about)\b", re.IGNORECASE)
_ASKS_BY_ITSELF = re.compile(r"\b(what|when|where|who|which|why|how|can|could|do|does|is|are|will|would)\b", re.IGNORECASE)


def is_follow_up(question: str) -> bool:
    """Whether `question` only makes sense with the caller's previous one."""
    leans = _LEANS_ON_PREVIOUS.search(question) or not _ASKS_BY_ITSELF.search(question)
    return bool(leans) and len(content_words(question)) <= _FOLLOW_UP_CONTENT_WORDS
