"""The event deliverer: every outbox event POSTed, signed, to its org's events_url, at least once.

A thread takes due events from the outbox and sends each with its id, type, a timestamp and an HMAC-SHA256
signature (signing.py). A 2xx marks it delivered; anything else (a refused connection, a timeout, a 5xx, a
redirect, a missing secret) schedules the next attempt with exponential back-off and jitter, until the retry
window (72 h by default, never less than 24 h) has passed since the event was queued; then it is abandoned,
and stays visible as such (`voiceagent events list`).

At least once, never silently lost: an event is only marked delivered after its receiver answered 2xx, so a
crash between the two sends it again. Receivers deduplicate by the event id (the same on every attempt).

Several gateways may run a deliverer against one database. Each claims a due event by bumping its attempt
count where it still has the count it read (a compare-and-set that works the same on SQLite and PostgreSQL)
and pushing its next attempt past a lease, so two deliverers do not send the same event at the same moment;
an event whose deliverer died is claimed again once its lease runs out.

When one of an org's events fails, that org's other events claimed in the same round are rescheduled
without being tried: a receiver that is down (or hangs until the timeout) costs one attempt per round, not
one per event, and never holds up other orgs' deliveries, which go out from their own threads. When an org's
events get through again, its backlog waiting out a back-off is sent at once rather than up to an hour later.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update

from services.common.logs import get_logger
from services.common.records.metrics import EVENTS_DELIVERED, EVENTS_PENDING
from services.common.records.models import OutboxEvent, utc_now
from services.common.records.org_configs import OrgConfigCache
from services.common.records.outbox import EventType, event_body
from services.common.records.settings import EventSettings, RecordsSettings
from services.common.records.signing import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    MissingSecretError,
    org_secrets,
    signature_header,
)
from services.common.records.store import RecordStore

log = get_logger(__name__)

DELIVERY_OUTCOMES = ("delivered", "failed", "abandoned")
USER_AGENT = "voiceagent-events/1"
# The deliverer's own database statements give up after this (a hung database must not hang the thread forever).
STATEMENT_TIMEOUT_MS = 10_000
# While the outbox cannot be read, ask again after this long at most.
LONGEST_STORE_RETRY_SECONDS = 30.0
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class DeliverySchedule:
    """When to try again: `first` after the first failure, doubling up to `longest`, each delay varied by
    ±`jitter` (so receivers that come back are not hit by every deliverer at once); abandoned once an attempt
    fails after `give_up_after` has passed since the event was queued."""

    first: timedelta = timedelta(seconds=10)
    longest: timedelta = timedelta(hours=1)
    give_up_after: timedelta = timedelta(hours=72)
    jitter: float = 0.2

    @classmethod
    def from_settings(cls, settings: EventSettings) -> DeliverySchedule:
        return cls(
            first=timedelta(seconds=settings.retry_first_seconds),
            longest=timedelta(seconds=settings.retry_max_seconds),
            give_up_after=timedelta(hours=settings.retry_hours),
        )

    def delay(self, failed_attempts: int, rng: random.Random | None = None) -> timedelta:
        """The wait after the `failed_attempts`-th failed attempt (1 for the first)."""
        exponent = min(max(failed_attempts - 1, 0), 40)
        base = min(self.first * (2**exponent), self.longest)
        spread = (rng or random).uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else 1.0
        return base * spread

    def attempt_times(self, horizon: timedelta) -> list[timedelta]:
        """When the attempts of an event that keeps failing happen, from its first, without jitter (for docs and tests)."""
        times, at, failures = [timedelta(0)], timedelta(0), 0
        while True:
            failures += 1
            at += min(self.first * (2 ** min(failures - 1, 40)), self.longest)
            if at > horizon:
                return times
            times.append(at)


@dataclass(frozen=True)
class ClaimedEvent:
    """An outbox row this deliverer holds for one attempt (`attempts` already counts it)."""

    id: uuid.UUID
    org_id: str
    type: str
    created_at: datetime
    attempts: int
    body: bytes


@dataclass(frozen=True)
class AttemptResult:
    delivered: bool
    error: str | None = None
    # False when the event was rescheduled without being sent (an earlier event to the same org failed).
    attempted: bool = True


class EventDeliverer:
    """Delivers the outbox; see the module docstring for the guarantees.

    Lifecycle, as the recorder's: `EventDeliverer.from_settings().start()` at start-up, `close()` at shutdown
    (an attempt in flight is finished or, if the process dies, retried by whichever deliverer comes next).
    `run_once()` does one round synchronously (tests, tools).
    """

    def __init__(
        self,
        store: RecordStore,
        events_url: Callable[[str], str | None],
        secrets: Callable[[str], list[str]] = org_secrets,
        schedule: DeliverySchedule | None = None,
        timeout_seconds: float = 10.0,
        poll_seconds: float = 1.0,
        batch_size: int = 50,
        concurrency: int = 4,
        clock: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.events_url = events_url
        self.secrets = secrets
        self.schedule = schedule or DeliverySchedule()
        self.timeout_seconds = timeout_seconds
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.clock = clock
        self.rng = rng or random.Random()
        # Long enough that an attempt still running (at most the timeout) is never claimed by another deliverer.
        self.lease = timedelta(seconds=max(60.0, 3 * timeout_seconds))
        self._http = httpx.Client(timeout=timeout_seconds, follow_redirects=False, headers={"User-Agent": USER_AGENT})
        # How many orgs' receivers are posted to at once.
        self._senders = threading.BoundedSemaphore(concurrency)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="event-deliverer", daemon=True)
        self._store_down = False
        for event_type in EventType:
            for outcome in DELIVERY_OUTCOMES:
                EVENTS_DELIVERED.labels(event_type.value, outcome)

    @classmethod
    def from_settings(cls, records: RecordsSettings | None = None, settings: EventSettings | None = None) -> EventDeliverer:
        records = records or RecordsSettings()
        settings = settings or EventSettings()
        return cls(
            RecordStore(records.database_url, statement_timeout_ms=STATEMENT_TIMEOUT_MS),
            OrgConfigCache(records.data_dir).events_url,
            schedule=DeliverySchedule.from_settings(settings),
            timeout_seconds=settings.timeout_seconds,
            poll_seconds=settings.poll_seconds,
        )

    def start(self) -> EventDeliverer:
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop after the round in flight, waiting at most `timeout`: delivery threads are daemons, so a receiver
        that hangs never holds up the process's exit (its event is retried once the claim's lease runs out)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._http.close()
        self.store.close()

    # The loop.

    def _loop(self) -> None:
        wait = self.poll_seconds
        while not self._stopping.is_set():
            try:
                attempted = self.run_once()
            except Exception as error:
                if self._stopping.is_set():
                    return
                if not self._store_down:
                    log.warning("events.outbox_unavailable", error=_first_line(error))
                self._store_down = True
                self._stopping.wait(wait)
                wait = min(LONGEST_STORE_RETRY_SECONDS, wait * 2)
                continue
            if self._store_down:
                log.info("events.outbox_back")
                self._store_down = False
            wait = self.poll_seconds
            if not attempted:
                self._stopping.wait(self.poll_seconds)

    def run_once(self) -> int:
        """Claim the due events, deliver them (each org's in order, orgs in parallel); returns how many were claimed."""
        claimed = self._claim(self.clock())
        by_org: dict[str, list[ClaimedEvent]] = {}
        for event in claimed:
            by_org.setdefault(event.org_id, []).append(event)
        senders = [
            threading.Thread(target=self._deliver_org, args=(org_id, events), name="event-delivery", daemon=True)
            for org_id, events in by_org.items()
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        self._count_pending()
        return len(claimed)

    # Claiming and recording, each in its own short transaction.

    def _claim(self, now: datetime) -> list[ClaimedEvent]:
        undelivered = (OutboxEvent.delivered_at.is_(None), OutboxEvent.abandoned_at.is_(None))
        with self.store.session() as session:
            due = session.execute(
                select(OutboxEvent.id, OutboxEvent.attempts)
                .where(*undelivered, OutboxEvent.next_attempt_at <= now)
                .order_by(OutboxEvent.next_attempt_at, OutboxEvent.created_at)
                .limit(self.batch_size)
            ).all()
            mine = []
            for event_id, attempts in due:
                taken = session.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.id == event_id, OutboxEvent.attempts == attempts, *undelivered)
                    .values(attempts=attempts + 1, next_attempt_at=now + self.lease)
                    .execution_options(synchronize_session=False)
                )
                if taken.rowcount == 1:
                    mine.append(event_id)
            if not mine:
                return []
            rows = session.scalars(select(OutboxEvent).where(OutboxEvent.id.in_(mine)).order_by(OutboxEvent.created_at, OutboxEvent.id))
            return [ClaimedEvent(row.id, row.org_id, row.type, row.created_at, row.attempts, event_body(row)) for row in rows]

    def _record(self, event: ClaimedEvent, result: AttemptResult) -> None:
        now = self.clock()
        mine = (OutboxEvent.id == event.id, OutboxEvent.delivered_at.is_(None))
        if result.delivered:
            values: dict[str, Any] = {"delivered_at": now, "last_error": None}
            outcome = "delivered"
            # Delivered is delivered, even if our lease ran out and another deliverer has claimed it since.
            condition = mine
        else:
            error = (result.error or "failed")[:MAX_ERROR_CHARS]
            if now - event.created_at >= self.schedule.give_up_after:
                values, outcome = {"abandoned_at": now, "last_error": error}, "abandoned"
                log.error("events.abandoned", event_id=str(event.id), org_id=event.org_id, type=event.type, attempts=event.attempts, error=error)
            else:
                next_attempt = now + self.schedule.delay(event.attempts, self.rng)
                values, outcome = {"next_attempt_at": next_attempt, "last_error": error}, "failed"
                if result.attempted:
                    log.warning(
                        "events.delivery_failed", event_id=str(event.id), org_id=event.org_id, type=event.type,
                        attempts=event.attempts, error=error, retry_in_seconds=round((next_attempt - now).total_seconds(), 1),
                    )  # fmt: skip
            # Only while the claim is still ours: a deliverer that took over after our lease owns the schedule now.
            condition = (*mine, OutboxEvent.attempts == event.attempts)
        try:
            with self.store.session() as session:
                session.execute(update(OutboxEvent).where(*condition).values(**values).execution_options(synchronize_session=False))
        except Exception as error:
            # Left claimed: once the lease runs out it is tried again (a delivered event is then sent twice,
            # which receivers absorb by its id).
            log.warning("events.result_not_stored", event_id=str(event.id), error=_first_line(error))
            return
        if result.attempted or outcome == "abandoned":
            EVENTS_DELIVERED.labels(event.type, outcome).inc()

    def _count_pending(self) -> None:
        with self.store.session() as session:
            pending = session.scalar(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.delivered_at.is_(None), OutboxEvent.abandoned_at.is_(None))
            )
        EVENTS_PENDING.set(pending or 0)

    # Sending.

    def _deliver_org(self, org_id: str, events: list[ClaimedEvent]) -> None:
        """One org's claimed events in order, stopping at its first failure (the rest are rescheduled untried)."""
        with self._senders:
            try:
                self._send_in_order(org_id, events)
            except Exception:
                # Never kills the round; whatever was not recorded is retried when its lease runs out.
                log.exception("events.delivery_crashed", org_id=org_id)

    def _send_in_order(self, org_id: str, events: list[ClaimedEvent]) -> None:
        url = self.events_url(org_id)
        secrets: list[str] = []
        problem = None
        if url is None:
            problem = "the org's config has no events_url (or cannot be read)"
        else:
            try:
                secrets = self.secrets(org_id)
            except MissingSecretError as error:
                problem = str(error)
        for position, event in enumerate(events):
            result = AttemptResult(False, problem) if problem else self._post(url or "", secrets, event)
            self._record(event, result)
            if not result.delivered:
                for rest in events[position + 1 :]:
                    self._record(rest, AttemptResult(False, f"not attempted after an earlier failure: {result.error}", attempted=False))
                return
        self._release_backlog(org_id)

    def _release_backlog(self, org_id: str) -> None:
        """The org's receiver answers again: its events waiting out a back-off are due now, not in up to an hour.

        (One of them may be in flight from another deliverer at this moment and so be sent twice: receivers
        deduplicate by id, and a backlog waiting an hour after its receiver is back would be worse.)"""
        now = self.clock()
        with self.store.session() as session:
            session.execute(
                update(OutboxEvent)
                .where(
                    OutboxEvent.org_id == org_id, OutboxEvent.delivered_at.is_(None), OutboxEvent.abandoned_at.is_(None),
                    OutboxEvent.last_error.is_not(None), OutboxEvent.next_attempt_at > now,
                )
                .values(next_attempt_at=now)
                .execution_options(synchronize_session=False)
            )  # fmt: skip

    def _post(self, url: str, secrets: list[str], event: ClaimedEvent) -> AttemptResult:
        timestamp = int(self.clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: str(event.id),
            EVENT_TYPE_HEADER: event.type,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature_header(secrets, timestamp, event.body),
        }
        try:
            response = self._http.post(url, content=event.body, headers=headers)
        except httpx.HTTPError as error:
            return AttemptResult(False, f"{type(error).__name__}: {_first_line(error) or 'no response'}")
        if 200 <= response.status_code < 300:
            return AttemptResult(True)
        return AttemptResult(False, f"HTTP {response.status_code}")


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
