"""The `s3://bucket/prefix` store: org shards in any S3-compatible object storage, shared by every replica.

Layout, per org: `{prefix}/{org}/CURRENT` (a small object naming the current
version) and `{prefix}/{org}/v00000012-<random>/` (one object per file of the
version, manifest last, never changed once written). The random suffix keeps
two writers that build the same version number from ever writing the same
objects. The pointer is switched with a conditional PUT: `If-Match` on the
ETag the writer read, or `If-None-Match: *` for an org's first version, so a
concurrent write makes the second switch fail (412) instead of silently
replacing the first.

Replicas download a version's objects into a local directory cache, checking
each file's sha256 against the manifest as it arrives, and read it from there
with the same code as the file store. The endpoint is `AWS_ENDPOINT_URL`
(MinIO, Ceph, R2, ...), AWS otherwise; credentials come from the usual AWS
variables and files through boto3.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from services.common.logs import get_logger
from services.retrieval.shard import OrgShard, ShardCorruptError
from services.retrieval.shard_files import MANIFEST, read_manifest, read_version, version_name, version_number, write_version
from services.retrieval.stores import ANY_VERSION, Expected, StoreUnavailableError, VersionConflictError, VersionPointer

log = get_logger(__name__)

CURRENT_POINTER = "CURRENT"
# Files of one version fetched or sent at once; large files are also split into parts by the transfer manager.
PARALLEL_FILES = 4
DOWNLOAD_BLOCK = 1 << 20
# A replica that cannot reach the store keeps serving what it has: fail fast rather than hold requests.
CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=20, retries={"max_attempts": 3, "mode": "standard"},
                       max_pool_connections=2 * PARALLEL_FILES + 4)
UPLOADS = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=32 << 20, max_concurrency=PARALLEL_FILES)
_MISSING = {"NoSuchKey", "404", "NotFound"}
_CONFLICT = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """`s3://bucket` or `s3://bucket/some/prefix`."""
        if not url.startswith("s3://"):
            raise ValueError(f"RETRIEVAL_STORE must be 'file' or 's3://bucket/prefix', not {url!r}")
        bucket, _, prefix = url[len("s3://"):].partition("/")
        if not bucket:
            raise ValueError(f"RETRIEVAL_STORE {url!r} names no bucket")
        return cls(bucket, prefix.strip("/"))

    def key(self, *parts: str) -> str:
        return "/".join(part for part in (self.prefix, *parts) if part)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextmanager
def _reaching(what: str) -> Iterator[None]:
    """Network, credential and server failures become StoreUnavailableError; the callers handle the rest."""
    try:
        yield
    except ClientError as error:
        if _code(error) in _MISSING | _CONFLICT:
            raise
        raise StoreUnavailableError(f"{what}: {error}") from error
    except BotoCoreError as error:
        raise StoreUnavailableError(f"{what}: {error}") from error


class S3Stores:
    """The `StoreFactory` for one bucket and prefix: one boto3 client (thread-safe) shared by every org."""

    def __init__(self, location: S3Location, cache_dir: Path, keep_versions: int = 2, endpoint_url: str | None = None,
                 region: str | None = None) -> None:
        self.location = location
        self.cache_dir = Path(cache_dir)
        self.keep_versions = max(1, keep_versions)
        self.client = boto3.session.Session().client("s3", endpoint_url=endpoint_url or None, region_name=region or None,
                                                     config=CLIENT_CONFIG)

    def __call__(self, org_id: str) -> S3ShardStore:
        return S3ShardStore(self.client, self.location, org_id, self.cache_dir / org_id, self.keep_versions)

    def check(self) -> None:
        """One request that proves the bucket is reachable with these credentials (run at start-up)."""
        with _reaching(f"{self.location}"):
            self.client.head_bucket(Bucket=self.location.bucket)


class S3ShardStore:
    def __init__(self, client, location: S3Location, org_id: str, cache_dir: Path, keep_versions: int) -> None:
        self.client = client
        self.location = location
        self.org_id = org_id
        self.cache_dir = cache_dir
        self.keep_versions = keep_versions

    def _key(self, *parts: str) -> str:
        return self.location.key(self.org_id, *parts)

    def pointer(self) -> VersionPointer | None:
        with _reaching(f"reading {self._key(CURRENT_POINTER)}"):
            try:
                reply = self.client.get_object(Bucket=self.location.bucket, Key=self._key(CURRENT_POINTER))
            except ClientError as error:
                if _code(error) in _MISSING:
                    return None
                raise
            return VersionPointer(reply["Body"].read().decode("utf-8").strip(), reply["ETag"])

    def newest_version(self) -> int:
        numbers = [version_number(name) for name in self._stored_versions()]
        return max((number for number in numbers if number is not None), default=0)

    def _stored_versions(self) -> list[str]:
        names = []
        with _reaching(f"listing {self._key()}/"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=self._key() + "/", Delimiter="/")
            for page in pages:
                names += [entry["Prefix"].rstrip("/").rsplit("/", 1)[-1] for entry in page.get("CommonPrefixes", [])]
        return [name for name in names if version_number(name) is not None]

    # Reading

    def load(self, org_id: str, pointer: VersionPointer | None = None) -> OrgShard | None:
        pointer = pointer or self.pointer()
        if pointer is None:
            return None
        local = self.cache_dir / pointer.version
        if (local / MANIFEST).is_file():
            try:
                return read_version(org_id, local)
            except ShardCorruptError:
                # Our own copy was damaged (disk, a killed process): fetch it again.
                log.warning("shard.local_copy_damaged", org_id=org_id, version=pointer.version)
                shutil.rmtree(local, ignore_errors=True)
        self._download(pointer.version, local)
        shard = read_version(org_id, local, verify=False)
        self._forget_local_copies(keep=pointer.version)
        return shard

    def _download(self, version: str, target: Path) -> None:
        """Fetch every object of `version` into `target`, each checked against the manifest as it arrives."""
        staging = target.with_name(f"{version}.tmp-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            self._fetch(version, MANIFEST, staging / MANIFEST, expected_sha256=None)
            files = read_manifest(staging)["files"]
            with ThreadPoolExecutor(PARALLEL_FILES, thread_name_prefix="shard-download") as pool:
                list(pool.map(lambda item: self._fetch(version, item[0], staging / item[0], item[1]), files.items()))
            try:
                os.rename(staging, target)
            except OSError:
                if not (target / MANIFEST).is_file():  # another thread finished the same download first
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _fetch(self, version: str, name: str, path: Path, expected_sha256: str | None) -> None:
        key = self._key(version, name)
        digest = hashlib.sha256()
        with _reaching(f"reading {key}"):
            try:
                body = self.client.get_object(Bucket=self.location.bucket, Key=key)["Body"]
            except ClientError as error:
                if _code(error) in _MISSING:
                    raise ShardCorruptError(f"s3://{self.location.bucket}/{key}: missing") from error
                raise
            with open(path, "wb") as handle:
                for block in iter(lambda: body.read(DOWNLOAD_BLOCK), b""):
                    digest.update(block)
                    handle.write(block)
        if expected_sha256 is not None and digest.hexdigest() != expected_sha256:
            raise ShardCorruptError(f"s3://{self.location.bucket}/{key}: checksum mismatch")

    def _forget_local_copies(self, keep: str) -> None:
        """Local copies of this org's versions older than `keep` (a newer one may be a write in progress); a
        shard still serving from a removed copy keeps its open mmap."""
        newest = version_number(keep) or 0
        for entry in self.cache_dir.iterdir():
            number = version_number(entry.name)
            if number is not None and number < newest:
                shutil.rmtree(entry, ignore_errors=True)

    # Writing

    def write(self, shard: OrgShard, expected: Expected = ANY_VERSION) -> VersionPointer:
        version = version_name(shard.version, secrets.token_hex(6))
        local = self.cache_dir / version
        staging = local.with_name(f"{version}.tmp-{os.getpid()}")
        staging.mkdir(parents=True)
        try:
            files = write_version(shard, staging)
            os.rename(staging, local)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        data, manifest = files[:-1], files[-1]
        with ThreadPoolExecutor(PARALLEL_FILES, thread_name_prefix="shard-upload") as pool:
            list(pool.map(lambda name: self._upload(local / name, version, name), data))
        # The manifest goes last: a version whose manifest exists is complete.
        self._upload(local / manifest, version, manifest)
        try:
            pointer = self._switch(version, expected)
        except VersionConflictError:
            shutil.rmtree(local, ignore_errors=True)
            self._delete_quietly([version])
            raise
        self._forget_local_copies(keep=version)
        self._remove_old_versions(current=version)
        return pointer

    def _upload(self, path: Path, version: str, name: str) -> None:
        key = self._key(version, name)
        with _reaching(f"writing {key}"):
            self.client.upload_file(str(path), self.location.bucket, key, Config=UPLOADS)

    def _switch(self, version: str, expected: Expected) -> VersionPointer:
        key = self._key(CURRENT_POINTER)
        condition = {} if expected is ANY_VERSION else {"IfNoneMatch": "*"} if expected is None else {"IfMatch": expected.tag}
        with _reaching(f"switching {key}"):
            try:
                reply = self.client.put_object(Bucket=self.location.bucket, Key=key, Body=(version + "\n").encode(),
                                               ContentType="text/plain", **condition)
            except ClientError as error:
                if _code(error) in _CONFLICT:
                    raise VersionConflictError(f"s3://{self.location.bucket}/{key} moved since {expected} was read") from error
                raise
        return VersionPointer(version, reply["ETag"])

    def _remove_old_versions(self, current: str) -> None:
        """Keep the newest `keep_versions` (replicas may still be fetching the one before the current); a
        failure here costs only storage, so it is logged, never raised."""
        try:
            versions = sorted(self._stored_versions(), key=lambda name: (version_number(name), name), reverse=True)
            kept = {current, *versions[: self.keep_versions]}
        except StoreUnavailableError as error:
            log.warning("shard.old_versions_kept", org_id=self.org_id, error=str(error))
            return
        self._delete_quietly([name for name in versions if name not in kept])

    def _delete_quietly(self, versions: list[str]) -> None:
        try:
            self._delete_versions(versions)
        except StoreUnavailableError as error:
            log.warning("shard.old_versions_kept", org_id=self.org_id, error=str(error))

    def _delete_versions(self, versions: list[str]) -> None:
        for version in versions:
            with _reaching(f"removing {self._key(version)}/"):
                pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.location.bucket, Prefix=self._key(version) + "/")
                keys = [{"Key": entry["Key"]} for page in pages for entry in page.get("Contents", [])]
                for start in range(0, len(keys), 1000):
                    self.client.delete_objects(Bucket=self.location.bucket, Delete={"Objects": keys[start : start + 1000], "Quiet": True})
