"""Every RPC of every service, over real gRPC, fed messages with arbitrary field values: a clear status
within the RPC's deadline, never INTERNAL or UNKNOWN, and the service keeps serving.

The four services run as real processes on the offline backends (tts on espeak-ng, the light engine, so
the budget goes to inputs rather than synthesis). Requests are built from the proto descriptors, so a
field added to a contract is fuzzed without touching this file; a few fields get values shaped like
real ones besides random ones (an org that exists, audio that decodes, documents with a known extension),
so the fuzzing also reaches past the first validation. Client streams are lists of messages, shaped as
the protocol expects (config or options first) or not at all.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import numpy as np
import pytest
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from hypothesis import event, given, settings
from hypothesis import strategies as st

from services.cli.launcher import ServiceProcess
from services.common import audio
from services.common.generated.voiceagent.v1 import llm_pb2, retrieval_pb2, retrieval_pb2_grpc, stt_pb2, tts_pb2
from services.tts.backends.espeak import EspeakSynthesizer
from tests.conftest import copy_sample_org
from tests.integration.conftest import ADMIN, ADMIN_TOKEN, ingest_requests, sample_documents

pytestmark = [pytest.mark.fuzz, pytest.mark.slow]

# A round trip costs a real model call, so each RPC gets a tenth of the profile's budget (6 in `make test`,
# 300 in `make fuzz`).
RPC_BUDGET = settings(max_examples=max(6, settings.default.max_examples // 10))
SERVICES = {"stt": stt_pb2, "retrieval": retrieval_pb2, "llm": llm_pb2, "tts": tts_pb2}
# What each RPC must answer within: the gateway's stage budgets for the RPCs a call uses, more for writes.
DEADLINE_SECONDS = {"Transcribe": 15, "StreamTranscribe": 15, "Search": 3, "Generate": 10, "StreamGenerate": 10,
                    "Synthesize": 10, "StreamSynthesize": 10, "Ingest": 60}
DEFAULT_DEADLINE_SECONDS = 5
FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE}

INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1), FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1), FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1), FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _tone(seconds: float, rate: int) -> np.ndarray:
    return (0.3 * np.sin(np.arange(int(seconds * rate)) / rate * 2 * np.pi * 300)).astype(np.float32)


@functools.cache
def _audio_values() -> list[bytes]:
    """Audio that decodes (a spoken question synthesised by espeak-ng in a few milliseconds, so recognition is
    reached too, and tones) and audio that almost does. Made on first use, not when the module is collected."""
    synthesizer = EspeakSynthesizer()
    synthesizer.load()
    speech = synthesizer.synthesize("What time do you open on Saturday?", "", 1.0).resampled(8000)
    tone = _tone(1.0, 8000)
    return [
        audio.wav_bytes(speech), audio.mulaw_encode(speech.samples),
        audio.wav_bytes(audio.Audio(tone, 8000)), audio.mulaw_encode(tone), audio.pcm16_bytes(_tone(0.5, 16000)),
        b"RIFF\x00\x00\x00\x00WAVE", b"ID3", b"\xff\xfb\x90\x00" * 100, b"\xff" * 320,
    ]


AUDIO = st.deferred(lambda: st.sampled_from(_audio_values()))
DOCUMENTS = st.sampled_from(list(sample_documents().values()) + [b"%PDF-1.4\n", b"<html><body><h1>Hi</h1><p>Open 9-5.</p>", b"# Title\n\n- a\n- b"])
# Values shaped like real ones, mixed with arbitrary ones, by field name.
SHAPED = {
    "org_id": st.sampled_from(["acme", "ACME", "nobody", "../acme", "acme/../../etc", "a" * 200]),
    "audio": AUDIO,
    "data": DOCUMENTS,
    "name": st.sampled_from(["faq.txt", "notes.md", "menu.pdf", "page.html", "page.htm", "run.exe", "../../x.txt", ".txt", "a" * 300 + ".md"]),
    "sample_rate_hz": st.sampled_from([0, 8000, 16000, 22050, 48000, 8001, 44099, 7999, 48001, -1, 2**31 - 1]),
    "encoding": st.integers(-3, 8),
    "media_type": st.sampled_from(["text/plain", "text/markdown", "application/pdf", "text/html", "image/png"]),
    "block_type": st.sampled_from(["paragraph", "faq", "list_item", "table_row", "code", ""]),
    "language": st.sampled_from(["en-US", "en", "fr-FR", "xx", ""]),
    "document": st.sampled_from(["faq.txt", "hours.md", "nothing.txt"]),
}


def field_values(field: FieldDescriptor, depth: int) -> st.SearchStrategy:
    """Any value the field's type allows (NaN, infinities, extreme integers, unknown enum numbers included)."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        value = messages(field.message_type, depth + 1)
    elif field.type in INT_RANGES:
        low, high = INT_RANGES[field.type]
        value = st.integers(low, high) | st.sampled_from([0, 1, -1 if low < 0 else 2, low, high])
    elif field.type == FieldDescriptor.TYPE_ENUM:
        value = st.sampled_from([number.number for number in field.enum_type.values]) | st.integers(-(2**31), 2**31 - 1)
    elif field.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        value = st.floats(width=32 if field.type == FieldDescriptor.TYPE_FLOAT else 64)
    elif field.type == FieldDescriptor.TYPE_BOOL:
        value = st.booleans()
    elif field.type == FieldDescriptor.TYPE_STRING:
        value = st.text(max_size=300) | st.builds(lambda char, count: char * count, st.characters(exclude_categories=("Cs",)), st.integers(1000, 20_000))
    elif field.type == FieldDescriptor.TYPE_BYTES:
        value = st.binary(max_size=4000)
    else:
        raise AssertionError(f"no strategy for field type {field.type} ({field.full_name})")
    if field.name in SHAPED and field.type != FieldDescriptor.TYPE_MESSAGE:
        value = SHAPED[field.name] | value
    if field.is_repeated:
        return st.lists(value, max_size=6 if depth < 2 else 2)
    return value


