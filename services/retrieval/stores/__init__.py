"""Where org shards live: one interface, a local directory (`file`) or S3-compatible object storage (`s3://`).

A store holds each org's shard as immutable versions and one small pointer
naming the current version. Publishing a version never touches the one being
served; switching the pointer is conditional on it still naming the version
the writer started from, so two writers (two replicas) can never lose each
other's update: the second one is told (`VersionConflictError`) and builds
again on the new version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from services.retrieval.shard import OrgShard

if TYPE_CHECKING:
    from services.retrieval.config import RetrievalSettings


class VersionConflictError(RuntimeError):
    """The org's pointer moved since the writer read it: another write landed first."""


class StoreUnavailableError(RuntimeError):
    """The store could not be reached or refused the request (network, credentials, throttling)."""


@dataclass(frozen=True)
class VersionPointer:
    """What an org's pointer names, and the tag a conditional switch must match (the object's ETag in S3)."""

    version: str
    tag: str


class _AnyVersion:
    def __repr__(self) -> str:
        return "ANY_VERSION"


# `write(shard, expected=ANY_VERSION)` switches the pointer whatever it names (one writer, or a test).
ANY_VERSION: Final = _AnyVersion()
Expected = VersionPointer | None | _AnyVersion


class ShardStore(Protocol):
    """One org's shard versions."""

    def pointer(self) -> VersionPointer | None:
        """The current version, None when nothing was ever written. Raises StoreUnavailableError."""
        ...

    def load(self, org_id: str, pointer: VersionPointer | None = None) -> OrgShard | None:
        """The version `pointer` names (the current one by default), None when nothing was ever written.
        Raises ShardCorruptError for a damaged or missing file, StoreUnavailableError."""
        ...

    def write(self, shard: OrgShard, expected: Expected = ANY_VERSION) -> VersionPointer:
        """Publish `shard` as a new version and switch the pointer to it, if the pointer still is `expected`
        (None: nothing written yet); otherwise VersionConflictError and the current version is untouched."""
        ...

    def newest_version(self) -> int:
        """The highest version number stored, readable or not: a rebuild must write past it."""
        ...


StoreFactory = Callable[[str], ShardStore]


def open_stores(settings: RetrievalSettings) -> StoreFactory:
    """The configured store (`RETRIEVAL_STORE`), as a function from org id to that org's store."""
    if settings.store == "file":
        from services.retrieval.stores.file import FileShardStore

        return lambda org_id: FileShardStore(settings.data_dir / org_id / "vector_store", settings.keep_versions)
    from services.retrieval.stores.s3 import S3Location, S3Stores

    return S3Stores(
        S3Location.parse(settings.store),
        cache_dir=settings.shard_cache_dir,
        keep_versions=settings.keep_versions,
        endpoint_url=settings.aws_endpoint_url,
        region=settings.aws_region,
    )
