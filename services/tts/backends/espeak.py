"""espeak-ng (the Debian package): tiny and robotic, the fallback when Piper cannot load."""

from __future__ import annotations

import shutil
import subprocess

from services.common.audio import WAV, Audio, decode
from services.common.openai_client import ProviderError

WORDS_PER_MINUTE = 165


class EspeakSynthesizer:
    provider = "local"
    default_voice = "en-us"

    def load(self) -> None:
        if shutil.which("espeak-ng") is None:
            raise ProviderError("espeak-ng is not installed (apt-get install espeak-ng)")

    def synthesize(self, text: str, voice: str, speaking_rate: float) -> Audio:
        command = ["espeak-ng", "--stdout", "-v", voice or self.default_voice, "-s", str(int(WORDS_PER_MINUTE * speaking_rate))]
        result = subprocess.run(command + ["--", text], capture_output=True, timeout=30, check=False)
        if result.returncode != 0 or not result.stdout:
            raise ProviderError(f"espeak-ng failed: {result.stderr.decode(errors='replace').strip()}")
        return decode(result.stdout, WAV)
