"""Has the caller finished? A verdict on the words heard before a pause.

People pause mid-sentence to think ("I'd like to book a repair for ... my
road bike") and while dictating ("my number is five oh three ... "). The
audio alone does not tell such a pause from the end of a question on a
phone line; the words do. A phrase is unfinished when it ends on a word
that needs a continuation (an article, a preposition, a conjunction, a
possessive, an auxiliary, a filler), when the recogniser marks it as
trailing off ("and...", "503-"), when it stops in a stutter ("the, the"),
in a list still being given, or in a number being dictated that is
shorter than what was announced (a phone number, a code, an address
without its street). Anything else is treated as complete: waiting too
long costs the caller a second; cutting them off costs the turn.
"""

from __future__ import annotations

import re

# Words after which an English sentence cannot end.
_CONTINUING = frozenset(
    """
    a an the my your our their its every each
    to of for from with without in on at by about into onto over under near between through after before during
    until than like via per towards toward behind beside besides across along around against among
    and or but nor because if unless though although whereas whether
    i we he she they i'm i'd i'll i've we're we'd we'll you're it's that's there's what's
    um uh er erm uhm hmm mm ah eh just very
    """.split()
)
# "My number is ...", but "do you know where it is?" and "yes, I am".
_AUXILIARIES = frozenset("is are was were am be been have has had do does did can could would will should may might must".split())
_PRONOUNS = frozenset("i you we he she they it there".split())
_QUESTION_WORDS = frozenset("what where when why how who which whose".split())
_FILLERS = frozenset({"um", "uh", "er", "erm", "uhm", "hmm", "mm", "ah", "eh"})
# A number being dictated: what it is, and how many digits make it whole.
_DICTATION = (
    (re.compile(r"\b(phone|number|call me|reach me|call back|cell|mobile|fax)\b"), 10),
    (re.compile(r"\b(zip|postcode|post code|postal)\b"), 5),
    (re.compile(r"\b(ends? in|last four|pin)\b"), 4),
    (re.compile(r"\b(account|card|order|reference|confirmation|booking|policy|invoice|member)\b"), 5),
    # A house number needs its street.
    (re.compile(r"\b(live at|address is|address|located at|at number|suite|apartment|unit)\b"), 1000),
)
_DIGIT_WORDS = frozenset("zero oh o one two three four five six seven eight nine".split())
_NUMBER_WORDS = _DIGIT_WORDS | frozenset(
    "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty "
    "sixty seventy eighty ninety hundred thousand double triple".split()
)
_WORD = re.compile(r"[a-z0-9']+(?:-[a-z0-9']+)*")
# Trailing off as the recogniser writes it: "and...", "a B..", "503-". (A final comma is no sign: it often
# closes a complete question.)
_TRAILING_OFF = re.compile(r"(\.\.|…|[-–—])\s*$")
_LIST_ITEM_WORDS = 4
_LIST_JOINER = re.compile(r"\b(and|or)\b")
# A phrase is judged on its last words only: enough for any of the rules above, and bounded work per pause.
_TAIL_CHARACTERS = 200


def is_complete(text: str) -> bool:
    """Whether the caller's words so far can be the end of their turn."""
    tail = text.strip().lower()[-_TAIL_CHARACTERS:]
    words = _WORD.findall(tail)
    if not words:
        return True  # nothing was understood: there is nothing to wait for
    if _TRAILING_OFF.search(tail):
        return False
    last = words[-1]
    if last in _CONTINUING or (len(words) == 1 and last in _FILLERS):
        return False
    if len(words) == 2 and words[0] in _AUXILIARIES and last in _PRONOUNS:
        return False  # a question just begun: "do you", "can I"
    if last in _AUXILIARIES and _announces(words):
        return False
    if _stutters(words) or _list_in_progress(tail) or _dictation_unfinished(tail, words):
        return False
    return True


def _announces(words: list[str]) -> bool:
    """An auxiliary at the end that introduces what follows ("the address is"), not one that closes an embedded
    question ("where it is") or a short reply ("yes I am")."""
    return words[-2] not in _PRONOUNS and not _QUESTION_WORDS.intersection(words[:-1])


def _stutters(words: list[str]) -> bool:
    """The same word or pair of words again at the end: "the, the" or "number is number is"."""
    return (len(words) >= 2 and words[-1] == words[-2]) or (len(words) >= 4 and words[-2:] == words[-4:-2])


def _list_in_progress(tail: str) -> bool:
    """Items separated by commas and no "and"/"or" before the last ("brakes, a chain, gears" or "eggs, toast,"):
    more are coming."""
    if re.search(r"[.?!]\s*$", tail):
        return False  # a sentence that ends: "Hi, yes, what time do you open?" is no list
    items = [item for item in tail.split(",") if item.strip()]
    listing = len(items) >= 3 or (len(items) == 2 and tail.rstrip().endswith(","))
    # A list's items are short: "brakes, a new chain, gears", not clauses.
    return listing and all(len(item.split()) <= _LIST_ITEM_WORDS for item in items[1:]) and not _LIST_JOINER.search(items[-1])


def _dictation_unfinished(tail: str, words: list[str]) -> bool:
    """A trailing number shorter than the number its phrase announced."""
    digits = 0
    for word in reversed(words):
        if word.replace("-", "").isdigit():
            digits += len(word.replace("-", ""))
        elif word in _NUMBER_WORDS:
            digits += 1
        else:
            break
    if digits == 0:
        return False
    return any(pattern.search(tail) and digits < needed for pattern, needed in _DICTATION)
