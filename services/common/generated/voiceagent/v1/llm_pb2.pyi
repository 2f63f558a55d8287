from services.common.generated.voiceagent.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConversationTurn(_message.Message):
    __slots__ = ("role", "text")
    class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ROLE_UNSPECIFIED: _ClassVar[ConversationTurn.Role]
        CALLER: _ClassVar[ConversationTurn.Role]
        AGENT: _ClassVar[ConversationTurn.Role]
    ROLE_UNSPECIFIED: ConversationTurn.Role
    CALLER: ConversationTurn.Role
    AGENT: ConversationTurn.Role
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    role: ConversationTurn.Role
    text: str
    def __init__(self, role: _Optional[_Union[ConversationTurn.Role, str]] = ..., text: _Optional[str] = ...) -> None: ...

class ContextChunk(_message.Message):
    __slots__ = ("text", "document", "chunk_id", "score", "block_type", "heading_path")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_TYPE_FIELD_NUMBER: _ClassVar[int]
    HEADING_PATH_FIELD_NUMBER: _ClassVar[int]
    text: str
    document: str
    chunk_id: str
    score: float
    block_type: str
    heading_path: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, text: _Optional[str] = ..., document: _Optional[str] = ..., chunk_id: _Optional[str] = ..., score: _Optional[float] = ..., block_type: _Optional[str] = ..., heading_path: _Optional[_Iterable[str]] = ...) -> None: ...

class GenerationLimits(_message.Message):
    __slots__ = ("max_tokens", "max_sentences", "temperature")
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_SENTENCES_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    max_tokens: int
    max_sentences: int
    temperature: float
    def __init__(self, max_tokens: _Optional[int] = ..., max_sentences: _Optional[int] = ..., temperature: _Optional[float] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("org_id", "persona", "history", "question", "context", "limits", "fallback_message", "org_name", "unknown_terms")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    PERSONA_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ORG_NAME_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_TERMS_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    persona: str
    history: _containers.RepeatedCompositeFieldContainer[ConversationTurn]
    question: str
    context: _containers.RepeatedCompositeFieldContainer[ContextChunk]
    limits: GenerationLimits
    fallback_message: str
    org_name: str
    unknown_terms: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, org_id: _Optional[str] = ..., persona: _Optional[str] = ..., history: _Optional[_Iterable[_Union[ConversationTurn, _Mapping]]] = ..., question: _Optional[str] = ..., context: _Optional[_Iterable[_Union[ContextChunk, _Mapping]]] = ..., limits: _Optional[_Union[GenerationLimits, _Mapping]] = ..., fallback_message: _Optional[str] = ..., org_name: _Optional[str] = ..., unknown_terms: _Optional[_Iterable[str]] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("text", "usage", "model", "citations", "fallback")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    text: str
    usage: _common_pb2.Usage
    model: str
    citations: _containers.RepeatedScalarFieldContainer[str]
    fallback: bool
    def __init__(self, text: _Optional[str] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., model: _Optional[str] = ..., citations: _Optional[_Iterable[str]] = ..., fallback: _Optional[bool] = ...) -> None: ...

class GenerateDelta(_message.Message):
    __slots__ = ("text", "done", "response")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    text: str
    done: bool
    response: GenerateResponse
    def __init__(self, text: _Optional[str] = ..., done: _Optional[bool] = ..., response: _Optional[_Union[GenerateResponse, _Mapping]] = ...) -> None: ...
