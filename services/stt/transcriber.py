"""The speech-to-text work, independent of gRPC: check the audio, resample, recognise, account."""

from __future__ import annotations

import numpy as np

from services.common.audio import Audio, AudioDecodeError, decode, rms_dbfs
from services.common.generated.voiceagent.v1 import stt_pb2
from services.common.providers import ProviderMeter
from services.stt.backends.base import RECOGNIZER_RATE, SpeechRecognizer

FRAME_SECONDS = 0.02


class InvalidAudioError(ValueError):
    """The audio cannot be transcribed; the message says why, for the caller."""


def loudest_frame_dbfs(audio: Audio) -> float:
    """Loudness of the loudest 20 ms frame: one number that separates silence from speech."""
    frame = max(1, int(audio.sample_rate * FRAME_SECONDS))
    usable = len(audio.samples) // frame * frame
    if usable == 0:
        return rms_dbfs(audio.samples)
    power = np.mean(np.square(audio.samples[:usable].reshape(-1, frame), dtype=np.float64), axis=1)
    peak = float(power.max())
    return 10 * np.log10(peak) if peak > 0 else float("-inf")


class Transcriber:
    def __init__(self, recognizer: SpeechRecognizer, meter: ProviderMeter, max_seconds: float, silence_dbfs: float) -> None:
        self.recognizer = recognizer
        self.meter = meter
        self.max_seconds = max_seconds
        self.silence_dbfs = silence_dbfs

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
        loudest = loudest_frame_dbfs(audio)
        if loudest < self.silence_dbfs:
            raise InvalidAudioError(
                f"audio contains only silence (loudest 20 ms at {loudest:.0f} dBFS, speech threshold {self.silence_dbfs:g} dBFS)"
            )
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
