"""The gateway's recorder: call records written off the call path, never slowing or failing a call.

Every public method only builds a small record and puts it on a bounded in-memory queue (`put_nowait`):
no I/O, no lock held by anyone else, nothing that can raise into the call. A writer thread takes records
from the queue, applies the org's privacy policy, and commits them to the store in batches. When the store
is down (or rejects connections, or times out), the batch goes to the on-disk spool and the writer probes
the store with back-off; once it answers, the spool is replayed (idempotent upserts, so nothing doubles)
before new records are written.

If the writer is stuck inside a hung database call, the queue fills; further records then go to an
overflow queue that a second thread writes straight to the spool. Only when both are full, or the spool
has reached its size cap, is a record dropped, and every drop is counted (`voiceagent_records_dropped_total`).
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from services.common.logs import get_logger
from services.common.orgs import RecordsPolicy
from services.common.records.metrics import (
    DROP_REASONS,
    RECORD_WRITE_SECONDS,
    RECORDS_DROPPED,
    RECORDS_SPOOLED,
    RECORDS_WRITTEN,
    SPOOL_DEPTH,
)
from services.common.records.org_configs import OrgConfigCache
from services.common.records.privacy import CallerNumberHasher, OrgPolicies, load_hash_key, protect
from services.common.records.record_types import (
    AuditRecorded,
    CallbackRequested,
    CallEnded,
    CallStarted,
    HandoffStarted,
    Record,
    TurnRecorded,
    record_kind,
    to_json_line,
)
from services.common.records.settings import RecordsSettings
from services.common.records.spool import Spool
from services.common.records.store import RecordStore
from services.common.records.writer import write_records

log = get_logger(__name__)

# A statement that takes longer than this is given up (PostgreSQL) and its batch spooled.
STATEMENT_TIMEOUT_MS = 10_000
BATCH_SIZE = 100
OVERFLOW_SIZE = 10_000
_STOP = object()


class StoreUnavailable(Exception):
    """The store could not take a batch for a reason that is not the batch's fault: spool it and retry later."""


def _is_transient(error: Exception) -> bool:
    """Down, unreachable, timed out, or without its tables: worth retrying. A constraint or data error is the
    record's own fault and would fail forever."""
    if isinstance(error, (IntegrityError, DataError)):
        return False
    return isinstance(error, (DBAPIError, PoolTimeoutError, OSError))


@dataclass(frozen=True)
class RetryPolicy:
    """How soon to probe a store that failed: doubling from `first` up to `longest` seconds."""

    first: float = 0.25
    longest: float = 5.0


