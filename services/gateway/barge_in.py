"""When the caller talks while the agent is speaking: stop, or keep talking?

A caller who speaks over the agent for long enough is interrupting, and the
agent stops at once (Twilio's queued audio is cleared). Shorter sounds are
back-channel ("mm-hm", "yeah", a cough) and the agent goes on. Whether the
caller is speaking comes from stt's voice activity events (started, paused,
resumed, ended), so background noise, which the voice activity detector
does not call speech, never stops the agent. Once the words are known, a
back-channel phrase is ignored even if it was long.
"""

from __future__ import annotations

import re
from enum import Enum

BACKCHANNEL = re.compile(r"^\W*(mm+[- ]?hm+|uh[- ]?huh|yeah|yes|ok(ay)?|right|sure|mhm|hmm+|i see|got it)\W*$", re.IGNORECASE)


class Decision(Enum):
    KEEP = "keep"  # nothing to do yet: the agent keeps talking (or was not talking)
    CLEAR = "clear"  # the caller is interrupting: stop the agent now
    IGNORE = "ignore"  # back-channel: the agent keeps talking and the words are not a turn


class BargeInPolicy:
    """Speech events of one call in, decisions out. Times are seconds on any one clock the caller chooses."""

    def __init__(self, min_speech_seconds: float) -> None:
        self.min_speech_seconds = min_speech_seconds
        self.caller_speaking = False
        self._speech_since: float | None = None

    def speech_started(self, now: float) -> None:
        self.caller_speaking, self._speech_since = True, now

    def speech_stopped(self) -> None:
        """A pause or the end of the caller's speech: whatever was pending was back-channel."""
        self.caller_speaking, self._speech_since = False, None

    def check(self, now: float, agent_speaking: bool) -> Decision:
        """At `min_speech_seconds` after the caller started: still talking over the agent means interrupting."""
        if not agent_speaking:
            return Decision.KEEP
        if self._speech_since is None:
            return Decision.IGNORE
        return Decision.CLEAR if now - self._speech_since >= self.min_speech_seconds else Decision.KEEP

    def remaining(self, now: float) -> float | None:
        """Seconds until the caller's current speech has lasted the minimum; None when they are not speaking."""
        if self._speech_since is None:
            return None
        return max(0.01, self._speech_since + self.min_speech_seconds - now)

    def transcript(self, text: str, agent_speaking: bool) -> Decision:
        """What the caller said, once recognised: a turn of its own, or back-channel to ignore."""
        if not text.strip() or (agent_speaking and BACKCHANNEL.match(text)):
            return Decision.IGNORE
        return Decision.CLEAR if agent_speaking else Decision.KEEP
