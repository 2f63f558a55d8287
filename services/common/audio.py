"""Audio in and out of the services: decode, resample, G.711 mu-law, WAV/MP3 encoding.

Inside the services audio is always mono float32 in [-1, 1] with its sample
rate (`Audio`); bytes exist only at the edges. Decoding of containers (WAV,
MP3) is libsndfile's, through soundfile; resampling is soxr's (a proper
band-limited resampler, which speech recognisers need for 8 kHz telephone
audio); mu-law is G.711 done here in numpy so it is exact and fast.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile
import soxr

from services.common.generated.voiceagent.v1 import common_pb2

LINEAR16 = common_pb2.AUDIO_ENCODING_LINEAR16
WAV = common_pb2.AUDIO_ENCODING_WAV
MULAW = common_pb2.AUDIO_ENCODING_MULAW
MP3 = common_pb2.AUDIO_ENCODING_MP3
UNSPECIFIED = common_pb2.AUDIO_ENCODING_UNSPECIFIED
TELEPHONY_RATE = 8000

_MULAW_BIAS = 0x84
_MULAW_CLIP = 8159


class AudioDecodeError(ValueError):
    """The bytes are not audio in the stated (or any recognisable) format."""


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray
    sample_rate: int

    @property
    def duration_seconds(self) -> float:
        return len(self.samples) / self.sample_rate if self.sample_rate else 0.0

    def resampled(self, rate: int) -> Audio:
        return Audio(resample(self.samples, self.sample_rate, rate), rate)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    if from_rate == to_rate or len(samples) == 0:
        return np.asarray(samples, dtype=np.float32)
    return soxr.resample(np.asarray(samples, dtype=np.float32), from_rate, to_rate, quality="HQ").astype(np.float32)


def mulaw_encode(samples: np.ndarray) -> bytes:
    """G.711 mu-law bytes of float samples (8 bits per sample), bit-exact with the reference codec."""
    pcm = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int32)
    value = pcm >> 2  # G.711 works on 14-bit samples
    mask = np.where(value < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(value), _MULAW_CLIP) + (_MULAW_BIAS >> 2)
    segment = np.floor(np.log2(magnitude)).astype(np.int32) - 5
    code = np.where(segment > 7, 0x7F, (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F))
    return ((code ^ mask) & 0xFF).astype(np.uint8).tobytes()


def _mulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (codes >> 4) & 0x07
    magnitude = (((codes & 0x0F) << 3) + _MULAW_BIAS) << exponent
    values = magnitude - _MULAW_BIAS
    return (np.where(codes & 0x80, -values, values) / 32768.0).astype(np.float32)


_MULAW_DECODE = _mulaw_table()


def mulaw_decode(data: bytes) -> np.ndarray:
    return _MULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def pcm16_bytes(samples: np.ndarray) -> bytes:
    return np.clip(np.round(np.asarray(samples) * 32767.0), -32768, 32767).astype("<i2").tobytes()


def pcm16_decode(data: bytes) -> np.ndarray:
    if len(data) % 2:
        raise AudioDecodeError("16-bit PCM needs an even number of bytes")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def _container(data: bytes, kind: str) -> Audio:
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioDecodeError(f"cannot decode {kind} audio: {exc}") from exc
    return Audio(samples.mean(axis=1).astype(np.float32), int(rate))


def sniff_encoding(data: bytes) -> int:
    """WAV or MP3 from their magic bytes, for requests that do not say."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return WAV
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return MP3
    raise AudioDecodeError("audio format not given and the bytes are neither WAV nor MP3: set format.encoding")


# Sample rates the contracts accept (telephony is 8 kHz; speech engines work at 16 to 24 kHz).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 48000


def check_sample_rate(sample_rate: int) -> int:
    """`sample_rate` when the contracts accept it (0 means the encoding's default); AudioDecodeError otherwise."""
    if sample_rate and not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioDecodeError(f"sample_rate_hz must be between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} (0 means the default)")
    return sample_rate


def decode(data: bytes, encoding: int, sample_rate: int = 0) -> Audio:
    """Mono float audio from bytes in one of the contract's encodings."""
    if not data:
        raise AudioDecodeError("audio is empty")
    check_sample_rate(sample_rate)
    if encoding == UNSPECIFIED:
        encoding = sniff_encoding(data)
    if encoding in (WAV, MP3):
        if encoding == WAV and data[:4] != b"RIFF":
            raise AudioDecodeError("not a WAV file (no RIFF header)")
        decoded = _container(data, "WAV" if encoding == WAV else "MP3")
        check_sample_rate(decoded.sample_rate)
        return decoded
    if encoding == MULAW:
        return Audio(mulaw_decode(data), sample_rate or TELEPHONY_RATE)
    if encoding == LINEAR16:
        if not sample_rate:
            raise AudioDecodeError("raw 16-bit PCM needs format.sample_rate_hz")
        return Audio(pcm16_decode(data), sample_rate)
    raise AudioDecodeError(f"unsupported audio encoding {encoding}")


def wav_bytes(audio: Audio) -> bytes:
    """16-bit PCM mono WAV."""
    out = io.BytesIO()
    soundfile.write(out, audio.samples, audio.sample_rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


# The rates MPEG audio defines; libsndfile refuses any other (make fuzz found 8,001 Hz coming back as INTERNAL).
MP3_SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def encode(audio: Audio, encoding: int, sample_rate: int = 0) -> tuple[bytes, int]:
    """Bytes in the requested encoding and the rate they are at (mu-law defaults to 8 kHz)."""
    if encoding == MULAW:
        rate = sample_rate or TELEPHONY_RATE
        return mulaw_encode(audio.resampled(rate).samples), rate
    rate = sample_rate or audio.sample_rate
    converted = audio.resampled(rate)
    if encoding == LINEAR16:
        return pcm16_bytes(converted.samples), rate
    if encoding in (WAV, UNSPECIFIED):
        return wav_bytes(converted), rate
    if encoding == MP3:
        if rate not in MP3_SAMPLE_RATES:
            raise AudioDecodeError(f"MP3 supports sample rates of {', '.join(map(str, MP3_SAMPLE_RATES))} Hz")
        out = io.BytesIO()
        soundfile.write(out, converted.samples, rate, format="MP3")
        return out.getvalue(), rate
    raise AudioDecodeError(f"unsupported audio encoding {encoding}")


# A 20 ms frame at least this loud is speech; quieter is silence or line noise. stt's default threshold,
# the gateway's check that a caller is still talking, and the simulator's end-of-speech clock all use it.
SPEECH_DBFS = -45.0


def rms_dbfs(samples: np.ndarray) -> float:
    """Loudness of a stretch of audio in dB relative to full scale (-inf for digital silence)."""
    if len(samples) == 0:
        return float("-inf")
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    return 10 * np.log10(power) if power > 0 else float("-inf")
