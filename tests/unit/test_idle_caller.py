"""A silent caller is asked once whether they are still there, then let go."""

from services.gateway.idle import IdleAction, idle_action

LIMIT = 8.0


def test_silence_shorter_than_the_limit_is_waited_out():
    assert idle_action(7.9, prompted=False, limit_seconds=LIMIT) is IdleAction.WAIT


def test_the_first_long_silence_gets_a_prompt_and_the_second_a_goodbye():
    assert idle_action(8.0, prompted=False, limit_seconds=LIMIT) is IdleAction.PROMPT
    assert idle_action(3.0, prompted=True, limit_seconds=LIMIT) is IdleAction.WAIT
    assert idle_action(8.0, prompted=True, limit_seconds=LIMIT) is IdleAction.HANG_UP


def test_a_caller_who_only_says_they_are_there_is_told_the_agent_is_listening():
    from services.gateway.idle import says_present

    assert all(says_present(words) for words in ("Yes.", "Yeah, I'm here.", "Hello? Still here.", "sorry, yes"))
    assert not says_present("Yes, what time do you open?")