class CallRecorder:
    """Non-blocking call recording for the gateway; see the module docstring for the guarantees.

    Lifecycle: `CallRecorder.from_settings().start()` at gateway start-up (after `require_current_schema`),
    `close()` at shutdown (drains what it can within its timeout and spools the rest).
    """

    def __init__(
        self,
        store: RecordStore,
        spool: Spool,
        policies: Callable[[str], RecordsPolicy],
        hasher: CallerNumberHasher,
        queue_size: int = 10_000,
        overflow_size: int = OVERFLOW_SIZE,
        retry: RetryPolicy | None = None,
        wants_events: Callable[[str], bool] | None = None,
    ) -> None:
        self.store = store
        self.spool = spool
        self.policies = policies
        self.hasher = hasher
        # Which orgs get signed events queued in the outbox with their records (those with an events_url).
        self.wants_events = wants_events
        self.retry = retry or RetryPolicy()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._overflow: queue.Queue[Any] = queue.Queue(maxsize=overflow_size)
        self._in_flight: list[Record] = []
        self._healthy = True
        self._closed = False
        self._next_probe = 0.0
        self._backoff = self.retry.first
        self._writer = threading.Thread(target=self._write_loop, name="call-recorder-writer", daemon=True)
        self._spooler = threading.Thread(target=self._overflow_loop, name="call-recorder-spooler", daemon=True)
        SPOOL_DEPTH.set(spool.depth)
        for reason in DROP_REASONS:
            RECORDS_DROPPED.labels(reason)

    @classmethod
    def from_settings(cls, settings: RecordsSettings | None = None) -> CallRecorder:
        settings = settings or RecordsSettings()
        configs = OrgConfigCache(settings.data_dir)
        return cls(
            RecordStore(settings.database_url, statement_timeout_ms=STATEMENT_TIMEOUT_MS),
            Spool.claim(settings.spool_dir, max_bytes=int(settings.spool_max_mb * 1024 * 1024)),
            OrgPolicies(configs),
            CallerNumberHasher(load_hash_key(settings.hash_key, settings.data_dir)),
            queue_size=settings.queue_size,
            wants_events=configs.wants_events,
        )

    def start(self) -> CallRecorder:
        self._writer.start()
        self._spooler.start()
        return self

    # The gateway's calls. Each returns at once; True means the record was accepted (queued or spooled).

    def call_started(
        self, call_sid: str, org_id: str, dialled_number: str, caller_number: str | None, mode: str, started_at: datetime | None = None
    ) -> bool:
        """At the inbound webhook (turn-based) or the stream's start message (streaming), once per call."""
        return self._submit(lambda: CallStarted(call_sid, org_id, dialled_number, caller_number, mode, **_at("started_at", started_at)))

    def turn_recorded(
        self,
        call_sid: str,
        org_id: str,
        turn_index: int,
        caller_text: str | None,
        answer_text: str | None,
        sources: Iterable[Any] = (),
        fallback: bool = False,
        fallback_reasons: Iterable[str] = (),
        latency_ms: dict[str, float] | None = None,
        barge_in: bool = False,
        created_at: datetime | None = None,
    ) -> bool:
        """After each turn's answer is decided (turn-based) or finished or interrupted (streaming)."""
        return self._submit(
            lambda: TurnRecorded(
                call_sid, org_id, turn_index, caller_text, answer_text, sources=list(sources), fallback=fallback,
                fallback_reasons=list(fallback_reasons), latency_ms=dict(latency_ms or {}), barge_in=barge_in,
                **_at("created_at", created_at),
            )
        )  # fmt: skip

    def call_ended(
        self,
        call_sid: str,
        org_id: str,
        outcome: str,
        turns_count: int,
        cost_usd: dict[str, float] | None = None,
        duration_seconds: float | None = None,
        ended_at: datetime | None = None,
    ) -> bool:
        """At Twilio's final status callback (turn-based) or the stream's end (streaming)."""
        return self._submit(
            lambda: CallEnded(
                call_sid, org_id, outcome, turns_count, cost_usd=dict(cost_usd or {}), duration_seconds=duration_seconds,
                **_at("ended_at", ended_at),
            )
        )  # fmt: skip

    def callback_requested(
        self, org_id: str, call_sid: str | None, name: str, number: str, message: str | None, reason: str | None = None
    ) -> uuid.UUID:
        """When the caller has confirmed the callback number; returns the request's id (for its event)."""
        record_id = uuid.uuid4()
        self._submit(lambda: CallbackRequested(org_id, call_sid, name, number, message, reason, id=record_id))
        return record_id

    def handoff_started(self, org_id: str, call_sid: str, number: str, trigger: str | None = None) -> uuid.UUID:
        """When the transfer is dialled; returns the handoff's id."""
        record_id = uuid.uuid4()
        self._submit(lambda: HandoffStarted(org_id, call_sid, number, trigger, id=record_id))
        return record_id

    def audit(self, actor: str, action: str, org_id: str | None = None, detail: dict[str, Any] | None = None) -> bool:
        """An administrative action taken through a service (the CLI writes its own synchronously)."""
        return self._submit(lambda: AuditRecorded(actor, action, org_id, dict(detail or {})))

    def record(self, record: Record) -> bool:
        """Submit an already built record."""
        return self._submit(lambda: record)

    def _submit(self, build: Callable[[], Record]) -> bool:
        try:
            return self._enqueue(build())
        except Exception:
            # Never into the call: a bad argument costs this record, logged and counted, and nothing else.
            RECORDS_DROPPED.labels("invalid").inc()
            log.exception("records.submit_failed")
            return False

    def _enqueue(self, record: Record) -> bool:
        try:
            self._queue.put_nowait(record)
            return True
        except queue.Full:
            pass
        try:
            self._overflow.put_nowait(record)
            return True
        except queue.Full:
            RECORDS_DROPPED.labels("queue_full").inc()
            return False

    # Waiting, for shutdown and tests.

    @property
    def pending_in_memory(self) -> int:
        """Accepted records neither committed nor on disk yet (what a crash right now would lose)."""
        return self._queue.unfinished_tasks + self._overflow.unfinished_tasks

    def flush(self, timeout: float = 10.0, include_spool: bool = True) -> bool:
        """Wait until every accepted record is in the store (or, with include_spool=False, at least on disk)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pending_in_memory == 0 and (not include_spool or self.spool.depth == 0):
                return True
            time.sleep(0.01)
        return False

    def close(self, timeout: float = 5.0) -> None:
        """Stop the threads; whatever could not be written within `timeout` is left in the spool for next time."""
        if self._closed:
            return
        self._closed = True
        self._put_sentinel(self._queue)
        self._put_sentinel(self._overflow)
        self._writer.join(timeout)
        self._spooler.join(max(0.1, timeout / 2))
        stranded = self._drain(self._queue) + self._drain(self._overflow)
        if self._writer.is_alive():
            # Hung inside the database: keep its batch too (if it commits after all, the replay is idempotent).
            log.warning("records.writer_stuck_at_shutdown", in_flight=len(self._in_flight))
            self._spool_protected(list(self._in_flight))
        self._spool_protected(self._protect_all(stranded))
        self.spool.close()
        self.store.close()

    @staticmethod
    def _put_sentinel(target: queue.Queue[Any]) -> None:
        try:
            target.put_nowait(_STOP)
        except queue.Full:
            pass

    @staticmethod
    def _drain(source: queue.Queue[Any]) -> list[Record]:
        items: list[Record] = []
        while True:
            try:
                item = source.get_nowait()
            except queue.Empty:
                return items
            source.task_done()
            if item is not _STOP:
                items.append(item)

    # The writer thread.

    def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._next_batch()
            try:
                self._in_flight = self._protect_all(batch)
                self._handle(self._in_flight)
            except Exception:
                log.exception("records.writer_failed")
                self._spool_protected(self._in_flight)
            finally:
                self._in_flight = []
                for _ in batch:
                    self._queue.task_done()

    def _next_batch(self) -> tuple[list[Record], bool]:
        batch: list[Record] = []
        try:
            item = self._queue.get(timeout=0.2)
        except queue.Empty:
            return batch, False
        while True:
            if item is _STOP:
                self._queue.task_done()
                return batch, True
            batch.append(item)
            if len(batch) >= BATCH_SIZE:
                return batch, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, False

    def _handle(self, batch: list[Record]) -> None:
        if not self._healthy and time.monotonic() >= self._next_probe:
            self._probe()
        if self._healthy and self.spool.depth:
            self._replay_spool()
        if not batch:
            return
        if not self._healthy:
            self._spool_protected(batch)
            return
        try:
            self._store(batch)
        except StoreUnavailable:
            self._spool_protected(batch)

    def _probe(self) -> None:
        try:
            with self.store.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:
            self._mark_down(error)
            return
        log.info("records.store_back", spooled=self.spool.depth)
        self._healthy = True
        self._backoff = self.retry.first

    def _mark_down(self, error: Exception) -> None:
        if self._healthy:
            log.warning("records.store_unavailable", error=str(error).splitlines()[0] if str(error) else type(error).__name__)
        self._healthy = False
        self._next_probe = time.monotonic() + self._backoff
        self._backoff = min(self.retry.longest, self._backoff * 2)

    def _replay_spool(self) -> None:
        try:
            replayed = self.spool.replay(self._store)
        except StoreUnavailable:
            return
        finally:
            SPOOL_DEPTH.set(self.spool.depth)
        if replayed:
            log.info("records.spool_replayed", records=replayed)

    def _store(self, batch: list[Record]) -> None:
        """Commit `batch` in one transaction; if the store rejects it, find and drop the bad records one by one.

        Raises StoreUnavailable (and marks the store down) when the failure is the store's, not the records'.
        """
        try:
            self._commit(batch)
            return
        except Exception as error:
            if _is_transient(error):
                self._mark_down(error)
                raise StoreUnavailable from error
            if len(batch) == 1:
                RECORDS_DROPPED.labels("rejected").inc()
                log.error("records.rejected", kind=record_kind(batch[0]), error=str(error).splitlines()[0])
                return
        for record in batch:
            self._store([record])

    def _commit(self, batch: list[Record]) -> None:
        started = time.perf_counter()
        with self.store.session() as session:
            write_records(session, batch, self.wants_events)
        RECORD_WRITE_SECONDS.observe(time.perf_counter() - started)
        for record in batch:
            RECORDS_WRITTEN.labels(record_kind(record)).inc()

    def _protect_all(self, records: list[Record]) -> list[Record]:
        """Each record as its org's policy allows; one that cannot be protected (a value of the wrong type
        from the caller) is dropped and counted, never stored or spooled unprotected."""
        protected: list[Record] = []
        for record in records:
            try:
                protected.append(protect(record, self.policies(record.org_id) if record.org_id else RecordsPolicy(), self.hasher))
            except Exception:
                RECORDS_DROPPED.labels("invalid").inc()
                log.exception("records.unprotectable", kind=record_kind(record))
        return protected

    def _spool_protected(self, records: list[Record]) -> None:
        if not records:
            return
        try:
            accepted = self.spool.append([to_json_line(record) for record in records])
        except OSError as error:
            # A full or read-only disk: these records are lost, counted, and the writer carries on.
            RECORDS_DROPPED.labels("spool_unwritable").inc(len(records))
            log.error("records.spool_unwritable", dropped=len(records), error=str(error))
            return
        RECORDS_SPOOLED.inc(accepted)
        if accepted < len(records):
            RECORDS_DROPPED.labels("spool_full").inc(len(records) - accepted)
            log.error("records.spool_full", dropped=len(records) - accepted, max_bytes=self.spool.max_bytes)
        SPOOL_DEPTH.set(self.spool.depth)

    # The overflow thread: records the writer had no room for go to disk, policy applied first.

    def _overflow_loop(self) -> None:
        while True:
            item = self._overflow.get()
            try:
                if item is _STOP:
                    return
                self._spool_protected(self._protect_all([item]))
            except Exception:
                log.exception("records.overflow_failed")
            finally:
                self._overflow.task_done()


def _at(name: str, value: datetime | None) -> dict[str, datetime]:
    """Pass a timestamp only when given, so the record's own default (now, UTC) applies otherwise."""
    return {name: value} if value is not None else {}

