"""Checking a sign-in: the password, the lockout after repeated failures, and the audit entry either way.

Failures are counted per e-mail address whether or not an account has it, and an unknown address costs the
same argon2 verification as a wrong password, so neither the answer, the lockout nor the time taken tells
anyone which addresses have accounts. A locked address is refused even with the right password until the
lock expires; a successful sign-in clears the count.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from services.common.records.models import ConsoleUser, SignInFailures
from services.common.records.queries import record_audit
from services.common.records.users import UserError, find_user, normalise_email, password_matches


class SignInOutcome(enum.StrEnum):
    SIGNED_IN = "signed_in"
    WRONG = "wrong"  # unknown address or wrong password: the same to the person signing in
    LOCKED = "locked"


@dataclass(frozen=True)
class LockoutPolicy:
    attempts: int = 5
    window: timedelta = timedelta(minutes=15)
    lock: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class SignInResult:
    outcome: SignInOutcome
    user: ConsoleUser | None = None
    locked_until: datetime | None = None


def _failures(session: Session, email: str, now: datetime, policy: LockoutPolicy) -> SignInFailures:
    row = session.get(SignInFailures, email, with_for_update=True)
    if row is None:
        row = SignInFailures(email=email, failures=0, first_failure_at=now)
        session.add(row)
    elif row.first_failure_at + policy.window <= now and (row.locked_until is None or row.locked_until <= now):
        row.failures, row.first_failure_at, row.locked_until = 0, now, None
    return row


def sign_in(session: Session, email: str, password: str, now: datetime, policy: LockoutPolicy) -> SignInResult:
    """Check the address and password; counts the attempt, audits it, and commits with the caller's session."""
    try:
        address = normalise_email(email)
    except UserError:
        address = email.strip().lower()[:254]
    failures = _failures(session, address, now, policy)
    user = find_user(session, address)
    actor = f"console:{address}"
    if failures.locked_until is not None and failures.locked_until > now:
        record_audit(session, actor, "console.sign_in_refused", user.org_id if user else None, {"reason": "locked"})
        return SignInResult(SignInOutcome.LOCKED, locked_until=failures.locked_until)
    if user is not None and password_matches(user.password_hash, password):
        session.delete(failures)
        user.last_sign_in_at = now
        record_audit(session, actor, "console.sign_in", user.org_id, {"role": user.role})
        return SignInResult(SignInOutcome.SIGNED_IN, user=user)
    if user is None:
        password_matches(None, password)  # as long as a wrong password takes
    failures.failures += 1
    detail: dict[str, object] = {"reason": "unknown_user" if user is None else "wrong_password", "failures": failures.failures}
    if failures.failures >= policy.attempts:
        failures.locked_until = now + policy.lock
        detail["locked_until"] = failures.locked_until.isoformat()
    record_audit(session, actor, "console.sign_in_failed", user.org_id if user else None, detail)
    if failures.locked_until is not None:
        return SignInResult(SignInOutcome.LOCKED, locked_until=failures.locked_until)
    return SignInResult(SignInOutcome.WRONG)