def messages(descriptor, depth: int = 0) -> st.SearchStrategy:
    """Messages of `descriptor`'s type with any subset of fields set (of a oneof, the last one set wins)."""
    from google.protobuf import message_factory

    message_class = message_factory.GetMessageClass(descriptor)
    optional = {field.name: field_values(field, depth) for field in descriptor.fields if depth < 4 or field.type != FieldDescriptor.TYPE_MESSAGE}
    return st.fixed_dictionaries({}, optional=optional).map(lambda fields: message_class(**fields))


def request_streams(method: MethodDescriptor) -> st.SearchStrategy:
    """A client stream: shaped as the protocol asks (a first message with the config or org, then parts) or arbitrary."""
    any_message = messages(method.input_type)
    if method.name == "StreamTranscribe":
        first = messages(stt_pb2.StreamTranscribeConfig.DESCRIPTOR).map(lambda config: stt_pb2.StreamTranscribeRequest(config=config))
        rest = (AUDIO | st.binary(max_size=2000)).map(lambda chunk: stt_pb2.StreamTranscribeRequest(audio=chunk))
    elif method.name == "Ingest":
        first = st.builds(lambda org, options: retrieval_pb2.IngestRequest(org_id=org, options=options),
                          SHAPED["org_id"], messages(retrieval_pb2.IngestOptions.DESCRIPTOR))
        rest = st.one_of(
            messages(retrieval_pb2.DocumentStart.DESCRIPTOR).map(lambda document: retrieval_pb2.IngestRequest(document=document)),
            (DOCUMENTS | st.binary(max_size=2000)).map(lambda data: retrieval_pb2.IngestRequest(data=data)),
        )
    else:
        return st.lists(any_message, max_size=6)
    shaped = st.builds(lambda head, tail: [head, *tail], first, st.lists(rest, max_size=8))
    return shaped | st.lists(any_message | rest, max_size=6)


