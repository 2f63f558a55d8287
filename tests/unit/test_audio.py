"""Audio helpers: G.711 mu-law, decoding every contract encoding, encoding back, resampling."""

import warnings

import numpy as np
import pytest

from services.common import audio
from services.common.audio import Audio, AudioDecodeError


def tone(seconds=0.5, rate=16000, hz=440.0, level=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def dominant_hz(samples, rate):
    spectrum = np.abs(np.fft.rfft(samples))
    return np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))]


def test_mulaw_encoding_is_bit_exact_with_the_reference_codec():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
    every_sample = np.arange(-32768, 32768, dtype=np.int32)
    reference = audioop.lin2ulaw(every_sample.astype("<i2").tobytes(), 2)
    assert audio.mulaw_encode(every_sample / 32768.0) == reference
    decoded = np.frombuffer(audioop.ulaw2lin(bytes(range(256)), 2), dtype="<i2")
    np.testing.assert_array_equal(np.round(audio.mulaw_decode(bytes(range(256))) * 32768).astype(int), decoded)


def test_mulaw_round_trip_keeps_the_signal():
    signal = tone(rate=8000)
    back = audio.mulaw_decode(audio.mulaw_encode(signal))
    assert np.max(np.abs(back - signal)) < 0.02


@pytest.mark.parametrize("encoding", [audio.WAV, audio.MP3])
def test_containers_round_trip_with_rate_and_pitch(encoding):
    original = Audio(tone(seconds=1.0, rate=16000), 16000)
    data, rate = audio.encode(original, encoding)
    decoded = audio.decode(data, audio.UNSPECIFIED)  # sniffed from the bytes
    assert rate == decoded.sample_rate == 16000
    assert abs(decoded.duration_seconds - 1.0) < 0.1
    assert abs(dominant_hz(decoded.samples, decoded.sample_rate) - 440) < 5


def test_telephony_encoding_resamples_to_8khz_mulaw():
    data, rate = audio.encode(Audio(tone(seconds=1.0, rate=22050), 22050), audio.MULAW)
    assert rate == 8000 and len(data) == 8000
    decoded = audio.decode(data, audio.MULAW)
    assert abs(dominant_hz(decoded.samples, 8000) - 440) < 5


def test_raw_pcm_needs_a_sample_rate_and_even_bytes():
    pcm = audio.pcm16_bytes(tone())
    assert audio.decode(pcm, audio.LINEAR16, 16000).duration_seconds == pytest.approx(0.5)
    with pytest.raises(AudioDecodeError, match="sample_rate_hz"):
        audio.decode(pcm, audio.LINEAR16)
    with pytest.raises(AudioDecodeError, match="even number"):
        audio.decode(pcm[:-1], audio.LINEAR16, 16000)


@pytest.mark.parametrize(
    "data,encoding,message",
    [
        (b"", audio.WAV, "empty"),
        (b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk", audio.WAV, "cannot decode WAV"),
        (b"not a wav at all", audio.WAV, "no RIFF header"),
        (b"\xff\xfb" + bytes(200), audio.MP3, "cannot decode MP3"),
        (b"hello world, definitely not audio", audio.UNSPECIFIED, "neither WAV nor MP3"),
    ],
)
def test_undecodable_bytes_get_a_precise_error(data, encoding, message):
    with pytest.raises(AudioDecodeError, match=message):
        audio.decode(data, encoding)


def test_mp3_is_encoded_only_at_the_rates_mpeg_defines():
    # Found by make fuzz: tts asked for MP3 at 8,001 Hz failed INTERNAL inside libsndfile.
    speech = Audio(tone(rate=22050), 22050)
    data, rate = audio.encode(speech, audio.MP3, 16000)
    assert rate == 16000 and audio.decode(data, audio.MP3).sample_rate == 16000
    with pytest.raises(AudioDecodeError, match="MP3 supports sample rates of 8000, 11025"):
        audio.encode(speech, audio.MP3, 8001)


def test_resampling_keeps_duration_and_pitch():
    resampled = Audio(tone(seconds=1.0, rate=8000), 8000).resampled(16000)
    assert len(resampled.samples) == 16000
    assert abs(dominant_hz(resampled.samples, 16000) - 440) < 5


def test_loudness_in_dbfs():
    assert audio.rms_dbfs(np.zeros(100, np.float32)) == float("-inf")
    assert audio.rms_dbfs(tone(level=1.0)) == pytest.approx(-3.01, abs=0.05)
