"""Records that could not be written yet, kept on disk until the database is back.

The spool is a directory of JSON-lines segments (`spool-000000000001.jsonl`, ...). New records are appended
to the newest segment; replay takes the oldest closed segment, writes its records, and deletes it only once
they are all committed. A crash or a database failure mid-segment leaves the segment in place to be replayed
whole next time, which is safe because every record is an idempotent upsert. The total size is capped: past
the cap new records are refused (and counted as dropped by the caller), never the old ones overwritten.

Each process claims its own spool directory under the root (`0/`, `1/`, ... with an exclusive lock), so two
gateways sharing a data directory never append to, or delete, each other's segments; a restarted process
claims the first free directory again and replays what its predecessor left there.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from services.common.logs import get_logger
from services.common.records.metrics import RECORDS_DROPPED
from services.common.records.record_types import Record, SpoolLineError, from_json_line

SEGMENT_BYTES = 1024 * 1024
SEGMENT_GLOB = "spool-*.jsonl"
LOCK_FILE = ".lock"

log = get_logger(__name__)


class Spool:
    """A bounded, append-only queue of records on disk, safe to use from several threads."""

    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._current: IO[str] | None = None
        self._current_path: Path | None = None
        self._lock_file: IO[str] | None = None
        self._counts: dict[Path, int] = {}
        self._sizes: dict[Path, int] = {}
        for path in sorted(self.directory.glob(SEGMENT_GLOB)):
            with path.open("rb") as handle:
                self._counts[path] = sum(1 for line in handle if line.strip())
            self._sizes[path] = path.stat().st_size
        self._next_sequence = max((self._sequence(path) for path in self._counts), default=0) + 1

    @classmethod
    def claim(cls, root: Path, max_bytes: int) -> Spool:
        """The spool in the first directory under `root` that no other process holds (held until exit)."""
        number = 0
        while True:
            directory = Path(root) / str(number)
            directory.mkdir(parents=True, exist_ok=True)
            lock = (directory / LOCK_FILE).open("a")
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                number += 1
                continue
            spool = cls(directory, max_bytes)
            spool._lock_file = lock
            return spool

    @staticmethod
    def _sequence(path: Path) -> int:
        return int(path.stem.removeprefix("spool-"))

    @property
    def depth(self) -> int:
        """Records waiting in the spool."""
        with self._lock:
            return sum(self._counts.values())

    @property
    def size_bytes(self) -> int:
        with self._lock:
            return sum(self._sizes.values())

    def append(self, lines: list[str]) -> int:
        """Append serialised records; returns how many fit under the size cap (the rest are not written)."""
        accepted = 0
        with self._lock:
            total = sum(self._sizes.values())
            for line in lines:
                data = line + "\n"
                size = len(data.encode())
                if total + size > self.max_bytes:
                    break
                handle = self._segment_for(size)
                handle.write(data)
                assert self._current_path is not None
                self._counts[self._current_path] += 1
                self._sizes[self._current_path] += size
                total += size
                accepted += 1
            if self._current is not None and accepted:
                self._current.flush()
                os.fsync(self._current.fileno())
        return accepted

    def _segment_for(self, size: int) -> IO[str]:
        if self._current is not None and self._current_path is not None and self._sizes[self._current_path] + size > self.segment_bytes:
            self._close_current()
        if self._current is None:
            path = self.directory / f"spool-{self._next_sequence:012d}.jsonl"
            self._next_sequence += 1
            self._current = path.open("a", encoding="utf-8")
            self._current_path = path
            self._counts[path] = 0
            self._sizes[path] = 0
        return self._current

    def _close_current(self) -> None:
        if self._current is not None:
            self._current.close()
        self._current = None
        self._current_path = None

    def _oldest_segment(self) -> Path | None:
        """The oldest segment, closing the current one if it is the only one left (appends go to a new one)."""
        with self._lock:
            if not self._counts:
                return None
            oldest = min(self._counts, key=self._sequence)
            if oldest == self._current_path:
                self._close_current()
            return oldest

    def replay(self, write: Callable[[list[Record]], None], batch_size: int = 200) -> int:
        """Hand every spooled record to `write` in batches, oldest first; returns how many were written.

        A segment is deleted once `write` has returned for all its records; if `write` raises, replay stops
        there and the exception propagates, leaving that segment (and the newer ones) in place.
        """
        written = 0
        while (segment := self._oldest_segment()) is not None:
            for batch in self._batches(segment, batch_size):
                write(batch)
                written += len(batch)
            with self._lock:
                segment.unlink(missing_ok=True)
                self._counts.pop(segment, None)
                self._sizes.pop(segment, None)
        return written

    def _batches(self, segment: Path, batch_size: int) -> Iterator[list[Record]]:
        batch: list[Record] = []
        with segment.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    batch.append(from_json_line(line))
                except SpoolLineError as error:
                    # A line torn by a crash mid-write: the only record that can be lost here, and it is counted.
                    RECORDS_DROPPED.labels("corrupt").inc()
                    log.warning("records.spool_line_unreadable", segment=segment.name, line=number, error=str(error))
                    continue
                if len(batch) >= batch_size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def close(self) -> None:
        with self._lock:
            self._close_current()
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None
