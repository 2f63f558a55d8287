"""The text-to-speech work, independent of gRPC: normalise, split into sentences, synthesise, encode."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.audio import LINEAR16, MP3, MULAW, UNSPECIFIED, WAV, AudioDecodeError, check_sample_rate, encode
from services.common.generated.voiceagent.v1 import common_pb2
from services.common.providers import ProviderMeter
from services.common.sentences import split_sentences
from services.tts.backends.base import SpeechSynthesizer
from services.tts.normalise import normalise_for_speech, speakable

_SUPPORTED = {LINEAR16, WAV, MULAW, MP3, UNSPECIFIED}


class InvalidSpeechRequestError(ValueError):
    pass


@dataclass(frozen=True)
class SpokenAudio:
    audio: bytes
    encoding: int
    sample_rate: int
    duration_seconds: float
    text: str
    # What the engine was sent: the text normalised for speech.
    spoken_text: str
    usage: common_pb2.Usage


class Speaker:
    def __init__(self, synthesizer: SpeechSynthesizer, meter: ProviderMeter, max_characters: int) -> None:
        self.synthesizer = synthesizer
        self.meter = meter
        self.max_characters = max_characters

    def _validate(self, text: str, encoding: int, sample_rate: int, speaking_rate: float) -> None:
        if not speakable(text).strip():
            raise InvalidSpeechRequestError("text is empty")
        if len(text) > self.max_characters:
            raise InvalidSpeechRequestError(f"text is {len(text)} characters; the limit is {self.max_characters} (TTS_MAX_TEXT_CHARACTERS)")
        if encoding not in _SUPPORTED:
            raise InvalidSpeechRequestError(f"unsupported output encoding {encoding}")
        if not 0.5 <= speaking_rate <= 2.0:
            raise InvalidSpeechRequestError("speaking_rate must be between 0.5 and 2.0 (0 means 1.0)")
        try:
            check_sample_rate(sample_rate)
        except AudioDecodeError as exc:
            raise InvalidSpeechRequestError(str(exc)) from exc

    def _speak(
        self, text: str, voice: str, encoding: int, sample_rate: int, speaking_rate: float, org_id: str, language: str
    ) -> SpokenAudio:
        spoken = normalise_for_speech(text, language)
        with self.meter.call(self.synthesizer.provider):
            audio = self.synthesizer.synthesize(spoken, voice, speaking_rate)
        try:
            data, rate = encode(audio, encoding or WAV, sample_rate)
        except AudioDecodeError as exc:
            raise InvalidSpeechRequestError(str(exc)) from exc
        # Billed on what the engine was sent: the normalised text.
        usage = self.meter.record(self.synthesizer.provider, org_id, "characters", len(spoken))
        return SpokenAudio(data, encoding or WAV, rate, audio.duration_seconds, text, spoken, usage)

    def synthesize(
        self, text: str, voice: str, encoding: int, sample_rate: int, speaking_rate: float, org_id: str, language: str = ""
    ) -> SpokenAudio:
        """`language` is the org's BCP 47 tag: its region decides how phone numbers and dates are read (default US)."""
        speaking_rate = speaking_rate or 1.0
        self._validate(text, encoding, sample_rate, speaking_rate)
        return self._speak(text, voice, encoding, sample_rate, speaking_rate, org_id, language)

    def sentences(self, text: str, encoding: int, sample_rate: int, speaking_rate: float) -> list[str]:
        """Validate a streaming request and cut it into the sentences it will stream."""
        self._validate(text, encoding, sample_rate, speaking_rate or 1.0)
        return split_sentences(text)

    def speak_sentence(
        self, sentence: str, voice: str, encoding: int, sample_rate: int, speaking_rate: float, org_id: str, language: str = ""
    ) -> SpokenAudio:
        return self._speak(sentence, voice, encoding, sample_rate, speaking_rate or 1.0, org_id, language)

