"""Live endpointing: where a turn starts and ends in a stream of 20 ms frames.

The speech detector is injected; these tests use a loud tone as speech so the state machine is tested on its
own (tests/unit/test_vad.py tests the voice activity detector on speech and noise)."""

import numpy as np

from services.common.audio import rms_dbfs
from services.stt.endpointing import Endpointer

RATE = 8000


def speech(seconds, level=0.3):
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * 300 * t) * (1 + 0.5 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


def silence(seconds):
    return np.zeros(int(seconds * RATE), dtype=np.float32)


def loud(frame: np.ndarray) -> bool:
    return rms_dbfs(frame) >= -40


def endpointer(end_silence_ms=600, max_seconds=30.0, pause_ms=0, incomplete_silence_ms=0):
    return Endpointer(
        RATE, loud, min_speech_ms=120, end_silence_ms=end_silence_ms, max_utterance_seconds=max_seconds, pause_ms=pause_ms,
        incomplete_silence_ms=incomplete_silence_ms,
    )


def feed_in_frames(detector, signal, frame_ms=20, log=None):
    """Feed 20 ms frames; `log` (if given) collects (seconds fed so far, event name, utterance) in order."""
    step = RATE * frame_ms // 1000
    starts, finished = [], []
    for offset in range(0, len(signal), step):
        events = detector.feed(signal[offset : offset + step])
        now = (offset + step) / RATE
        if events.started_at is not None:
            starts.append(events.started_at)
        finished.extend(events.finished)
        if log is not None:
            log += [(now, "resumed", None)] * events.resumed + [(now, "paused", events.paused)] * (events.paused is not None)
            log += [(now, "finished", utterance) for utterance in events.finished]
    return starts, finished


def test_two_utterances_are_found_with_their_times():
    signal = np.concatenate([silence(0.5), speech(1.0), silence(0.8), speech(0.6), silence(0.8)])
    starts, finished = feed_in_frames(endpointer(), signal)
    assert len(starts) == 2 and len(finished) == 2
    assert abs(starts[0] - 0.3) < 0.05  # includes 200 ms of pre-roll before 0.5 s
    assert abs(finished[0].end_seconds - 1.5) < 0.05
    assert abs(starts[1] - 2.1) < 0.05
    assert 1.0 <= len(finished[0].samples) / RATE <= 1.5


def test_a_pause_shorter_than_the_end_silence_does_not_split_an_utterance():
    signal = np.concatenate([speech(0.8), silence(0.3), speech(0.8), silence(1.0)])
    _, finished = feed_in_frames(endpointer(end_silence_ms=600), signal)
    assert len(finished) == 1


def test_a_shorter_end_silence_answers_sooner():
    signal = np.concatenate([speech(0.8), silence(1.0)])
    slow, fast = [], []
    feed_in_frames(endpointer(end_silence_ms=800), signal, log=slow)
    feed_in_frames(endpointer(end_silence_ms=200), signal, log=fast)
    assert [name for _, name, _ in slow] == [name for _, name, _ in fast] == ["finished"]
    assert abs(slow[0][0] - 1.6) < 0.05 and abs(fast[0][0] - 1.0) < 0.05
    assert abs(slow[0][2].end_seconds - fast[0][2].end_seconds) < 0.03  # the same end of speech, found sooner


def test_a_pause_is_reported_with_the_speech_so_far_and_speech_after_it_resumes_the_utterance():
    signal = np.concatenate([speech(0.8), silence(0.3), speech(0.6), silence(1.0)])
    log = []
    _, finished = feed_in_frames(endpointer(end_silence_ms=600, pause_ms=200), signal, log=log)
    assert [name for _, name, _ in log] == ["paused", "resumed", "paused", "finished"]
    first_pause, final = log[0][2], log[3][2]
    assert abs(log[0][0] - 1.0) < 0.05 and abs(first_pause.end_seconds - 0.8) < 0.05
    assert 0.8 <= len(first_pause.samples) / RATE <= 1.05
    assert len(finished) == 1 and abs(final.end_seconds - 1.7) < 0.05
    # The last pause became the end: it reported the same speech, 400 ms before the end was certain.
    assert log[2][2].end_seconds == final.end_seconds and abs((log[3][0] - log[2][0]) - 0.4) < 0.03


def test_no_pauses_are_reported_unless_shorter_than_the_end_silence():
    signal = np.concatenate([speech(0.8), silence(1.0)])
    for pause_ms in (0, 600, 900):
        log = []
        feed_in_frames(endpointer(end_silence_ms=600, pause_ms=pause_ms), signal, log=log)
        assert [name for _, name, _ in log] == ["finished"]


def test_a_click_is_not_speech():
    signal = np.concatenate([silence(0.5), speech(0.06), silence(1.0)])
    starts, finished = feed_in_frames(endpointer(), signal)
    assert starts == [] and finished == []


def test_a_caller_who_never_pauses_is_cut_at_the_limit():
    _, finished = feed_in_frames(endpointer(max_seconds=2.0), speech(5.0))
    assert len(finished) == 2
    assert all(len(u.samples) / RATE <= 2.3 for u in finished)


def test_speech_still_going_at_the_end_is_flushed():
    detector = endpointer()
    feed_in_frames(detector, speech(1.0))
    assert detector.in_speech
    assert detector.flush() is not None and not detector.in_speech


def feed_until_undecided(detector, signal):
    """Feed 20 ms frames until the endpointer asks for a verdict; the seconds fed by then."""
    step = RATE // 50
    for offset in range(0, len(signal), step):
        if detector.feed(signal[offset : offset + step]).undecided is not None:
            return (offset + step) / RATE
    return None


def test_with_verdicts_a_pause_of_the_end_silence_asks_whether_the_words_are_complete():
    detector = endpointer(end_silence_ms=250, pause_ms=150, incomplete_silence_ms=1500)
    asked_at = feed_until_undecided(detector, np.concatenate([speech(0.8), silence(2.0)]))
    assert abs(asked_at - 1.04) < 0.03  # 0.8 s of speech, then 240 ms (12 frames) of silence
    finished = detector.decide(complete=True)
    assert finished is not None and abs(finished.end_seconds - 0.8) < 0.03 and not detector.in_speech


def test_an_incomplete_phrase_waits_for_the_longer_silence_and_speech_after_it_continues_the_turn():
    detector = endpointer(end_silence_ms=250, pause_ms=150, incomplete_silence_ms=1500)
    feed_until_undecided(detector, np.concatenate([speech(0.8), silence(0.3)]))
    assert detector.decide(complete=False) is None
    log = []
    _, finished = feed_in_frames(detector, np.concatenate([silence(0.6), speech(0.6), silence(0.2)]), log=log)
    assert finished == [] and detector.in_speech
    assert [name for _, name, _ in log] == ["resumed", "paused"]


def test_an_incomplete_phrase_still_ends_the_turn_after_the_longest_wait():
    detector = endpointer(end_silence_ms=250, pause_ms=150, incomplete_silence_ms=1500)
    feed_until_undecided(detector, np.concatenate([speech(0.8), silence(0.3)]))
    detector.decide(complete=False)
    log = []
    _, finished = feed_in_frames(detector, silence(2.0), log=log)
    assert len(finished) == 1 and abs(finished[0].end_seconds - 0.8) < 0.03
    assert abs(log[-1][0] - (1.5 - 0.24)) < 0.05  # 1.5 s of silence after the speech, 0.24 s of it fed before


def test_without_verdicts_the_end_silence_alone_ends_the_turn():
    for incomplete_silence_ms in (0, 200):  # off, or not longer than the end silence
        detector = endpointer(end_silence_ms=250, pause_ms=150, incomplete_silence_ms=incomplete_silence_ms)
        assert feed_until_undecided(detector, np.concatenate([speech(0.8), silence(1.0)])) is None


def test_a_pause_in_the_same_frame_as_the_end_silence_is_no_pause():
    detector = endpointer(end_silence_ms=259, pause_ms=250, incomplete_silence_ms=1500)
    assert detector.pause_frames == 0 and detector.incomplete_silence_frames == 0
