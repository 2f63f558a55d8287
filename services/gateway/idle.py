"""A caller who says nothing: ask once whether they are still there, then end the call politely.

Both call modes share the rule; each measures the silence its own way (a
streaming call by the clock, a turn-based call by the empty recordings
Twilio reports, each as long as the recording timeout).
"""

from __future__ import annotations

import re
from enum import Enum

STILL_THERE = "Are you still there?"
HOW_CAN_I_HELP = "Great. How can I help?"
# A caller's answer to STILL_THERE that asks nothing: answered as such, not searched in the documents.
_PRESENT = re.compile(r"^\W*(yes|yeah|yep|yup|hello|hi|sorry|i'?m (still )?here|still here)(\W+(yes|i'?m (still )?here|still here|sorry))*\W*$", re.IGNORECASE)


class IdleAction(Enum):
    WAIT = "wait"  # keep listening
    PROMPT = "prompt"  # ask whether the caller is still there (once)
    HANG_UP = "hang_up"  # say goodbye and end the call


def idle_action(silent_seconds: float, prompted: bool, limit_seconds: float) -> IdleAction:
    """What to do after `silent_seconds` of the caller saying nothing (counted again from the prompt)."""
    if silent_seconds < limit_seconds:
        return IdleAction.WAIT
    return IdleAction.HANG_UP if prompted else IdleAction.PROMPT


def says_present(text: str) -> bool:
    """Whether the caller's words only say they are still on the line."""
    return bool(_PRESENT.match(text[:200]))
