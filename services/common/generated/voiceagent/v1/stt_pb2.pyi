from services.common.generated.voiceagent.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TranscribeRequest(_message.Message):
    __slots__ = ("org_id", "audio", "format", "language")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    audio: bytes
    format: _common_pb2.AudioFormat
    language: str
    def __init__(self, org_id: _Optional[str] = ..., audio: _Optional[bytes] = ..., format: _Optional[_Union[_common_pb2.AudioFormat, _Mapping]] = ..., language: _Optional[str] = ...) -> None: ...

class Transcript(_message.Message):
    __slots__ = ("text", "confidence", "language", "duration_seconds", "usage")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    text: str
    confidence: float
    language: str
    duration_seconds: float
    usage: _common_pb2.Usage
    def __init__(self, text: _Optional[str] = ..., confidence: _Optional[float] = ..., language: _Optional[str] = ..., duration_seconds: _Optional[float] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ...) -> None: ...

class StreamTranscribeConfig(_message.Message):
    __slots__ = ("org_id", "format", "language", "end_of_speech_silence_ms", "partial_results", "tentative_pause_ms", "incomplete_turn_silence_ms")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    END_OF_SPEECH_SILENCE_MS_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_RESULTS_FIELD_NUMBER: _ClassVar[int]
    TENTATIVE_PAUSE_MS_FIELD_NUMBER: _ClassVar[int]
    INCOMPLETE_TURN_SILENCE_MS_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    format: _common_pb2.AudioFormat
    language: str
    end_of_speech_silence_ms: int
    partial_results: bool
    tentative_pause_ms: int
    incomplete_turn_silence_ms: int
    def __init__(self, org_id: _Optional[str] = ..., format: _Optional[_Union[_common_pb2.AudioFormat, _Mapping]] = ..., language: _Optional[str] = ..., end_of_speech_silence_ms: _Optional[int] = ..., partial_results: _Optional[bool] = ..., tentative_pause_ms: _Optional[int] = ..., incomplete_turn_silence_ms: _Optional[int] = ...) -> None: ...

class StreamTranscribeRequest(_message.Message):
    __slots__ = ("config", "audio")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    config: StreamTranscribeConfig
    audio: bytes
    def __init__(self, config: _Optional[_Union[StreamTranscribeConfig, _Mapping]] = ..., audio: _Optional[bytes] = ...) -> None: ...

class SpeechEvent(_message.Message):
    __slots__ = ("kind", "offset_seconds")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[SpeechEvent.Kind]
        SPEECH_STARTED: _ClassVar[SpeechEvent.Kind]
        SPEECH_ENDED: _ClassVar[SpeechEvent.Kind]
        SPEECH_RESUMED: _ClassVar[SpeechEvent.Kind]
        SPEECH_PAUSED: _ClassVar[SpeechEvent.Kind]
    KIND_UNSPECIFIED: SpeechEvent.Kind
    SPEECH_STARTED: SpeechEvent.Kind
    SPEECH_ENDED: SpeechEvent.Kind
    SPEECH_RESUMED: SpeechEvent.Kind
    SPEECH_PAUSED: SpeechEvent.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    OFFSET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    kind: SpeechEvent.Kind
    offset_seconds: float
    def __init__(self, kind: _Optional[_Union[SpeechEvent.Kind, str]] = ..., offset_seconds: _Optional[float] = ...) -> None: ...

class StreamTranscribeResponse(_message.Message):
    __slots__ = ("partial", "final", "event", "tentative")
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    TENTATIVE_FIELD_NUMBER: _ClassVar[int]
    partial: Transcript
    final: Transcript
    event: SpeechEvent
    tentative: Transcript
    def __init__(self, partial: _Optional[_Union[Transcript, _Mapping]] = ..., final: _Optional[_Union[Transcript, _Mapping]] = ..., event: _Optional[_Union[SpeechEvent, _Mapping]] = ..., tentative: _Optional[_Union[Transcript, _Mapping]] = ...) -> None: ...
