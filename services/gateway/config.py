"""Gateway settings. Names of DESIGN section 9 (TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL,
RECORDING_URL_ALLOWLIST, REDIS_URL, <NAME>_ADDR) are kept exactly; the rest are prefixed `GATEWAY_`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import default_address


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    http_host: str = "0.0.0.0"
    http_port: int = 8000
    data_dir: Path = Field(default=Path("data"), validation_alias="VOICEAGENT_DATA_DIR")
    log_level: str = Field(default="INFO", validation_alias="VOICEAGENT_LOG_LEVEL")

    twilio_auth_token: str = Field(default="", validation_alias="TWILIO_AUTH_TOKEN")
    # During a rotation of the Twilio auth token: the other token, also accepted for signatures.
    twilio_secondary_auth_token: str = Field(default="", validation_alias="TWILIO_SECONDARY_AUTH_TOKEN")
    twilio_account_sid: str = Field(default="", validation_alias="TWILIO_ACCOUNT_SID")
    # Twilio's REST API, for redirecting a live streaming call (a transfer to a person).
    twilio_api_url: str = "https://api.twilio.com"
    # The URL Twilio calls, when the gateway sits behind a proxy or tunnel.
    public_base_url: str = Field(default="", validation_alias="PUBLIC_BASE_URL")
    # Honour X-Forwarded-Proto/Host when rebuilding the signed URL: only behind a proxy you control.
    trust_proxy_headers: bool = False
    # Development only: accept webhooks without a valid X-Twilio-Signature (logged loudly at start-up).
    insecure_skip_signature: bool = False

    recording_url_allowlist: str = Field(default="https://api.twilio.com/", validation_alias="RECORDING_URL_ALLOWLIST")
    # Tests and local simulation only: allow http:// prefixes in the allowlist.
    allow_insecure_recording_urls: bool = False
    recording_max_bytes: int = 10 * 1024 * 1024
    download_timeout_seconds: float = 10.0
    # Twilio may answer 404 for a moment after the callback, while it stores the recording.
    download_attempts: int = Field(default=4, ge=1, le=10)
    download_retry_seconds: float = 0.5

    redis_url: str = Field(default="", validation_alias="REDIS_URL")
    session_ttl_seconds: int = 4 * 3600

    stt_addr: str = Field(default=default_address("stt"), validation_alias="STT_ADDR")
    retrieval_addr: str = Field(default=default_address("retrieval"), validation_alias="RETRIEVAL_ADDR")
    llm_addr: str = Field(default=default_address("llm"), validation_alias="LLM_ADDR")
    tts_addr: str = Field(default=default_address("tts"), validation_alias="TTS_ADDR")
    stt_timeout_seconds: float = 15.0
    retrieval_timeout_seconds: float = 3.0
    llm_timeout_seconds: float = 10.0
    tts_timeout_seconds: float = 10.0

    # Signs /audio URLs; defaults to the Twilio auth token so replicas agree without extra config.
    audio_signing_key: str = ""
    audio_cache_entries: int = 512

    calls_per_window: int = Field(default=10, ge=1)
    turns_per_window: int = Field(default=120, ge=1)
    rate_window_seconds: int = Field(default=3600, ge=1)

    # Adds an X-Voiceagent-Turn header (transcript, answer, stage latency) for the local simulator only:
    # it carries what the caller said, so it stays off in production.
    turn_details_header: bool = False

    # Streaming calls: silence that ends the caller's turn (the main latency lever), a shorter pause after which the
    # answer is prepared in case the turn has ended (0: wait for the end), how long the caller must keep talking
    # over the agent before it stops (shorter sounds are back-channel: "mm-hm"), stream token life.
    stream_end_of_speech_ms: int = Field(default=250, ge=100, le=3000)
    stream_tentative_pause_ms: int = Field(default=150, ge=0, le=3000)
    # The longest wait after an unfinished phrase ("my number is five oh three"); the words heard at the pause
    # decide between this and stream_end_of_speech_ms. 0: every turn ends after stream_end_of_speech_ms.
    stream_incomplete_turn_ms: int = Field(default=1500, ge=0, le=5000)
    barge_in_min_speech_ms: int = Field(default=500, ge=0, le=5000)
    stream_token_seconds: int = Field(default=60, ge=5)
    # A Media Stream with no message for this long (Twilio sends a frame every 20 ms) is closed.
    stream_idle_seconds: float = Field(default=30.0, gt=0, le=600)

    # A caller silent this long is asked once whether they are still there; as long again, and the call ends.
    caller_idle_seconds: float = Field(default=8.0, ge=1, le=300)

    record_timeout_seconds: int = Field(default=2, ge=1, le=10)
    record_max_length_seconds: int = Field(default=30, ge=5, le=600)

    def unsafe_public_url(self) -> str:
        """Why this configuration must not serve, or "" when it may.

        With signatures checked and neither PUBLIC_BASE_URL nor trusted proxy headers, the URL a signature
        is checked against comes from the request's own Host header, and a request signed for another host
        would be accepted and answered with audio URLs pointing there."""
        if self.twilio_auth_token and not self.insecure_skip_signature and not (self.public_base_url or self.trust_proxy_headers):
            return (
                "TWILIO_AUTH_TOKEN is set but the gateway's public URL is not: set PUBLIC_BASE_URL to the URL Twilio "
                "calls (https://voice.example.com), or GATEWAY_TRUST_PROXY_HEADERS=true behind a proxy you control"
            )
        return ""

    def allowed_recording_prefixes(self) -> list[str]:
        return [prefix.strip() for prefix in self.recording_url_allowlist.split(",") if prefix.strip()]
