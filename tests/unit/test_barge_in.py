"""The barge-in policy: sequences of the caller's speech events while the agent talks, and what it decides."""

import pytest

from services.gateway.barge_in import BargeInPolicy, Decision

MIN_SPEECH = 0.5


def after(events: list[tuple[float, str]], check_at: float, agent_speaking: bool = True) -> Decision:
    """Replays (time, "start" | "stop") speech events, then asks the policy at `check_at`."""
    policy = BargeInPolicy(MIN_SPEECH)
    for at, event in events:
        if event == "start":
            policy.speech_started(at)
        else:
            policy.speech_stopped()
    return policy.check(check_at, agent_speaking)


def test_a_caller_still_talking_after_the_minimum_interrupts():
    assert after([(0.0, "start")], check_at=0.5) is Decision.CLEAR


def test_a_short_sound_that_stopped_is_back_channel():
    assert after([(0.0, "start"), (0.3, "stop")], check_at=0.5) is Decision.IGNORE


def test_speech_that_stopped_and_started_again_counts_from_its_new_start():
    assert after([(0.0, "start"), (0.2, "stop"), (0.3, "start")], check_at=0.5) is Decision.KEEP
    assert after([(0.0, "start"), (0.2, "stop"), (0.3, "start")], check_at=0.8) is Decision.CLEAR


def test_nothing_is_interrupted_when_the_agent_is_not_talking():
    assert after([(0.0, "start")], check_at=1.0, agent_speaking=False) is Decision.KEEP


def test_without_speech_events_nothing_interrupts_the_agent():
    """Noise produces no speech events (tests/unit/test_vad.py: steady noise is not speech), so this is noise."""
    assert after([], check_at=5.0) is Decision.IGNORE


@pytest.mark.parametrize("words", ["mm-hm", "Yeah.", "okay", "uh huh", "right", "Got it."])
def test_back_channel_words_over_the_agent_are_ignored(words):
    assert BargeInPolicy(MIN_SPEECH).transcript(words, agent_speaking=True) is Decision.IGNORE


def test_a_question_over_the_agent_interrupts_and_the_same_words_after_it_are_a_turn():
    policy = BargeInPolicy(MIN_SPEECH)
    assert policy.transcript("Wait, are you open on Sunday?", agent_speaking=True) is Decision.CLEAR
    assert policy.transcript("Yeah.", agent_speaking=False) is Decision.KEEP
    assert policy.transcript("  ", agent_speaking=False) is Decision.IGNORE


def test_the_policy_says_how_long_until_restarted_speech_has_lasted_the_minimum():
    policy = BargeInPolicy(MIN_SPEECH)
    assert policy.remaining(0.0) is None
    policy.speech_started(1.0)
    assert policy.remaining(1.2) == pytest.approx(0.3)
    assert policy.check(1.2, agent_speaking=True) is Decision.KEEP and policy.check(1.5, agent_speaking=True) is Decision.CLEAR