@dataclass(frozen=True)
class Rpc:
    service: str
    method: MethodDescriptor

    @property
    def path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def deadline(self) -> float:
        return DEADLINE_SECONDS.get(self.method.name, DEFAULT_DEADLINE_SECONDS)

    def requests(self) -> st.SearchStrategy:
        return request_streams(self.method) if self.method.client_streaming else messages(self.method.input_type)

    def call(self, channel: grpc.Channel, request, metadata) -> grpc.StatusCode:
        """The status the service answered with, having read every response message."""
        from google.protobuf import message_factory

        response_class = message_factory.GetMessageClass(self.method.output_type)
        kind = ("stream" if self.method.client_streaming else "unary") + "_" + ("stream" if self.method.server_streaming else "unary")
        stub = getattr(channel, kind)(self.path, request_serializer=lambda message: message.SerializeToString(), response_deserializer=response_class.FromString)
        try:
            responses = stub(iter(request) if self.method.client_streaming else request, timeout=self.deadline, metadata=metadata)
            if self.method.server_streaming:
                for _ in responses:
                    pass
            return grpc.StatusCode.OK
        except grpc.RpcError as error:
            assert error.code() not in FORBIDDEN, f"{self.path} answered {error.code().name}: {error.details()}\nrequest: {request!r:.2000}"
            return error.code()


RPCS = [Rpc(name, method) for name, module in SERVICES.items() for service in module.DESCRIPTOR.services_by_name.values() for method in service.methods]


@pytest.fixture(scope="module")
def services(tmp_path_factory) -> Iterator[dict[str, ServiceProcess]]:
    data_dir = tmp_path_factory.mktemp("data")
    copy_sample_org(data_dir)
    logs = tmp_path_factory.mktemp("logs")
    env = {"VOICEAGENT_DATA_DIR": str(data_dir), "RETRIEVAL_ADMIN_TOKEN": ADMIN_TOKEN, "TTS_BACKEND": "espeak"}
    started = {name: ServiceProcess(name, env, logs / f"{name}.log").start() for name in SERVICES}
    try:
        for service in started.values():
            service.wait_serving()
        with grpc.insecure_channel(started["retrieval"].address) as channel:
            retrieval_pb2_grpc.RetrievalStub(channel).Ingest(ingest_requests("acme", sample_documents()), metadata=ADMIN, timeout=120)
        yield started
    finally:
        for service in started.values():
            service.stop()


@pytest.fixture(scope="module")
def channels(services) -> Iterator[dict[str, grpc.Channel]]:
    opened = {name: grpc.insecure_channel(service.address) for name, service in services.items()}
    yield opened
    for channel in opened.values():
        channel.close()


def test_every_rpc_of_every_service_is_fuzzed():
    assert {rpc.path for rpc in RPCS} >= {
        "/voiceagent.v1.SpeechToText/Transcribe", "/voiceagent.v1.SpeechToText/StreamTranscribe",
        "/voiceagent.v1.Retrieval/Search", "/voiceagent.v1.Retrieval/Ingest", "/voiceagent.v1.Retrieval/DeleteDocument",
        "/voiceagent.v1.Retrieval/ListDocuments", "/voiceagent.v1.Retrieval/DescribeShard",
        "/voiceagent.v1.Generation/Generate", "/voiceagent.v1.Generation/StreamGenerate",
        "/voiceagent.v1.TextToSpeech/Synthesize", "/voiceagent.v1.TextToSpeech/StreamSynthesize",
    }


@pytest.mark.parametrize("rpc", RPCS, ids=lambda rpc: f"{rpc.service}.{rpc.method.name}")
@RPC_BUDGET
@given(data=st.data(), metadata=st.sampled_from([(), tuple(ADMIN), (("authorization", "Bearer wrong"),), (("x-call-sid", "CA'; DROP TABLE calls; --" + "9" * 2000),)]))
def test_random_requests_get_a_clear_status_within_the_deadline(services, channels, rpc, data, metadata):
    request = data.draw(rpc.requests(), label="request")
    started = time.monotonic()
    event(rpc.call(channels[rpc.service], request, list(metadata)).name)  # the statuses reached (--hypothesis-show-statistics)
    assert time.monotonic() - started < rpc.deadline
    assert services[rpc.service].alive(), services[rpc.service].log_tail()
