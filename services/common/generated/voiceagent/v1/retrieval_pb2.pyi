from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchRequest(_message.Message):
    __slots__ = ("org_id", "query", "top_k", "min_score")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    query: str
    top_k: int
    min_score: float
    def __init__(self, org_id: _Optional[str] = ..., query: _Optional[str] = ..., top_k: _Optional[int] = ..., min_score: _Optional[float] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("text", "score", "document", "chunk_id", "position", "block_type", "heading_path")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    BLOCK_TYPE_FIELD_NUMBER: _ClassVar[int]
    HEADING_PATH_FIELD_NUMBER: _ClassVar[int]
    text: str
    score: float
    document: str
    chunk_id: str
    position: int
    block_type: str
    heading_path: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, text: _Optional[str] = ..., score: _Optional[float] = ..., document: _Optional[str] = ..., chunk_id: _Optional[str] = ..., position: _Optional[int] = ..., block_type: _Optional[str] = ..., heading_path: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "embedder", "unknown_terms")
    HITS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDER_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_TERMS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    embedder: str
    unknown_terms: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ..., embedder: _Optional[str] = ..., unknown_terms: _Optional[_Iterable[str]] = ...) -> None: ...

class ChunkingOptions(_message.Message):
    __slots__ = ("chunk_size", "chunk_overlap")
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_OVERLAP_FIELD_NUMBER: _ClassVar[int]
    chunk_size: int
    chunk_overlap: int
    def __init__(self, chunk_size: _Optional[int] = ..., chunk_overlap: _Optional[int] = ...) -> None: ...

class IngestOptions(_message.Message):
    __slots__ = ("chunking", "rebuild")
    CHUNKING_FIELD_NUMBER: _ClassVar[int]
    REBUILD_FIELD_NUMBER: _ClassVar[int]
    chunking: ChunkingOptions
    rebuild: bool
    def __init__(self, chunking: _Optional[_Union[ChunkingOptions, _Mapping]] = ..., rebuild: _Optional[bool] = ...) -> None: ...

class DocumentStart(_message.Message):
    __slots__ = ("name", "media_type")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    media_type: str
    def __init__(self, name: _Optional[str] = ..., media_type: _Optional[str] = ...) -> None: ...

class IngestRequest(_message.Message):
    __slots__ = ("org_id", "options", "document", "data")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    options: IngestOptions
    document: DocumentStart
    data: bytes
    def __init__(self, org_id: _Optional[str] = ..., options: _Optional[_Union[IngestOptions, _Mapping]] = ..., document: _Optional[_Union[DocumentStart, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class DocumentResult(_message.Message):
    __slots__ = ("name", "ok", "error", "chunks")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    name: str
    ok: bool
    error: str
    chunks: int
    def __init__(self, name: _Optional[str] = ..., ok: _Optional[bool] = ..., error: _Optional[str] = ..., chunks: _Optional[int] = ...) -> None: ...

class IngestResponse(_message.Message):
    __slots__ = ("documents_ingested", "documents_failed", "chunks_added", "chunks_removed", "results", "shard")
    DOCUMENTS_INGESTED_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FAILED_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_ADDED_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    documents_ingested: int
    documents_failed: int
    chunks_added: int
    chunks_removed: int
    results: _containers.RepeatedCompositeFieldContainer[DocumentResult]
    shard: ShardDescription
    def __init__(self, documents_ingested: _Optional[int] = ..., documents_failed: _Optional[int] = ..., chunks_added: _Optional[int] = ..., chunks_removed: _Optional[int] = ..., results: _Optional[_Iterable[_Union[DocumentResult, _Mapping]]] = ..., shard: _Optional[_Union[ShardDescription, _Mapping]] = ...) -> None: ...

class DeleteDocumentRequest(_message.Message):
    __slots__ = ("org_id", "document")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    document: str
    def __init__(self, org_id: _Optional[str] = ..., document: _Optional[str] = ...) -> None: ...

class DeleteDocumentResponse(_message.Message):
    __slots__ = ("chunks_removed", "shard")
    CHUNKS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    chunks_removed: int
    shard: ShardDescription
    def __init__(self, chunks_removed: _Optional[int] = ..., shard: _Optional[_Union[ShardDescription, _Mapping]] = ...) -> None: ...

class ListDocumentsRequest(_message.Message):
    __slots__ = ("org_id",)
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    def __init__(self, org_id: _Optional[str] = ...) -> None: ...

class DocumentInfo(_message.Message):
    __slots__ = ("name", "chunks", "sha256", "characters", "ingested_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CHARACTERS_FIELD_NUMBER: _ClassVar[int]
    INGESTED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    chunks: int
    sha256: str
    characters: int
    ingested_at: str
    def __init__(self, name: _Optional[str] = ..., chunks: _Optional[int] = ..., sha256: _Optional[str] = ..., characters: _Optional[int] = ..., ingested_at: _Optional[str] = ...) -> None: ...

class ListDocumentsResponse(_message.Message):
    __slots__ = ("documents",)
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[DocumentInfo]
    def __init__(self, documents: _Optional[_Iterable[_Union[DocumentInfo, _Mapping]]] = ...) -> None: ...

class DescribeShardRequest(_message.Message):
    __slots__ = ("org_id",)
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    def __init__(self, org_id: _Optional[str] = ...) -> None: ...

class ShardDescription(_message.Message):
    __slots__ = ("org_id", "chunks", "documents", "dimension", "embedder", "index_type", "updated_at", "version")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    EMBEDDER_FIELD_NUMBER: _ClassVar[int]
    INDEX_TYPE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    chunks: int
    documents: int
    dimension: int
    embedder: str
    index_type: str
    updated_at: str
    version: int
    def __init__(self, org_id: _Optional[str] = ..., chunks: _Optional[int] = ..., documents: _Optional[int] = ..., dimension: _Optional[int] = ..., embedder: _Optional[str] = ..., index_type: _Optional[str] = ..., updated_at: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class WarmRequest(_message.Message):
    __slots__ = ("org_id",)
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    def __init__(self, org_id: _Optional[str] = ...) -> None: ...

class WarmResponse(_message.Message):
    __slots__ = ("shard", "already_loaded")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    ALREADY_LOADED_FIELD_NUMBER: _ClassVar[int]
    shard: ShardDescription
    already_loaded: bool
    def __init__(self, shard: _Optional[_Union[ShardDescription, _Mapping]] = ..., already_loaded: _Optional[bool] = ...) -> None: ...
