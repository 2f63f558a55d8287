"""The speech-to-text work, independent of gRPC: check the audio, resample, recognise, account."""

from __future__ import annotations

from services.common.audio import Audio, AudioDecodeError, decode
from services.common.generated.voiceagent.v1 import stt_pb2
from services.common.providers import ProviderMeter
from services.common.vad import contains_speech
from services.stt.backends.base import RECOGNIZER_RATE, SpeechRecognizer


class InvalidAudioError(ValueError):
    """The audio cannot be transcribed; the message says why, for the caller."""


class Transcriber:
    def __init__(self, recognizer: SpeechRecognizer, meter: ProviderMeter, max_seconds: float, vad_threshold: float) -> None:
        self.recognizer = recognizer
        self.meter = meter
        self.max_seconds = max_seconds
        self.vad_threshold = vad_threshold

    def decode_checked(self, data: bytes, encoding: int, sample_rate: int) -> Audio:
        """Decoded audio, or InvalidAudioError for empty, undecodable, too long or silent input."""
        try:
            audio = decode(data, encoding, sample_rate)
        except AudioDecodeError as exc:
            raise InvalidAudioError(str(exc)) from exc
        if len(audio.samples) == 0:
            raise InvalidAudioError("audio is empty (no samples after decoding)")
        if audio.duration_seconds > self.max_seconds:
            raise InvalidAudioError(
                f"audio is {audio.duration_seconds:.1f} s long; the limit is {self.max_seconds:g} s (STT_MAX_AUDIO_SECONDS)"
            )
        if not contains_speech(audio.samples, audio.sample_rate, self.vad_threshold):
            raise InvalidAudioError("audio contains no speech (only silence or noise, by voice activity detection)")
        return audio

    def recognise(self, audio: Audio, language: str, org_id: str) -> stt_pb2.Transcript:
        """Transcript of already checked audio, with its usage accounted to the org."""
        with self.meter.call(self.recognizer.provider):
            recognition = self.recognizer.transcribe(audio.resampled(RECOGNIZER_RATE), language)
        usage = self.meter.record(self.recognizer.provider, org_id, "audio_seconds", audio.duration_seconds)
        return stt_pb2.Transcript(
            text=recognition.text,
            confidence=recognition.confidence,
            language=recognition.language or language,
            duration_seconds=audio.duration_seconds,
            usage=usage,
        )

    def transcribe(self, data: bytes, encoding: int, sample_rate: int, language: str, org_id: str) -> stt_pb2.Transcript:
        return self.recognise(self.decode_checked(data, encoding, sample_rate), language, org_id)
