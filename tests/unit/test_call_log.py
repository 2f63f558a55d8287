"""What the gateway hands the call store: turns numbered once, barge-ins updating their turn, numbers masked."""

from services.gateway.call_log import CallLog, fallback_reasons, mask_digits
from services.gateway.sessions import CallSession


class RecorderDouble:
    """Keeps what the gateway submitted, as the recorder would accept it."""

    def __init__(self) -> None:
        self.turns: list[dict] = []

    def turn_recorded(self, call_sid, org_id, turn_index, caller_text, answer_text, sources=(), **details) -> bool:
        self.turns.append({"index": turn_index, "caller": caller_text, "answer": answer_text, **details})
        return True


def test_a_barge_in_updates_the_turn_it_cut_short_rather_than_adding_one():
    recorder, session = RecorderDouble(), CallSession(call_sid="CA1", org_id="acme")
    log = CallLog(recorder)
    index = log.turn(session, "Where can I park?", "Parking is behind the shop. It is free.")
    assert log.turn(session, "Where can I park?", "Parking is behind the shop.", barge_in=True, index=index) == index
    assert [turn["index"] for turn in recorder.turns] == [1, 1] and recorder.turns[-1]["barge_in"]
    assert log.turn(session, "And on Sundays?", "We are closed.") == 2


def test_a_private_turn_never_stores_the_digits_of_a_phone_number():
    recorder, session = RecorderDouble(), CallSession(call_sid="CA1", org_id="acme")
    CallLog(recorder).turn(session, "five oh three five five five oh one four two", "I have 5 0 3, 5 5 5, 0 1 4 2. Is that right?", private=True)
    assert recorder.turns[0]["caller"] == "[number]" and recorder.turns[0]["answer"] == "I have [number]. Is that right?"
    assert mask_digits("I'd like to rent two kayaks") == "I'd like to rent two kayaks"
    assert mask_digits("call 503-555-0142 or 4155550123") == "call [number] or [number]"


def test_a_fallback_turn_means_the_agent_needed_help():
    recorder, session = RecorderDouble(), CallSession(call_sid="CA1", org_id="acme")
    CallLog(recorder).turn(session, "Do you sell pianos?", "I'm not sure.", fallback_reasons=fallback_reasons([], unanswered=True))
    assert session.needed_help and recorder.turns[0]["fallback_reasons"] == ["not_in_documents"]
    assert mask_digits("no digits here") == "no digits here"
