"""Amazon Polly through boto3: neural voices, 16-bit PCM output converted to what was asked."""

from __future__ import annotations

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from services.common.audio import Audio, pcm16_decode
from services.common.openai_client import ProviderError
from services.tts.backends.base import UnknownVoiceError

# Polly's PCM comes at 8000 or 16000 Hz; 16 kHz keeps quality for every target format.
POLLY_PCM_RATE = 16000


class PollySynthesizer:
    provider = "polly"

    def __init__(self, voice: str, engine: str, region: str, endpoint_url: str | None, timeout_seconds: float) -> None:
        self.default_voice = voice
        self.engine = engine
        session = boto3.session.Session(region_name=region)
        self._has_credentials = session.get_credentials() is not None
        self._client = session.client(
            "polly",
            endpoint_url=endpoint_url or None,
            config=Config(connect_timeout=timeout_seconds, read_timeout=timeout_seconds, retries={"max_attempts": 2}),
        )

    def load(self) -> None:
        if not self._has_credentials:
            raise ProviderError("the polly backend needs AWS credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)")

    def synthesize(self, text: str, voice: str, speaking_rate: float) -> Audio:
        try:
            response = self._client.synthesize_speech(
                Engine=self.engine,
                OutputFormat="pcm",
                SampleRate=str(POLLY_PCM_RATE),
                Text=text,
                TextType="text",
                VoiceId=voice or self.default_voice,
            )
            audio = response["AudioStream"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("InvalidParameterValue", "ValidationException") and "voice" in str(exc).lower():
                raise UnknownVoiceError(f"Polly does not know voice {voice!r}: {exc}") from exc
            raise ProviderError(f"Polly failed: {exc}") from exc
        except BotoCoreError as exc:
            raise ProviderError(f"Polly unreachable: {exc}") from exc
        return Audio(pcm16_decode(audio), POLLY_PCM_RATE)
