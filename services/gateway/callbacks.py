"""Taking a message for a callback, and asking for a person: the turns that are not answered from documents.

When the documents do not answer, the org's fallback promises a callback;
this makes the promise true. The agent offers to take a message, asks for
the caller's name and what it is about, reads back the number to call
(the caller ID unless they give another, digit by digit) and stores the
request. A caller who asks for a person ("talk to someone",
"representative", "operator", or presses 0) is transferred while the org's
handoff hours are open, and otherwise offered the same message. Both call
modes drive this one dialogue; its state lives in the call session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from services.common.orgs import OrgConfig

OFFER = "Would you like to leave a message so someone can call you back?"
ASK_NAME = "Sure. What's your name?"
NO_ONE_AVAILABLE = "No one is available to take your call right now, but I can take a message. What's your name?"
ASK_ABOUT = "Thanks, {name}. What is it about?"
CONFIRM_NUMBER = "Should we call you back on {digits}?"
ASK_NUMBER = "What number should we call you back on?"
NUMBER_AGAIN = "Sorry, I didn't get that number. Please say it one digit at a time."
CONFIRM_GIVEN = "I have {digits}. Is that right?"
TAKEN = "Thanks, {name}. We'll call you back on {digits} as soon as we can. Is there anything else I can help with?"
TRANSFERRING = "Connecting you to a member of our team now."
DECLINED = "No problem. Is there anything else I can help with?"

_PERSON = re.compile(
    r"\b((talk|speak)\s+(to|with)\s+(a\s+|an\s+|some\s*)?(person|human|someone|somebody|representative|agent|operator|"
    r"real person|member of (your |the )?(staff|team))|representative|operator|human being|real person)\b",
    re.IGNORECASE,
)
_YES = re.compile(r"^\W*(yes|yeah|yep|yup|sure|please|ok(ay)?|go ahead|that'?s (right|correct)|correct|right|absolutely|of course)\b", re.IGNORECASE)
_NO = re.compile(r"^\W*(no|nope|nah|not really|incorrect|wrong|that'?s (wrong|not right))\b", re.IGNORECASE)
_NAME_LEAD = re.compile(
    r"^\W*((yes|yeah|sure|okay|ok|hi|hello)\W+)*(it'?s(?!\s+about\b)|this is|i'?m|i am|my name is|my name'?s|name'?s|the name is|call me)\W+",
    re.IGNORECASE,
)
# "Oh, it's ..." is not a zero; digits after "extension" are not part of the number.
_INTERJECTION = re.compile(r"^\W*oh\b\s*[,!.]", re.IGNORECASE)
_EXTENSION = re.compile(r"\b(extension|ext)\b.*", re.IGNORECASE | re.DOTALL)
# Digits as said ("oh" for zero); not "to" or "for", which are more often words than digits.
_DIGIT_WORDS = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9",
}
_MAX_NAME_WORDS = 4
# Caller words are bounded before they are stored: a message is a sentence or two, not a recording's worth.
MAX_MESSAGE_CHARACTERS = 1000


@dataclass(frozen=True)
class CallbackRequest:
    name: str
    number: str
    message: str
    reason: str


@dataclass(frozen=True)
class Step:
    """What the agent says next, and what happened: a callback to store, or a number to transfer to."""

    text: str
    callback: CallbackRequest | None = None
    transfer_to: str | None = None
    # The turn holds the caller's phone number (given or read back): stored with its digits masked.
    private: bool = False


def wants_person(text: str) -> bool:
    return bool(_PERSON.search(text))


def spoken_digits(number: str) -> str:
    """A number read digit by digit in the groups people say: "5 0 3, 5 5 5, 0 1 4 2"."""
    digits = re.sub(r"\D", "", number)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]  # a North American number is read without its country code
    groups = [digits[:3], digits[3:6], digits[6:]] if len(digits) == 10 else [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return ", ".join(" ".join(group) for group in groups if group)


def heard_number(text: str) -> str:
    """The digits a caller said ("five oh three 555 0142", "503-555-0142"), or "" when it is not a number."""
    text = _EXTENSION.sub("", _INTERJECTION.sub("", text))
    digits = []
    for token in re.findall(r"[a-z]+|\d", text.lower()):
        if token.isdigit():
            digits.append(token)
        elif token in ("double", "triple") or token in _DIGIT_WORDS:
            digits.append(token)
    expanded: list[str] = []
    repeat = 1
    for token in digits:
        if token == "double":
            repeat = 2
        elif token == "triple":
            repeat = 3
        else:
            expanded += [_DIGIT_WORDS.get(token, token)] * repeat
            repeat = 1
    number = "".join(expanded)
    return number if 7 <= len(number) <= 15 else ""


def _name_in(text: str) -> str:
    words = re.sub(r"[^\w' -]", " ", _NAME_LEAD.sub("", text)).split()
    return " ".join(words[:_MAX_NAME_WORDS]).strip().title()


class CallbackDialogue:
    """One call's message taking, over its session's `message` state ({} when not taking a message)."""

    def __init__(self, org: OrgConfig, state: dict, caller_id: str, now: datetime | None = None) -> None:
        self.org = org
        self.state = state
        self.caller_id = caller_id if re.fullmatch(r"\+?\d{7,15}", caller_id or "") else ""
        self.now = now or datetime.now(UTC)

    @property
    def active(self) -> bool:
        return bool(self.state.get("step"))

    def offer(self) -> str:
        """After the org's fallback was said: offer to take a message (the caller's next words decide)."""
        self.state.clear()
        self.state.update(step="offered", reason="not_in_documents")
        return OFFER

    def respond(self, text: str, keypad_zero: bool = False) -> Step | None:
        """The agent's next words when this turn belongs to the dialogue; None when it is a question for the
        documents (and any offer that was open is dropped). Asking for a person counts until a message is being
        taken: then "I want to talk to someone about my refund" is what the message is about."""
        step = self.state.get("step")
        if keypad_zero or (step in (None, "offered") and wants_person(text)):
            return self._person()
        handlers = {"offered": self._offered, "name": self._name, "about": self._about, "confirm": self._confirm, "number": self._number}
        handler = handlers.get(step or "")
        return handler(text[:MAX_MESSAGE_CHARACTERS].strip()) if handler else None

    def _person(self) -> Step:
        handoff = self.org.handoff
        if handoff is not None and handoff.is_open(self.now):
            self.state.clear()
            return Step(TRANSFERRING, transfer_to=handoff.number)
        self.state.clear()
        self.state.update(step="name", reason="person_unavailable")
        return Step(NO_ONE_AVAILABLE)

    def _offered(self, text: str) -> Step | None:
        if _NO.match(text):
            self.state.clear()
            return Step(DECLINED)
        if _YES.match(text) and not _NAME_LEAD.match(text):
            self.state["step"] = "name"
            return Step(ASK_NAME)
        if _NAME_LEAD.match(text):
            return self._name(text)
        self.state.clear()  # a new question: answer it from the documents
        return None

    def _name(self, text: str) -> Step:
        self.state.update(step="about", name=_name_in(text) or "there")
        return Step(ASK_ABOUT.format(name=self.state["name"]))

    def _about(self, text: str) -> Step:
        self.state["about"] = text
        if self.caller_id:
            self.state.update(step="confirm", number=self.caller_id)
            return Step(CONFIRM_NUMBER.format(digits=spoken_digits(self.caller_id)), private=True)
        self.state["step"] = "number"
        return Step(ASK_NUMBER)

    def _confirm(self, text: str) -> Step:
        number = heard_number(text)  # "no, call 415 555 0123", or "yes, but 415 555 0123 is better"
        if number and number != re.sub(r"\D", "", self.state["number"]):
            return self._number(number)
        if _NO.match(text):
            self.state["step"] = "number"
            return Step(ASK_NUMBER, private=True)
        if _YES.match(text):
            return self._taken()
        return Step(CONFIRM_GIVEN.format(digits=spoken_digits(self.state["number"])), private=True)

    def _number(self, text: str) -> Step:
        number = heard_number(text)
        if not number:
            self.state["attempts"] = self.state.get("attempts", 0) + 1
            if self.state["attempts"] >= 2 and self.caller_id:
                self.state["number"] = self.caller_id  # keep the caller ID rather than lose the message
                return self._taken()
            return Step(NUMBER_AGAIN, private=True)
        self.state.update(step="confirm", number=number)
        return Step(CONFIRM_GIVEN.format(digits=spoken_digits(number)), private=True)

    def _taken(self) -> Step:
        request = CallbackRequest(self.state.get("name", ""), self.state["number"], self.state.get("about", ""), self.state.get("reason", ""))
        self.state.clear()
        return Step(TAKEN.format(name=request.name or "there", digits=spoken_digits(request.number)), callback=request, private=True)
