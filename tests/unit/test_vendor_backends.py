"""Vendor backends through their real SDKs against local servers speaking the vendors' HTTP APIs."""

from __future__ import annotations

import io

import pytest
import soundfile

from services.common import audio
from services.common.audio import Audio
from services.common.generated.voiceagent.v1 import llm_pb2
from services.common.openai_client import ProviderError
from services.llm.backends.base import GenerationOptions
from services.llm.backends.openai import OpenAIChat
from services.stt.backends.openai import OpenAIWhisper
from services.tts.backends.base import UnknownVoiceError
from services.tts.backends.polly import PollySynthesizer
from tests.fakes.polly_server import TONE_HZ
from tests.unit.test_audio import dominant_hz, tone

OPTIONS = GenerationOptions(max_tokens=120, max_sentences=2, temperature=0.2, fallback="Let me get someone to call you back.")


def whisper(fake, **overrides):
    settings = dict(api_key=fake.api_key, base_url=fake.base_url, model="whisper-1", timeout_seconds=10)
    return OpenAIWhisper(**{**settings, **overrides})


def test_whisper_gets_16khz_wav_and_returns_its_text(fake_openai):
    recognition = whisper(fake_openai).transcribe(Audio(tone(seconds=1.5, rate=16000), 16000), "en-US")
    assert recognition.text == fake_openai.transcript
    [call] = fake_openai.requests
    assert call["path"] == "/v1/audio/transcriptions"
    assert call["body"]["model"] == "whisper-1" and call["body"]["language"] == "en"
    assert call["body"]["response_format"] == "verbose_json"
    samples, rate = soundfile.read(io.BytesIO(call["body"]["file"]))
    assert rate == 16000 and len(samples) == 24000


def test_whisper_failures_are_provider_errors(fake_openai):
    fake_openai.fail_with = 500
    with pytest.raises(ProviderError, match="OpenAI transcription failed"):
        whisper(fake_openai).transcribe(Audio(tone(), 16000), "")
    with pytest.raises(ProviderError, match="OPENAI_API_KEY"):
        whisper(fake_openai, api_key="").load()


def chat_request():
    return llm_pb2.GenerateRequest(
        org_id="acme",
        persona="You are Acme's assistant.",
        question="When do you open on Saturday?",
        context=[llm_pb2.ContextChunk(text="Saturday 10 to 4.", document="hours.md", chunk_id="hours.md#0")],
    )


def chat(fake):
    return OpenAIChat(fake.api_key, fake.base_url, "gpt-4o", 10)


def test_chat_completion_is_grounded_and_spoken(fake_openai):
    answer = chat(fake_openai).generate(chat_request(), OPTIONS)
    assert answer.text == "Sure! We open at ten on Saturdays."  # markdown gone, cut to two sentences
    assert (answer.prompt_tokens, answer.completion_tokens) == (120, 18)
    assert answer.citations == ["hours.md#0"] and not answer.fallback
    body = fake_openai.requests[0]["body"]
    assert body["model"] == "gpt-4o" and body["max_tokens"] == 120 and not body.get("stream")
    assert "Saturday 10 to 4." in body["messages"][0]["content"]
    assert body["messages"][-1] == {"role": "user", "content": "When do you open on Saturday?"}


def test_chat_streams_token_deltas_then_the_whole_answer(fake_openai):
    pieces = list(chat(fake_openai).stream(chat_request(), OPTIONS))
    deltas = [piece.text for piece in pieces if piece.answer is None]
    assert len(deltas) > 5 and deltas[0] == "Sure! "
    final = pieces[-1].answer
    assert final.text == "Sure! We open at ten on Saturdays."
    assert (final.prompt_tokens, final.completion_tokens) == (120, 18)
    body = fake_openai.requests[0]["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_a_model_that_says_the_fallback_is_marked_as_fallback(fake_openai):
    fake_openai.chat_reply = "I don't have that information. Let me get someone to call you back."
    assert chat(fake_openai).generate(chat_request(), OPTIONS).fallback


def test_chat_failures_are_provider_errors(fake_openai):
    fake_openai.fail_with = 503
    with pytest.raises(ProviderError):
        chat(fake_openai).generate(chat_request(), OPTIONS)
    with pytest.raises(ProviderError):
        list(chat(fake_openai).stream(chat_request(), OPTIONS))


def polly(fake, voice="Joanna"):
    return PollySynthesizer(voice, "neural", "us-east-1", fake.endpoint_url, timeout_seconds=5)


def test_polly_neural_pcm_becomes_telephone_audio(fake_polly):
    synthesizer = polly(fake_polly)
    synthesizer.load()
    speech = synthesizer.synthesize("We open at ten.", "", 1.0)
    assert speech.sample_rate == 16000
    assert speech.duration_seconds == pytest.approx(len("We open at ten.") * 0.02, abs=0.01)
    assert abs(dominant_hz(speech.samples, 16000) - TONE_HZ) < 5
    data, rate = audio.encode(speech, audio.MULAW)
    assert rate == 8000 and abs(dominant_hz(audio.decode(data, audio.MULAW).samples, 8000) - TONE_HZ) < 5
    [call] = fake_polly.requests
    assert call["body"] == {
        "Engine": "neural", "OutputFormat": "pcm", "SampleRate": "16000", "Text": "We open at ten.", "TextType": "text", "VoiceId": "Joanna",
    }
    assert call["auth"].startswith("AWS4-HMAC-SHA256 Credential=test-access-key/")


def test_polly_unknown_voice_and_outage(fake_polly):
    with pytest.raises(UnknownVoiceError, match="Bogus"):
        polly(fake_polly).synthesize("Hello there.", "Bogus", 1.0)
    fake_polly.fail_with = 500
    with pytest.raises(ProviderError, match="Polly failed"):
        polly(fake_polly).synthesize("Hello there.", "", 1.0)


def test_polly_without_credentials_refuses_to_start(monkeypatch, fake_polly, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ProviderError, match="AWS credentials"):
        polly(fake_polly).load()
