"""Our Moonshine runtime says exactly what the package's own runtime says, on telephone audio.

The package's native runtime dies with SIGILL ("Illegal instruction") on x86-64
CPUs without AVX-512, which would kill the whole test run, so it runs in a
child process: on such a CPU this test is skipped with the reason, and the
rest of the suite goes on. Our runtime (onnxruntime) runs everywhere.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest

from services.common import audio
from services.stt.backends.base import RECOGNIZER_RATE
from services.stt.backends.moonshine import MoonshineRecognizer
from services.tts.backends.piper import VOICE, PiperSynthesizer
from tests.conftest import SPOKEN_QUESTIONS

pytestmark = pytest.mark.slow

PACKAGE_RUNTIME = """
import json, sys
import moonshine_cpp
model = moonshine_cpp.MoonshineModel(suppress_copyright_notice=True)
print(json.dumps([model.transcribe_wav(path).strip() for path in sys.argv[1:]]))
"""


def run_native(code: str, *args: str) -> str:
    """Standard output of `code` run in a child process; a skip, saying why, when the CPU cannot run it."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    if done.returncode == -signal.SIGILL:
        pytest.skip("moonshine-cpp's native runtime needs AVX-512, which this CPU lacks (it died with SIGILL)")
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_native_crash_on_this_cpu_skips_instead_of_killing_the_run():
    with pytest.raises(pytest.skip.Exception, match="AVX-512"):
        run_native("import os, signal; os.kill(os.getpid(), signal.SIGILL)")


def test_the_optimised_runtime_transcribes_as_the_package_does(tmp_path):
    piper, ours = PiperSynthesizer(), MoonshineRecognizer()
    piper.load()
    ours.load()
    paths, transcripts = [], []
    for index, question in enumerate(SPOKEN_QUESTIONS):
        spoken = piper.synthesize(question, VOICE, 1.0)
        telephone = audio.mulaw_decode(audio.mulaw_encode(audio.resample(spoken.samples, spoken.sample_rate, 8000)))
        clip = audio.Audio(audio.resample(telephone, 8000, RECOGNIZER_RATE).astype(np.float32), RECOGNIZER_RATE)
        wav = tmp_path / f"question-{index}.wav"
        wav.write_bytes(audio.wav_bytes(clip))
        paths.append(str(wav))
        transcripts.append(ours.transcribe(clip, "en").text)
    assert transcripts == json.loads(run_native(PACKAGE_RUNTIME, *paths).strip().splitlines()[-1])
