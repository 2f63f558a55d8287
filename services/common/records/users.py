"""The operator console's users: who may sign in, with which role, for which org.

Shared by `voiceagent users` (which creates them) and the console (which signs them in), so the rules live
here once: an e-mail address is one account whatever its capitals, a viewer always belongs to one org, an
admin to one org or (with none) to all of them, and a password is only ever stored as an argon2id hash.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.orgs import validate_org_id
from services.common.records.models import ConsoleUser, utc_now
from services.common.records.queries import record_audit

ROLES = ("admin", "viewer")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
# Not a full RFC 5322 parser: enough to refuse typos ("ann@", "ann example.com") without refusing real addresses.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# argon2-cffi's defaults are RFC 9106's low-memory profile (argon2id, 64 MiB, 3 passes): about 50 ms here.
_hasher = PasswordHasher()
# Verified against when no account has the address, so an unknown address costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password anyone has")


class UserError(ValueError):
    """A user that cannot be created as asked; the message says why."""


@dataclass(frozen=True)
class UserView:
    id: uuid.UUID
    email: str
    role: str
    # None: an admin of every org.
    org_id: str | None
    created_at: datetime
    last_sign_in_at: datetime | None
    disabled: bool


def _view(user: ConsoleUser) -> UserView:
    return UserView(user.id, user.email, user.role, user.org_id, user.created_at, user.last_sign_in_at, user.disabled_at is not None)


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise UserError(f"{email!r} is not an e-mail address")
    return email


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"the password must be at most {MAX_PASSWORD_LENGTH} characters long")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the one hashed; with no hash (no such user) it still takes as long, and is False."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password[:MAX_PASSWORD_LENGTH]) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def create_user(session: Session, email: str, password: str, role: str, org_id: str | None, actor: str) -> UserView:
    """A new user, audited in the same transaction; UserError when the request breaks a rule."""
    email = normalise_email(email)
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if org_id is not None:
        try:
            validate_org_id(org_id)
        except ValueError as error:
            raise UserError(str(error)) from None
    elif role == "viewer":
        raise UserError("a viewer belongs to one org: give --org")
    if session.scalar(select(func.count()).select_from(ConsoleUser).where(ConsoleUser.email == email)):
        raise UserError(f"a user {email} already exists")
    user = ConsoleUser(id=uuid.uuid4(), email=email, password_hash=hash_password(password), role=role, org_id=org_id,
                       created_at=utc_now(), session_epoch=0)  # fmt: skip
    session.add(user)
    session.flush()
    record_audit(session, actor, "user.add", org_id, {"email": email, "role": role, "org_id": org_id})
    return _view(user)


def set_password(session: Session, email: str, password: str, actor: str) -> UserView:
    """A new password for an existing user (also re-enabling one that was disabled); every session they had ends."""
    user = session.scalar(select(ConsoleUser).where(ConsoleUser.email == normalise_email(email)))
    if user is None:
        raise UserError(f"no user {email.strip().lower()}")
    user.password_hash = hash_password(password)
    user.session_epoch += 1
    user.disabled_at = None
    record_audit(session, actor, "user.password", user.org_id, {"email": user.email})
    session.flush()
    return _view(user)


def find_user(session: Session, email: str) -> ConsoleUser | None:
    """The enabled user with this address (any capitals), or None."""
    try:
        email = normalise_email(email)
    except UserError:
        return None
    return session.scalar(select(ConsoleUser).where(ConsoleUser.email == email, ConsoleUser.disabled_at.is_(None)))


def get_user(session: Session, user_id: uuid.UUID) -> ConsoleUser | None:
    """The enabled user with this id, or None."""
    user = session.get(ConsoleUser, user_id)
    return user if user is not None and user.disabled_at is None else None


def list_users(session: Session) -> list[UserView]:
    return [_view(user) for user in session.scalars(select(ConsoleUser).order_by(ConsoleUser.email))]
