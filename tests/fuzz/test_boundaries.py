"""Every input that crosses a boundary, fed arbitrary values: only the boundary's own clear error, never a crash.

Budgets come from the Hypothesis profile: modest in `make test`, large in `make fuzz`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from services.common.logs import redact
from services.common.media_streams import MediaStreamError, parse
from services.common.orgs import InvalidOrgIdError, OrgConfigError, UnknownOrgError, load_org_config
from services.common.records.schema import upgrade
from services.common.records.settings import default_database_url
from services.gateway.app import create_app
from services.gateway.audio_urls import AudioUrlSigner, InvalidAudioUrlError
from services.gateway.config import GatewaySettings
from services.retrieval.ingest import DocumentError, document_chunks
from tests.conftest import copy_sample_org

pytestmark = pytest.mark.fuzz

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
EVENTS = st.sampled_from(["connected", "start", "media", "mark", "dtmf", "stop", "clear", "", "x"])


@given(st.one_of(st.text(max_size=300), st.binary(max_size=100), JSON.map(json.dumps),
                 st.builds(lambda event, body: json.dumps({"event": event, **body}), EVENTS, st.dictionaries(st.sampled_from(
                     ["start", "media", "mark", "streamSid"]), JSON, max_size=3)),
                 st.builds(lambda payload: json.dumps({"event": "media", "media": {"payload": payload}}), st.text(max_size=80))))
def test_media_stream_messages(raw):
    try:
        parse(raw)
    except MediaStreamError:
        pass


@given(st.text(max_size=40), st.text(max_size=200), st.text(max_size=40))
def test_audio_urls(digest, payload, signature):
    signer = AudioUrlSigner("key")
    try:
        signer.verify(digest, payload, signature)
    except InvalidAudioUrlError:
        pass
    signed = signer._signature(digest, payload)  # signed with the key, but shaped by an attacker
    try:
        signer.verify(digest, payload, signed)
    except InvalidAudioUrlError:
        pass


def _structured_text() -> st.SearchStrategy[str]:
    pieces = st.sampled_from([
        "# ", "## ", "- ", "* ", "1. ", "a) ", "| a | b |\n", "|---|---|\n", "```\n", "> ", "**", "_", "`", "<p>", "</p>",
        "<li>", "<table><tr><td>", "</td></tr></table>", "<br>", "<h2>", "</h2>", "<details><summary>", "</summary>",
        "?", ".", ":", "\n", "\n\n", " ", "Q: ", "A: ", "$40", "9 a.m.", "Dr. ", "(503) 555-0142", "é", "“", "«", "\t",
    ])
    return st.lists(st.one_of(pieces, st.text(max_size=20)), max_size=80).map("".join)


@given(_structured_text(), st.sampled_from(["doc.txt", "doc.md", "doc.html"]), st.integers(100, 800))
def test_documents(text, name, chunk_size):
    try:
        chunks = document_chunks(name, text.encode("utf-8", "surrogatepass"), chunk_size=chunk_size, chunk_overlap=chunk_size // 10)
    except DocumentError:
        return
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))
    assert all(len(chunk.text) <= chunk_size for chunk in chunks)


@given(st.binary(max_size=2000))
def test_pdfs(data):
    try:
        document_chunks("doc.pdf", b"%PDF-1.4\n" + data)
    except DocumentError:
        pass


@given(st.dictionaries(st.sampled_from(["org_id", "name", "greeting", "persona", "phone_numbers", "top_k", "chunk_size",
                                        "chunk_overlap", "speech_mode", "conversation_mode", "extra"]), JSON, max_size=8))
def test_org_configs(raw):
    with tempfile.TemporaryDirectory() as data_dir:
        (Path(data_dir) / "fuzzco").mkdir()
        (Path(data_dir) / "fuzzco" / "config.json").write_text(json.dumps(raw))
        try:
            load_org_config(Path(data_dir), "fuzzco")
        except (OrgConfigError, InvalidOrgIdError, UnknownOrgError):
            pass


@given(st.text(max_size=2000))
def test_log_redaction(text):
    redacted = redact(f"{text} jane.doe@example.com")
    assert redacted.endswith(" [email]") and "jane.doe@example.com" not in redacted


@pytest.fixture(scope="module")
def gateway_client(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    copy_sample_org(data_dir)
    config = json.loads((data_dir / "acme" / "config.json").read_text())
    (data_dir / "acme" / "config.json").write_text(json.dumps({**config, "speech_mode": "say"}))
    settings = GatewaySettings(data_dir=data_dir, insecure_skip_signature=True, redis_url="")
    upgrade(default_database_url(data_dir))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


FORM_FIELDS = st.dictionaries(
    st.sampled_from(["CallSid", "From", "To", "AccountSid", "CallStatus", "RecordingUrl", "Digits", "x"]),
    st.one_of(st.text(max_size=200), st.sampled_from(["+14155550100", "CA" + "1" * 32, "completed", "ringing"])),
    max_size=6,
)


@given(FORM_FIELDS, st.sampled_from(["/voice/inbound", "/voice/status", "/voice/no-input"]))
def test_webhook_forms(gateway_client, form, path):
    response = gateway_client.post(path, data=form)
    assert response.status_code < 500, (path, form, response.text[:200])


@given(st.text(max_size=60), st.text(max_size=300), st.text(max_size=60))
def test_audio_endpoint(gateway_client, digest, payload, signature):
    response = gateway_client.get(f"/audio/{base64.urlsafe_b64encode(digest.encode()).decode()}.wav", params={"p": payload, "s": signature})
    assert response.status_code in (403, 404, 422)


@given(st.text(max_size=80), st.text(max_size=300), st.integers(-10, 200), st.floats(-5, 5, allow_nan=False))
def test_search_requests(knowledge, org_id, query, top_k, min_score):
    from services.retrieval.knowledge import InvalidRequestError

    try:
        asyncio.run(knowledge.search(org_id, query, top_k, min_score))
    except (InvalidRequestError, InvalidOrgIdError, UnknownOrgError):
        pass


@pytest.fixture(scope="module")
def knowledge(tmp_path_factory):
    from services.common.providers import ProviderMeter
    from services.retrieval.knowledge import KnowledgeBase
    from services.retrieval.shard_cache import ShardCache
    from tests.unit.test_ingestion_isolation import SlowEmbedder

    data_dir = tmp_path_factory.mktemp("data")
    copy_sample_org(data_dir)
    embedder = SlowEmbedder()
    return KnowledgeBase(data_dir, embedder, ShardCache(data_dir, 1 << 30), 50_000, ProviderMeter("fuzz", data_dir))


class SilentRecognizer:
    provider = "fake"

    def transcribe(self, audio, language):
        from services.stt.backends.base import Recognition

        return Recognition(text="hello", confidence=1.0, language=language)


class ToneSynthesizer:
    provider = "fake"

    def synthesize(self, text, voice, speaking_rate):
        import numpy as np

        from services.common.audio import Audio

        return Audio(np.zeros(800, dtype=np.float32), 8000)


@given(st.binary(max_size=4000), st.integers(-5, 10), st.integers(-10, 200_000))
def test_transcribe_requests(tmp_path_factory, data, encoding, sample_rate):
    from services.common.providers import ProviderMeter
    from services.stt.transcriber import InvalidAudioError, Transcriber

    transcriber = Transcriber(SilentRecognizer(), ProviderMeter("fuzz", tmp_path_factory.getbasetemp()), 120, 0.5)
    try:
        transcriber.transcribe(data, encoding, sample_rate, "en-US", "acme")
    except InvalidAudioError:
        pass


@given(st.text(max_size=400), st.integers(-5, 10), st.integers(-10, 100_000), st.floats(-5, 5, allow_nan=False), st.text(max_size=10))
def test_synthesize_requests(tmp_path_factory, text, encoding, sample_rate, rate, language):
    from services.common.providers import ProviderMeter
    from services.tts.speech import InvalidSpeechRequestError, Speaker

    speaker = Speaker(ToneSynthesizer(), ProviderMeter("fuzz", tmp_path_factory.getbasetemp()), 2000)
    try:
        speaker.synthesize(text, "", encoding, sample_rate, rate, "acme", language)
    except InvalidSpeechRequestError:
        pass


@given(st.text(max_size=300), st.lists(st.tuples(st.sampled_from([0, 1, 2, 7]), st.text(max_size=100)), max_size=4),
       st.lists(st.tuples(st.text(max_size=300), st.sampled_from(["paragraph", "faq", "list_item", "table_row", "code", "", "x"]),
                          st.lists(st.text(max_size=20), max_size=3)), max_size=5),
       st.integers(-3, 20), st.integers(-3, 20), st.floats(-1, 5, allow_nan=False), st.lists(st.text(max_size=20), max_size=3))
def test_generate_requests(tmp_path_factory, question, history, context, max_tokens, max_sentences, temperature, unknown):
    from services.common.generated.voiceagent.v1 import llm_pb2
    from services.common.passages import passages
    from services.common.providers import ProviderMeter
    from services.llm.answering import InvalidGenerationRequestError, Responder
    from services.llm.config import LlmSettings

    class EchoGenerator:
        provider, model = "fake", "fake"

        def generate(self, request, options):
            from services.llm.backends.base import Answer

            found = passages(request.context)
            return Answer(found[0].said if found else options.fallback, fallback=not found)

    request = llm_pb2.GenerateRequest(
        org_id="acme", question=question, unknown_terms=unknown,
        history=[llm_pb2.ConversationTurn(role=role, text=text) for role, text in history],
        context=[llm_pb2.ContextChunk(text=text, chunk_id=f"d#{n}", block_type=kind, heading_path=path) for n, (text, kind, path) in enumerate(context)],
        limits=llm_pb2.GenerationLimits(max_tokens=max_tokens, max_sentences=max_sentences, temperature=temperature),
    )
    responder = Responder(EchoGenerator(), ProviderMeter("fuzz", tmp_path_factory.getbasetemp()), LlmSettings())
    try:
        responder.generate(request)
    except InvalidGenerationRequestError:
        pass
