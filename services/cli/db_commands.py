"""`voiceagent db upgrade` and `voiceagent db current`: the call store's schema from the command line.

The records package (SQLAlchemy, Alembic) is imported when a db command runs, not when the CLI starts, so
the other commands stay as quick to start as they were.
"""

from __future__ import annotations

import argparse
import sys

from services.cli.output import print_json

EXIT_CURRENT, EXIT_NOT_CURRENT, EXIT_UNREACHABLE = 0, 1, 2


def register(commands: argparse._SubParsersAction) -> None:
    db = commands.add_parser("db", help="the call store's schema (VOICEAGENT_DATABASE_URL)")
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")

    upgrade = actions.add_parser("upgrade", help="apply the call store's migrations (safe to repeat)")
    _add_url_option(upgrade)
    upgrade.set_defaults(run=run_upgrade)

    current = actions.add_parser(
        "current", aliases=["status"], help="the schema's revision against this version's (exit 1 when behind, 2 when unreachable)"
    )
    _add_url_option(current)
    current.add_argument("--json", action="store_true", help="print machine-readable JSON")
    current.set_defaults(run=run_current)


def _add_url_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL (default: $VOICEAGENT_DATABASE_URL, else sqlite:///$VOICEAGENT_DATA_DIR/voiceagent.db)",
    )


def _database_url(args: argparse.Namespace) -> str:
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    from services.common.records.settings import RecordsSettings

    url = args.database_url or RecordsSettings().database_url
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise SystemExit("error: the database URL is not a URL (sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)") from None
    if backend not in ("sqlite", "postgresql"):
        raise SystemExit(f"error: unsupported database {backend!r}: use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
    return url


def _shown(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


def run_upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from services.common.records import schema

    url = _database_url(args)
    try:
        before = schema.check_schema(url)
        if before.state is schema.SchemaState.UNREACHABLE:
            print(f"error: cannot reach {_shown(url)}: {before.detail}", file=sys.stderr)
            return EXIT_UNREACHABLE
        if before.state is schema.SchemaState.AHEAD:
            print(f"error: {_shown(url)} is at revision {before.current}, newer than this voiceagent ({before.head})", file=sys.stderr)
            return EXIT_NOT_CURRENT
        schema.upgrade(url)
    except OperationalError as error:
        print(f"error: {_shown(url)}: {str(error.orig or error).strip().splitlines()[0]}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if before.state is schema.SchemaState.CURRENT:
        print(f"{_shown(url)}: already at revision {before.head}")
    else:
        print(f"{_shown(url)}: upgraded from {before.current or 'an empty database'} to revision {before.head}")
    return EXIT_CURRENT


def run_current(args: argparse.Namespace) -> int:
    from services.common.records import schema

    url = _database_url(args)
    status = schema.check_schema(url)
    if args.json:
        print_json({"database": _shown(url), "state": status.state.value, "current": status.current, "head": status.head,
                    "detail": status.detail})
    elif status.state is schema.SchemaState.UNREACHABLE:
        print(f"{_shown(url)}: unreachable ({status.detail})")
    else:
        advice = f"; run `{schema.UPGRADE_COMMAND}`" if status.state is schema.SchemaState.BEHIND else ""
        print(f"{_shown(url)}: revision {status.current or '(none)'}, this version needs {status.head}: {status.state.value}{advice}")
    if status.state is schema.SchemaState.CURRENT:
        return EXIT_CURRENT
    return EXIT_UNREACHABLE if status.state is schema.SchemaState.UNREACHABLE else EXIT_NOT_CURRENT
