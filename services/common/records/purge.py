"""Retention: what is older than each org's `records.retention_days` is deleted, and the deletion audited.

Run by `voiceagent db purge` (by hand, or daily by the Kubernetes CronJob). Each org is purged in its own
transaction together with its audit entry, so an interrupted purge leaves every org either purged and
audited or untouched, and the next run finishes the job.

What goes: calls that started before the cutoff with their turns and handoffs; callback requests made before
it (a callback outlives its call's purge until its own age passes, with its call reference cleared); outbox
events queued before it, delivered or not, since their payloads carry transcripts and retention is a promise
to the caller. The audit trail stays: it is the record of who deleted what.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, select, union, update
from sqlalchemy.orm import Session

from services.common.records.models import Call, CallbackRequest, Handoff, OutboxEvent, Turn
from services.common.records.queries import record_audit
from services.common.records.store import RecordStore

PURGE_ACTION = "purge"


@dataclass(frozen=True)
class OrgPurge:
    """What one org's purge deleted (or, in a dry run, would delete)."""

    org_id: str
    retention_days: int
    cutoff: datetime
    calls: int
    turns: int
    handoffs: int
    callbacks: int
    events: int

    @property
    def deleted(self) -> int:
        return self.calls + self.turns + self.handoffs + self.callbacks + self.events


def orgs_with_records(session: Session) -> list[str]:
    """Every org that has anything the purge could delete (including orgs whose config is gone)."""
    found = union(select(Call.org_id), select(CallbackRequest.org_id), select(OutboxEvent.org_id), select(Handoff.org_id))
    return sorted(session.scalars(select(found.subquery().c[0])))


def _count(session: Session, query: Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def _purge_org(session: Session, org_id: str, retention_days: int, now: datetime, dry_run: bool) -> OrgPurge:
    cutoff = now - timedelta(days=retention_days)
    expired_calls = select(Call.call_sid).where(Call.org_id == org_id, Call.started_at < cutoff)
    expired_callbacks = select(CallbackRequest.id).where(CallbackRequest.org_id == org_id, CallbackRequest.created_at < cutoff)
    expired_events = select(OutboxEvent.id).where(OutboxEvent.org_id == org_id, OutboxEvent.created_at < cutoff)
    result = OrgPurge(
        org_id=org_id,
        retention_days=retention_days,
        cutoff=cutoff,
        calls=_count(session, expired_calls),
        turns=_count(session, select(Turn.call_sid).where(Turn.call_sid.in_(expired_calls))),
        handoffs=_count(session, select(Handoff.id).where(Handoff.call_sid.in_(expired_calls))),
        callbacks=_count(session, expired_callbacks),
        events=_count(session, expired_events),
    )
    if dry_run or not result.deleted:
        return result
    # Spelled out rather than left to ON DELETE rules, so the purge means the same on every database.
    unsynchronised = {"synchronize_session": False}
    session.execute(delete(Turn).where(Turn.call_sid.in_(expired_calls)).execution_options(**unsynchronised))
    session.execute(delete(Handoff).where(Handoff.call_sid.in_(expired_calls)).execution_options(**unsynchronised))
    session.execute(
        update(CallbackRequest).where(CallbackRequest.call_sid.in_(expired_calls)).values(call_sid=None).execution_options(**unsynchronised)
    )
    session.execute(delete(Call).where(Call.call_sid.in_(expired_calls.scalar_subquery())).execution_options(**unsynchronised))
    session.execute(delete(CallbackRequest).where(CallbackRequest.id.in_(expired_callbacks)).execution_options(**unsynchronised))
    session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(expired_events)).execution_options(**unsynchronised))
    return result


def purge_expired(
    store: RecordStore, retention_days: Callable[[str], int], now: datetime, actor: str, dry_run: bool = False
) -> list[OrgPurge]:
    """Purge every org by its own retention; each org with deletions gets an audit entry (in its transaction),
    and the run one more (org-less) with the totals, so a purge that found nothing is on record too."""
    with store.session() as session:
        orgs = orgs_with_records(session)
    results = []
    for org_id in orgs:
        with store.session() as session:
            result = _purge_org(session, org_id, retention_days(org_id), now, dry_run)
            if result.deleted and not dry_run:
                record_audit(session, actor, PURGE_ACTION, org_id, _detail(result))
        results.append(result)
    if not dry_run:
        with store.session() as session:
            record_audit(session, actor, PURGE_ACTION, None, {"orgs": len(results), "deleted": sum(r.deleted for r in results)})
    return results


def _detail(result: OrgPurge) -> dict[str, object]:
    detail = asdict(result)
    detail.pop("org_id")
    detail["cutoff"] = result.cutoff.isoformat()
    return detail
