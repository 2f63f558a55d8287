"""`voiceagent audit`: who did which administrative action, to which org, when."""

from __future__ import annotations

import argparse

from services.cli.output import print_json, print_table
from services.cli.records_access import add_database_option, add_json_option, compact, open_store, parse_since, when


def register(commands: argparse._SubParsersAction) -> None:
    audit = commands.add_parser("audit", help="the audit trail: ingest, document deletions, callbacks handled, purges...")
    audit.add_argument("--org", default=None, help="only actions on this organisation")
    audit.add_argument("--action", default=None, help="only this action: ingest, document.delete, callback.done, purge, event.retry")
    audit.add_argument("--since", type=parse_since, default=None, help="at or after: 2026-11-20, 24h, 7d")
    audit.add_argument("--limit", type=int, default=100)
    add_database_option(audit)
    add_json_option(audit)
    audit.set_defaults(run=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    from services.common.records import queries

    store = open_store(args)
    try:
        with store.session() as session:
            entries = queries.list_audit(session, org_id=args.org, since=args.since, action=args.action, limit=args.limit)
    finally:
        store.close()
    if args.json:
        print_json({"audit": queries.as_json(entries)})
        return 0
    if not entries:
        print("no audit entries")
        return 0
    print_table(
        ["at (UTC)", "actor", "org", "action", "detail"],
        [[when(entry.at), entry.actor, entry.org_id or "-", entry.action, compact(entry.detail)] for entry in entries],
    )
    return 0
