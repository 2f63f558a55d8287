from services.common.generated.voiceagent.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SynthesizeRequest(_message.Message):
    __slots__ = ("org_id", "text", "voice", "format", "language", "speaking_rate")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VOICE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SPEAKING_RATE_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    text: str
    voice: str
    format: _common_pb2.AudioFormat
    language: str
    speaking_rate: float
    def __init__(self, org_id: _Optional[str] = ..., text: _Optional[str] = ..., voice: _Optional[str] = ..., format: _Optional[_Union[_common_pb2.AudioFormat, _Mapping]] = ..., language: _Optional[str] = ..., speaking_rate: _Optional[float] = ...) -> None: ...

class SynthesizeResponse(_message.Message):
    __slots__ = ("audio", "format", "duration_seconds", "usage", "voice", "spoken_text")
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    VOICE_FIELD_NUMBER: _ClassVar[int]
    SPOKEN_TEXT_FIELD_NUMBER: _ClassVar[int]
    audio: bytes
    format: _common_pb2.AudioFormat
    duration_seconds: float
    usage: _common_pb2.Usage
    voice: str
    spoken_text: str
    def __init__(self, audio: _Optional[bytes] = ..., format: _Optional[_Union[_common_pb2.AudioFormat, _Mapping]] = ..., duration_seconds: _Optional[float] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., voice: _Optional[str] = ..., spoken_text: _Optional[str] = ...) -> None: ...

class AudioChunk(_message.Message):
    __slots__ = ("audio", "format", "sequence", "text", "last", "usage", "spoken_text")
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    SPOKEN_TEXT_FIELD_NUMBER: _ClassVar[int]
    audio: bytes
    format: _common_pb2.AudioFormat
    sequence: int
    text: str
    last: bool
    usage: _common_pb2.Usage
    spoken_text: str
    def __init__(self, audio: _Optional[bytes] = ..., format: _Optional[_Union[_common_pb2.AudioFormat, _Mapping]] = ..., sequence: _Optional[int] = ..., text: _Optional[str] = ..., last: _Optional[bool] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., spoken_text: _Optional[str] = ...) -> None: ...
