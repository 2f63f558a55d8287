"""Speech synthesisers behind one interface, chosen by `TTS_BACKEND`."""

from __future__ import annotations

from services.common.audio import Audio
from services.common.logs import get_logger
from services.tts.backends.base import SpeechSynthesizer
from services.tts.config import TtsSettings

log = get_logger(__name__)

__all__ = ["SpeechSynthesizer", "create_synthesizer"]


class FallbackSynthesizer:
    """Piper when it loads, espeak-ng when it does not: the caller must hear something."""

    def __init__(self, primary: SpeechSynthesizer, fallback: SpeechSynthesizer) -> None:
        self.provider = primary.provider
        self._primary, self._fallback = primary, fallback
        self.active: SpeechSynthesizer = primary

    @property
    def default_voice(self) -> str:
        return self.active.default_voice

    def load(self) -> None:
        try:
            self._primary.load()
        except Exception as error:  # noqa: BLE001 - any load failure means: use the fallback
            log.warning("tts.primary_unavailable", error=str(error), fallback="espeak-ng")
            self._fallback.load()
            self.active = self._fallback

    def synthesize(self, text: str, voice: str, speaking_rate: float) -> Audio:
        return self.active.synthesize(text, voice, speaking_rate)


def create_synthesizer(settings: TtsSettings) -> SpeechSynthesizer:
    from services.tts.backends.espeak import EspeakSynthesizer

    if settings.backend == "polly":
        from services.tts.backends.polly import PollySynthesizer

        return PollySynthesizer(
            settings.polly_voice, settings.polly_engine, settings.aws_region, settings.polly_endpoint_url, settings.polly_timeout_seconds
        )
    if settings.backend == "espeak":
        return EspeakSynthesizer()
    from services.tts.backends.piper import PiperSynthesizer

    return FallbackSynthesizer(PiperSynthesizer(), EspeakSynthesizer())
