"""`voiceagent db upgrade|current|purge`: the call store's schema and retention from the command line.

The records package (SQLAlchemy, Alembic) is imported when a db command runs, not when the CLI starts, so
the other commands stay as quick to start as they were.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from services.cli.output import print_json, print_table
from services.cli.records_access import actor, add_actor_option, add_database_option, database_url, open_store, shown

if TYPE_CHECKING:
    from services.common.records.purge import OrgPurge

EXIT_CURRENT, EXIT_NOT_CURRENT, EXIT_UNREACHABLE = 0, 1, 2


def register(commands: argparse._SubParsersAction) -> None:
    db = commands.add_parser("db", help="the call store's schema (VOICEAGENT_DATABASE_URL)")
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")

    upgrade = actions.add_parser("upgrade", help="apply the call store's migrations (safe to repeat)")
    add_database_option(upgrade)
    upgrade.set_defaults(run=run_upgrade)

    current = actions.add_parser(
        "current", aliases=["status"], help="the schema's revision against this version's (exit 1 when behind, 2 when unreachable)"
    )
    add_database_option(current)
    current.add_argument("--json", action="store_true", help="print machine-readable JSON")
    current.set_defaults(run=run_current)

    purge = actions.add_parser("purge", help="delete calls, callbacks and events older than each org's records.retention_days (audited)")
    add_database_option(purge)
    add_actor_option(purge)
    purge.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
    purge.add_argument("--json", action="store_true", help="print machine-readable JSON")
    purge.set_defaults(run=run_purge)


def run_upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from services.common.records import schema

    url = database_url(args)
    try:
        before = schema.check_schema(url)
        if before.state is schema.SchemaState.UNREACHABLE:
            print(f"error: cannot reach {shown(url)}: {before.detail}", file=sys.stderr)
            return EXIT_UNREACHABLE
        if before.state is schema.SchemaState.AHEAD:
            print(f"error: {shown(url)} is at revision {before.current}, newer than this voiceagent ({before.head})", file=sys.stderr)
            return EXIT_NOT_CURRENT
        schema.upgrade(url)
    except OperationalError as error:
        print(f"error: {shown(url)}: {str(error.orig or error).strip().splitlines()[0]}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if before.state is schema.SchemaState.CURRENT:
        print(f"{shown(url)}: already at revision {before.head}")
    else:
        print(f"{shown(url)}: upgraded from {before.current or 'an empty database'} to revision {before.head}")
    return EXIT_CURRENT


def run_current(args: argparse.Namespace) -> int:
    from services.common.records import schema

    url = database_url(args)
    status = schema.check_schema(url)
    if args.json:
        print_json({"database": shown(url), "state": status.state.value, "current": status.current, "head": status.head,
                    "detail": status.detail})
    elif status.state is schema.SchemaState.UNREACHABLE:
        print(f"{shown(url)}: unreachable ({status.detail})")
    else:
        advice = f"; run `{schema.UPGRADE_COMMAND}`" if status.state is schema.SchemaState.BEHIND else ""
        print(f"{shown(url)}: revision {status.current or '(none)'}, this version needs {status.head}: {status.state.value}{advice}")
    if status.state is schema.SchemaState.CURRENT:
        return EXIT_CURRENT
    return EXIT_UNREACHABLE if status.state is schema.SchemaState.UNREACHABLE else EXIT_NOT_CURRENT


def run_purge(args: argparse.Namespace) -> int:
    from services.common.orgs import RecordsPolicy
    from services.common.records.models import utc_now
    from services.common.records.org_configs import OrgConfigCache
    from services.common.records.purge import purge_expired
    from services.common.records.settings import RecordsSettings

    configs = OrgConfigCache(RecordsSettings().data_dir)

    def retention_days(org_id: str) -> int:
        # An org whose config is gone (or broken) keeps the default retention: its records do not live forever.
        config = configs.get(org_id)
        return (config.records if config else RecordsPolicy()).retention_days

    store = open_store(args)
    try:
        results = purge_expired(store, retention_days, utc_now(), actor(args), dry_run=args.dry_run)
    finally:
        store.close()
    if args.json:
        print_json({"dry_run": args.dry_run, "orgs": [{**_counts(r), "org_id": r.org_id, "retention_days": r.retention_days,
                                                       "cutoff": r.cutoff.isoformat()} for r in results]})
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    print_table(
        ["org", "retention", "cutoff (UTC)", "calls", "turns", "handoffs", "callbacks", "events"],
        [[r.org_id, f"{r.retention_days} d", r.cutoff.strftime("%Y-%m-%d %H:%M"), *_counts(r).values()] for r in results],
    )
    deleted = sum(r.deleted for r in results)
    summary = f"{verb} {deleted} row{'' if deleted == 1 else 's'} over {len(results)} org{'' if len(results) == 1 else 's'}"
    print(f"\n{summary}" + ("" if args.dry_run else f"; audited as {actor(args)}"))
    return 0


def _counts(result: OrgPurge) -> dict[str, int]:
    return {"calls": result.calls, "turns": result.turns, "handoffs": result.handoffs, "callbacks": result.callbacks, "events": result.events}
