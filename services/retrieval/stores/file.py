"""The `file` store: an org's versions in `data/{org}/vector_store/`, the layout `make demo` has always used.

`CURRENT` names the current version directory. A write builds the next
version in a staging directory, renames it into place and then replaces
`CURRENT` with an atomic rename, so a crash at any moment leaves `CURRENT`
naming a complete version. Writers hold an exclusive lock on the directory
(`flock`) from checking the pointer to switching it, so processes sharing a
disk serialise their writes; this store still suits one replica, or several
on one host, and object storage is the store for replicas on many hosts.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.retrieval.shard import OrgShard
from services.retrieval.shard_files import fsync_dir, fsync_file, read_version, version_name, version_number, write_version
from services.retrieval.stores import ANY_VERSION, Expected, VersionConflictError, VersionPointer

CURRENT_POINTER = "CURRENT"


class FileShardStore:
    def __init__(self, directory: Path, keep_versions: int = 1) -> None:
        self.directory = Path(directory)
        self.keep_versions = max(1, keep_versions)

    def pointer(self) -> VersionPointer | None:
        path = self.directory / CURRENT_POINTER
        if not path.is_file():
            return None
        name = path.read_text(encoding="utf-8").strip()
        # Version numbers only grow and each is written once, so the name is also the tag.
        return VersionPointer(name, name)

    def current_version_dir(self) -> Path | None:
        pointer = self.pointer()
        return None if pointer is None else self.directory / pointer.version

    def newest_version(self) -> int:
        numbers = [version_number(entry.name[:9]) for entry in self.directory.glob("v*")]
        return max((number for number in numbers if number is not None), default=0)

    def load(self, org_id: str, pointer: VersionPointer | None = None) -> OrgShard | None:
        pointer = pointer or self.pointer()
        if pointer is None:
            return None
        return read_version(org_id, self.directory / pointer.version)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        descriptor = os.open(self.directory, os.O_RDONLY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)

    def write(self, shard: OrgShard, expected: Expected = ANY_VERSION) -> VersionPointer:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = version_name(shard.version)
        with self._exclusive():
            if expected is not ANY_VERSION and self.pointer() != expected:
                raise VersionConflictError(f"{self.directory}: {CURRENT_POINTER} moved from {expected} to {self.pointer()}")
            final_dir = self.directory / name
            staging = self.directory / f"{name}.tmp-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            write_version(shard, staging)
            if final_dir.exists():
                # Left by a crash after the rename but before CURRENT moved: never current, safe to replace.
                shutil.rmtree(final_dir)
            os.rename(staging, final_dir)
            fsync_dir(self.directory)
            pointer_tmp = self.directory / f"{CURRENT_POINTER}.tmp-{os.getpid()}"
            pointer_tmp.write_text(name + "\n", encoding="utf-8")
            fsync_file(pointer_tmp)
            os.replace(pointer_tmp, self.directory / CURRENT_POINTER)
            fsync_dir(self.directory)
            self._remove_old_versions(current=name)
        return VersionPointer(name, name)

    def _remove_old_versions(self, current: str) -> None:
        """Versions past the newest `keep_versions`, and debris of interrupted writes. A reader of a removed
        version keeps its open mmap."""
        versions = sorted((entry for entry in self.directory.iterdir() if version_number(entry.name) is not None),
                          key=lambda entry: version_number(entry.name), reverse=True)
        kept = {current, *(entry.name for entry in versions[: self.keep_versions])}
        for entry in self.directory.iterdir():
            if entry.name in kept or entry.name == CURRENT_POINTER:
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith(f"{CURRENT_POINTER}.tmp"):
                entry.unlink(missing_ok=True)
