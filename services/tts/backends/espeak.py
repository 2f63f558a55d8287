"""espeak-ng (the Debian package): tiny and robotic, the fallback when Piper cannot load."""

from __future__ import annotations

import shutil
import subprocess

from services.common.audio import WAV, Audio, decode
from services.common.openai_client import ProviderError
from services.tts.backends.base import UnknownVoiceError

WORDS_PER_MINUTE = 165


class EspeakSynthesizer:
    provider = "local"
    default_voice = "en-us"

    def __init__(self) -> None:
        self.voices: set[str] = set()

    def load(self) -> None:
        if shutil.which("espeak-ng") is None:
            raise ProviderError("espeak-ng is not installed (apt-get install espeak-ng)")
        # espeak-ng silently speaks with its default voice when given an unknown one: check names ourselves.
        listing = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True, timeout=10, check=True).stdout
        self.voices = {line.split()[1] for line in listing.splitlines()[1:] if len(line.split()) > 1}

    def synthesize(self, text: str, voice: str, speaking_rate: float) -> Audio:
        if voice and voice not in self.voices:
            raise UnknownVoiceError(f"unknown voice {voice!r}; espeak-ng has languages such as en-us, en-gb")
        command = ["espeak-ng", "--stdout", "-v", voice or self.default_voice, "-s", str(int(WORDS_PER_MINUTE * speaking_rate))]
        result = subprocess.run(command + ["--", text], capture_output=True, timeout=30, check=False)
        if result.returncode != 0 or not result.stdout:
            raise ProviderError(f"espeak-ng failed: {result.stderr.decode(errors='replace').strip()}")
        return decode(result.stdout, WAV)
