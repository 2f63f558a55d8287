"""Voice activity from Silero VAD: speech is speech, steady noise is not, at telephone and other rates."""

import numpy as np
import pytest

from services.common import audio
from services.common.vad import VoiceActivity, contains_speech

RATE = 8000


@pytest.fixture(scope="module")
def spoken() -> np.ndarray:
    """A sentence from the offline voice, as a phone line carries it (8 kHz mu-law)."""
    from services.tts.backends.piper import PiperSynthesizer

    voice = PiperSynthesizer()
    voice.load()
    samples = voice.synthesize("Hello, I would like to know when you open on Saturday.", "", 1.0).resampled(RATE).samples
    return audio.mulaw_decode(audio.mulaw_encode(samples))


def noise(seconds: float, dbfs: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 10 ** (dbfs / 20), int(seconds * RATE)).astype(np.float32)


def speech_frames(detector: VoiceActivity, signal: np.ndarray) -> list[bool]:
    return [detector.feed(signal[start : start + 160]) for start in range(0, len(signal), 160)]


def test_speech_is_speech_from_its_first_syllables_to_a_little_after_its_end(spoken):
    frames = speech_frames(VoiceActivity(RATE), np.concatenate([np.zeros(RATE, np.float32), spoken, np.zeros(RATE, np.float32)]))
    first, last = frames.index(True), len(frames) - 1 - frames[::-1].index(True)
    speech_start, speech_end = 50, 50 + len(spoken) // 160
    assert speech_start <= first <= speech_start + 15
    assert speech_end - 10 <= last <= speech_end + 15


@pytest.mark.parametrize("dbfs", [-45, -35, -30])
def test_steady_noise_that_is_louder_than_the_old_loudness_threshold_is_not_speech(dbfs):
    assert not any(speech_frames(VoiceActivity(RATE), noise(5.0, dbfs)))


def test_speech_under_noise_is_still_speech_and_ends(spoken):
    line = np.concatenate([noise(1.0, -35, 1), spoken + noise(len(spoken) / RATE, -35, 2), noise(2.0, -35, 3)])
    frames = speech_frames(VoiceActivity(RATE), line)
    assert any(frames) and not any(frames[-50:])  # detected, and over by the last second of noise


@pytest.mark.parametrize("rate", [16000, 44100])
def test_other_sample_rates_are_resampled_for_the_model(spoken, rate):
    resampled = audio.resample(spoken, RATE, rate)
    assert contains_speech(resampled, rate)
    assert not contains_speech(audio.resample(noise(3.0, -35), RATE, rate), rate)


def test_a_recording_of_silence_or_noise_contains_no_speech(spoken):
    assert contains_speech(spoken, RATE)
    assert not contains_speech(np.zeros(5 * RATE, np.float32), RATE)
    assert not contains_speech(noise(5.0, -30), RATE)
