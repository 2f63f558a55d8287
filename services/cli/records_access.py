"""What every call-store command shares: which database, who is acting, "since when", and the audit entry.

The records package (SQLAlchemy, Alembic) is imported when a command runs, not when the CLI starts, so the
commands that never touch the store start as quickly as before.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.common.records.store import RecordStore

EXIT_NOT_CURRENT, EXIT_UNREACHABLE = 1, 2
_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL (default: $VOICEAGENT_DATABASE_URL, else sqlite:///$VOICEAGENT_DATA_DIR/voiceagent.db)",
    )


def add_actor_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--actor", default=None, help="who is acting, for the audit trail (default: cli:<your OS user>)")


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def actor(args: argparse.Namespace) -> str:
    """`--actor` as given, else the OS user (a container's bare uid when it has no name)."""
    if getattr(args, "actor", None):
        return str(args.actor)
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid-{os.getuid()}"


def database_url(args: argparse.Namespace) -> str:
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    from services.common.records.settings import RecordsSettings

    url = getattr(args, "database_url", None) or RecordsSettings().database_url
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise SystemExit("error: the database URL is not a URL (sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)") from None
    if backend not in ("sqlite", "postgresql"):
        raise SystemExit(f"error: unsupported database {backend!r}: use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
    return url


def shown(url: str) -> str:
    """The URL with its password hidden, for messages."""
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


def schema_problem(url: str) -> tuple[int, str] | None:
    """None when the store is reachable and current, else (exit code, message saying what to do)."""
    from services.common.records import schema

    status = schema.check_schema(url)
    if status.state is schema.SchemaState.CURRENT:
        return None
    if status.state is schema.SchemaState.UNREACHABLE:
        return EXIT_UNREACHABLE, f"cannot reach the call store {shown(url)}: {status.detail}"
    if status.state is schema.SchemaState.AHEAD:
        return EXIT_NOT_CURRENT, f"{shown(url)} is at revision {status.current}, newer than this voiceagent ({status.head})"
    return EXIT_NOT_CURRENT, f"the call store {shown(url)} is not at this version's schema: run `{schema.UPGRADE_COMMAND}`"


def open_store(args: argparse.Namespace) -> RecordStore:
    """The call store, checked to be reachable and at this code's schema (else exit with what to do)."""
    from services.common.records.store import RecordStore

    url = database_url(args)
    problem = schema_problem(url)
    if problem:
        code, message = problem
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(code)
    return RecordStore(url)


def audit_elsewhere(args: argparse.Namespace, action: str, org_id: str | None, detail: dict[str, Any]) -> bool:
    """Audit an action whose effect lives outside the store (a retrieval write): after the fact, in its own
    transaction. The action has happened either way, so a store that cannot take the entry gets a warning
    naming what was not audited, not a failed command."""
    try:
        url = database_url(args)
        problem = schema_problem(url)
        if problem is None:
            from services.common.records.queries import record_audit
            from services.common.records.store import RecordStore

            store = RecordStore(url)
            try:
                with store.session() as session:
                    record_audit(session, actor(args), action, org_id, detail)
                return True
            finally:
                store.close()
        reason = problem[1]
    except SystemExit as error:
        reason = str(error.code)
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    print(f"warning: {action} of {org_id} was not audited: {reason}", file=sys.stderr)
    return False


def parse_since(text: str) -> datetime:
    """`--since`: an ISO date or time (UTC unless it says otherwise), or an age such as 30m, 24h, 7d, 2w."""
    text = text.strip()
    if match := _RELATIVE.match(text):
        return datetime.now(UTC) - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date, a time or an age such as 24h or 7d") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def when(value: datetime | None) -> str:
    """A timestamp for tables: UTC to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
