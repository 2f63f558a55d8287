"""The local voices: Piper by default, espeak-ng when Piper cannot load."""

from __future__ import annotations

import numpy as np
import pytest

from services.common import audio
from services.common.providers import ProviderMeter
from services.tts.backends import FallbackSynthesizer
from services.tts.backends.base import UnknownVoiceError
from services.tts.backends.espeak import EspeakSynthesizer
from services.tts.backends.piper import PiperSynthesizer
from services.tts.speech import InvalidSpeechRequestError, Speaker


class BrokenVoice:
    """A primary voice whose model is missing."""

    provider = "local"
    default_voice = "broken"

    def load(self) -> None:
        raise FileNotFoundError("en_US-joe-medium.onnx not found")

    def synthesize(self, text: str, voice: str, speaking_rate: float):
        raise AssertionError("must not be used after failing to load")


def test_espeak_speaks():
    synthesizer = EspeakSynthesizer()
    synthesizer.load()
    speech = synthesizer.synthesize("We open at ten on Saturday.", "", 1.0)
    assert speech.sample_rate == 22050 and 1.0 < speech.duration_seconds < 4.0
    assert np.abs(speech.samples).max() > 0.1


def test_espeak_refuses_voices_it_does_not_have():
    synthesizer = EspeakSynthesizer()
    synthesizer.load()
    assert synthesizer.synthesize("Hello there.", "en-gb", 1.0).duration_seconds > 0.3
    with pytest.raises(UnknownVoiceError, match="no-such-voice"):
        synthesizer.synthesize("Hello.", "no-such-voice", 1.0)


def test_when_piper_cannot_load_espeak_takes_over(caplog):
    synthesizer = FallbackSynthesizer(BrokenVoice(), EspeakSynthesizer())
    synthesizer.load()
    assert isinstance(synthesizer.active, EspeakSynthesizer) and synthesizer.default_voice == "en-us"
    assert synthesizer.synthesize("Thanks for calling.", "", 1.0).duration_seconds > 0.5
    assert any(record.getMessage() == "tts.primary_unavailable" for record in caplog.records)


def test_piper_speaks_faster_when_asked_and_refuses_unknown_voices():
    synthesizer = PiperSynthesizer()
    synthesizer.load()
    normal = synthesizer.synthesize("We open at ten on Saturday.", "", 1.0)
    fast = synthesizer.synthesize("We open at ten on Saturday.", "en_US-joe-medium", 1.5)
    assert normal.sample_rate == 22050 and fast.duration_seconds < normal.duration_seconds * 0.85
    with pytest.raises(UnknownVoiceError):
        synthesizer.synthesize("Hello.", "en_GB-alba-medium", 1.0)


def test_piper_says_the_same_text_the_same_way_every_time():
    synthesizer = PiperSynthesizer()
    synthesizer.load()
    first, second = (synthesizer.synthesize("A basic tune-up costs 75 dollars.", "", 1.0) for _ in range(2))
    np.testing.assert_array_equal(first.samples, second.samples)


@pytest.mark.parametrize("engine", [EspeakSynthesizer, PiperSynthesizer])
def test_control_characters_in_a_request_are_never_sent_to_the_engine(engine, tmp_path):
    # Found by fuzzing over gRPC: a NUL reached espeak-ng's argv and Piper's C string, and the request failed INTERNAL.
    synthesizer = engine()
    synthesizer.load()
    speaker = Speaker(synthesizer, ProviderMeter("tts", tmp_path), 2000)
    spoken = speaker.synthesize("We open\x00 at ten.\x1b", "", audio.WAV, 0, 1.0, "acme")
    assert spoken.spoken_text == "We open at ten." and spoken.duration_seconds > 0.5
    assert speaker.speak_sentence("\x07Hello.", "", audio.MULAW, 8000, 1.0, "acme").spoken_text == "Hello."
    with pytest.raises(InvalidSpeechRequestError, match="empty"):
        speaker.synthesize("\x00\x07 \x1f", "", audio.WAV, 0, 1.0, "acme")
