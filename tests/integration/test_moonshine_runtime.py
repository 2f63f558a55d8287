"""Our Moonshine runtime says exactly what the package's own runtime says, on telephone audio."""

from __future__ import annotations

import numpy as np
import pytest

from services.common import audio
from services.stt.backends.base import RECOGNIZER_RATE
from services.stt.backends.moonshine import MoonshineRecognizer
from services.tts.backends.piper import VOICE, PiperSynthesizer
from tests.conftest import SPOKEN_QUESTIONS

pytestmark = pytest.mark.slow


def test_the_optimised_runtime_transcribes_as_the_package_does(tmp_path):
    import moonshine_cpp

    piper, ours = PiperSynthesizer(), MoonshineRecognizer()
    piper.load()
    ours.load()
    theirs = moonshine_cpp.MoonshineModel(suppress_copyright_notice=True)
    for index, question in enumerate(SPOKEN_QUESTIONS):
        spoken = piper.synthesize(question, VOICE, 1.0)
        telephone = audio.mulaw_decode(audio.mulaw_encode(audio.resample(spoken.samples, spoken.sample_rate, 8000)))
        clip = audio.Audio(audio.resample(telephone, 8000, RECOGNIZER_RATE).astype(np.float32), RECOGNIZER_RATE)
        wav = tmp_path / f"question-{index}.wav"
        wav.write_bytes(audio.wav_bytes(clip))
        assert ours.transcribe(clip, "en").text == theirs.transcribe_wav(str(wav)).strip(), question
