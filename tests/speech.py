"""A caller's words as a phone line carries them, from the offline voice, for tests that need real speech
(the voice activity detector does not take a tone for a person)."""

from __future__ import annotations

from functools import cache

from services.common import audio

TELEPHONE_RATE = 8000


@cache
def spoken_mulaw(text: str) -> bytes:
    """`text` said by Piper, as 8 kHz mu-law."""
    from services.tts.backends.piper import PiperSynthesizer

    voice = PiperSynthesizer()
    voice.load()
    return audio.mulaw_encode(voice.synthesize(text, "", 1.0).resampled(TELEPHONE_RATE).samples)
