"""Gateway security pieces: the URL Twilio signed, the recording allowlist, signed audio URLs."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.requests import Request
from twilio.request_validator import RequestValidator

from services.common.records.schema import upgrade
from services.common.records.settings import default_database_url
from services.gateway.audio_urls import AudioUrlSigner, InvalidAudioUrlError
from services.gateway.config import GatewaySettings
from services.gateway.security import RecordingDownloader, RecordingRefusedError, SignatureVerifier, StreamTokens, public_url
from services.gateway.sessions import CallSession, MemorySessionStore, RateLimiter
from services.gateway.turn import GOODBYE_PHRASES


def request(path="/voice/inbound", query="", headers=None, host="gateway.internal:8000", scheme="http") -> Request:
    raw_headers = [(b"host", host.encode())] + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "method": "POST", "scheme": scheme, "path": path, "query_string": query.encode(),
             "headers": raw_headers, "server": ("gateway.internal", 8000)}
    return Request(scope)


def settings(**overrides) -> GatewaySettings:
    return GatewaySettings(**{"twilio_auth_token": "token", **overrides})


def test_a_gateway_checking_signatures_must_know_its_public_url(tmp_path):
    from fastapi.testclient import TestClient

    from services.gateway.app import create_app

    assert "PUBLIC_BASE_URL" in settings().unsafe_public_url()
    assert not settings(public_base_url="https://voice.example.com").unsafe_public_url()
    assert not settings(trust_proxy_headers=True).unsafe_public_url()
    assert not settings(insecure_skip_signature=True).unsafe_public_url()
    with pytest.raises(RuntimeError, match="PUBLIC_BASE_URL"), TestClient(create_app(settings(data_dir=tmp_path))):
        pass


def test_the_signed_url_is_our_own_by_default():
    assert public_url(request(query="a=1"), settings()) == "http://gateway.internal:8000/voice/inbound?a=1"


def test_a_configured_public_base_url_wins():
    assert public_url(request(), settings(public_base_url="https://voice.example.com/")) == "https://voice.example.com/voice/inbound"


def test_forwarded_headers_count_only_behind_a_trusted_proxy():
    forwarded = request(headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "voice.example.com"})
    assert public_url(forwarded, settings(trust_proxy_headers=True)) == "https://voice.example.com/voice/inbound"
    assert public_url(forwarded, settings()) == "http://gateway.internal:8000/voice/inbound"


def test_signatures_are_checked_against_that_url():
    params = {"CallSid": "CA1", "From": "+15555550100"}
    signature = RequestValidator("token").compute_signature("https://voice.example.com/voice/inbound", params)
    signed = request(headers={"X-Twilio-Signature": signature})
    assert SignatureVerifier(settings(public_base_url="https://voice.example.com")).is_valid(signed, params)
    assert not SignatureVerifier(settings()).is_valid(signed, params)
    assert not SignatureVerifier(settings(public_base_url="https://voice.example.com", twilio_auth_token="")).is_valid(signed, params)
    assert SignatureVerifier(settings(insecure_skip_signature=True)).is_valid(request(), params)


def test_during_a_token_rotation_both_tokens_sign_and_no_other():
    params = {"CallSid": "CA1", "From": "+15555550100"}
    url = "https://voice.example.com/voice/inbound"
    rotating = SignatureVerifier(settings(public_base_url="https://voice.example.com", twilio_auth_token="new", twilio_secondary_auth_token="old"))
    for token, accepted in (("new", True), ("old", True), ("other", False)):
        signed = request(headers={"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)})
        assert rotating.is_valid(signed, params) is accepted, token


def downloader(**overrides) -> RecordingDownloader:
    return RecordingDownloader(settings(**overrides), httpx.AsyncClient())


@pytest.mark.parametrize(
    "url",
    [
        "http://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        "https://api.twilio.com.evil.example/2010-04-01/x",
        "https://evil.example/?https://api.twilio.com/",
        "https://user:pass@api.twilio.com/2010-04-01/x",
        "https://api.twilio.com/2010-04-01/../../internal",
        "https://api.twilio.com/2010-04-01/%2e%2e/%2e%2e/internal",
        "https://api.twilio.com/2010-04-01/Accounts%2f..%2finternal",
        "file:///etc/passwd",
        "gopher://api.twilio.com/",
        "https://[api.twilio.com/x",
        "https://api.twilio.com:8443/2010-04-01/x",
        "",
    ],
)
def test_recording_urls_off_the_allowlist_are_refused(url):
    with pytest.raises(RecordingRefusedError):
        downloader().check(url)


def test_an_allowlist_entry_without_a_slash_still_matches_the_host_exactly():
    strict = downloader(recording_url_allowlist="https://api.twilio.com")
    with pytest.raises(RecordingRefusedError):
        strict.check("https://api.twilio.com.evil.example/2010-04-01/x")
    assert strict.check("https://API.twilio.com/2010-04-01/x") == "https://api.twilio.com/2010-04-01/x.wav"


def test_twilio_recording_urls_are_fetched_as_wav():
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"
    assert downloader().check(url) == url + ".wav"
    assert downloader().check(url + ".wav") == url + ".wav"


def test_plain_http_prefixes_need_the_explicit_test_setting():
    local = "http://127.0.0.1:8089/"
    with pytest.raises(RecordingRefusedError, match="scheme"):
        downloader(recording_url_allowlist=local).check(local + "RE1")
    assert downloader(recording_url_allowlist=local, allow_insecure_recording_urls=True).check(local + "RE1") == local + "RE1.wav"


def test_audio_urls_name_what_they_say_and_cannot_be_forged():
    signer = AudioUrlSigner("key")
    path = signer.path("acme", "en_US-joe-medium", "We open at ten.")
    digest = path.split("/audio/")[1].split(".wav")[0]
    payload, signature = path.split("?p=")[1].split("&s=")
    assert signer.verify(digest, payload, signature) == ("acme", "en_US-joe-medium", "We open at ten.")
    with pytest.raises(InvalidAudioUrlError):
        AudioUrlSigner("other key").verify(digest, payload, signature)
    forged = signer.path("acme", "en_US-joe-medium", "Something else.").split("?p=")[1].split("&s=")[0]
    with pytest.raises(InvalidAudioUrlError):
        signer.verify(digest, forged, signature)


def test_sessions_expire_and_counters_count_per_window():
    async def scenario():
        store = MemorySessionStore(ttl_seconds=60)
        await store.put(CallSession("CA1", "acme", history=[["caller", "hi"]]))
        kept = await store.get("CA1")
        limiter = RateLimiter(store, window_seconds=60)
        allowed = [await limiter.allow("calls", "+15555550100", 2) for _ in range(3)]
        other = await limiter.allow("calls", "+15555550199", 2)
        expired = MemorySessionStore(ttl_seconds=-1)
        await expired.put(CallSession("CA2", "acme"))
        return kept, allowed, other, await expired.get("CA2")

    kept, allowed, other, expired = asyncio.run(scenario())
    assert kept.history == [["caller", "hi"]]
    assert allowed == [True, True, False] and other
    assert expired is None


@pytest.mark.parametrize("text", ["Goodbye.", "No thanks, bye!", "That's all, thank you.", "Nothing else."])
def test_goodbye_phrases_end_the_call(text):
    assert GOODBYE_PHRASES.search(text)


@pytest.mark.parametrize("text", ["What time do you open?", "Can I buy a bike?", "Nothing is broken but the brakes squeak."])
def test_questions_do_not_end_the_call(text):
    assert not GOODBYE_PHRASES.search(text)


def test_turning_signatures_off_is_loud(caplog, tmp_path):
    from fastapi.testclient import TestClient

    from services.gateway.app import create_app

    upgrade(default_database_url(tmp_path))
    with TestClient(create_app(settings(insecure_skip_signature=True, data_dir=tmp_path))) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
    warning = next(r for r in caplog.records if r.getMessage() == "gateway.signatures_disabled")
    assert warning.levelname == "WARNING"


def signed(signer: AudioUrlSigner, payload: str) -> tuple[str, str]:
    """A digest and signature the signer itself would give `payload`, however malformed it is."""
    digest = "0" * 32
    return digest, signer._signature(digest, payload)


@pytest.mark.parametrize(
    "payload",
    ["", "not base64 at all!", "W10", "eyJvIjogMX0", "eyJvIjogMSwgInYiOiAyLCAidCI6IDN9", "e30", "bnVsbA"],
    ids=["empty", "bad base64", "json list", "missing fields", "numbers not strings", "empty object", "null"],
)
def test_signed_but_malformed_audio_payloads_are_refused_cleanly(payload):
    signer = AudioUrlSigner("key")
    digest, signature = signed(signer, payload)
    with pytest.raises(InvalidAudioUrlError):
        signer.verify(digest, payload, signature)


def test_audio_urls_with_odd_characters_or_huge_payloads_are_refused_cleanly():
    signer = AudioUrlSigner("key")
    with pytest.raises(InvalidAudioUrlError):
        signer.verify("0" * 32, "eyJvIjoiYSJ9", "é" * 32)
    digest, signature = signed(signer, "A" * 100_000)
    with pytest.raises(InvalidAudioUrlError):
        signer.verify(digest, "A" * 100_000, signature)


def test_audio_endpoint_answers_403_never_500_for_bad_urls(tmp_path):
    from fastapi.testclient import TestClient

    from services.gateway.app import create_app

    upgrade(default_database_url(tmp_path))
    with TestClient(create_app(settings(data_dir=tmp_path, public_base_url="http://testserver")), raise_server_exceptions=False) as client:
        for query in ("p=eyJvIjoiYSJ9&s=%C3%A9%C3%A9", "p=W10&s=" + "0" * 32, "p=&s="):
            assert client.get(f"/audio/{'0' * 32}.wav?{query}").status_code == 403, query


@pytest.mark.parametrize("token", ["9" * 5000 + ".abc", "99999999999.é", "", ".", "12.", "１２３.abc"])
def test_stream_tokens_that_we_never_minted_are_refused_without_an_error(token):
    assert not StreamTokens("key", 60).valid(token, "CA1", "acme")


def test_a_redis_that_refuses_commands_is_an_outage_not_an_error():
    """Found by the container check: a Redis in protected mode answers every command with an error reply, and
    each webhook raised it; the store now serves from memory as it does when Redis cannot be reached."""
    import asyncio

    from redis import exceptions as redis_errors

    from services.gateway.sessions import CallSession, RedisSessionStore

    class RefusingRedis:
        def __getattr__(self, name):
            async def refuse(*args, **kwargs):
                raise redis_errors.ResponseError("DENIED Redis is running in protected mode")

            return refuse

    async def scenario() -> CallSession | None:
        store = RedisSessionStore("redis://127.0.0.1:1", 3600)
        store._redis = RefusingRedis()
        assert await store.create(CallSession(call_sid="CA1", org_id="acme"))
        return await store.get("CA1")

    assert asyncio.run(scenario()).org_id == "acme"
