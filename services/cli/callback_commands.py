"""`voiceagent callbacks list` and `voiceagent callbacks done ID`: the messages callers left, and keeping the promise."""

from __future__ import annotations

import argparse
import sys

from services.cli.output import print_json, print_table
from services.cli.records_access import actor, add_actor_option, add_database_option, add_json_option, open_store, when


def register(commands: argparse._SubParsersAction) -> None:
    callbacks = commands.add_parser("callbacks", help="messages taken for a callback")
    actions = callbacks.add_subparsers(dest="callbacks_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="callback requests, newest first")
    listing.add_argument("--org", default=None, help="only this organisation's requests")
    listing.add_argument("--status", default=None, help="only requests with this status: new or done")
    listing.add_argument("--limit", type=int, default=100)
    add_database_option(listing)
    add_json_option(listing)
    listing.set_defaults(run=run_list)

    done = actions.add_parser("done", help="mark a callback request handled (audited)")
    done.add_argument("id", metavar="ID", help="the request's id, or its first characters as listed (at least 6)")
    add_actor_option(done)
    add_database_option(done)
    add_json_option(done)
    done.set_defaults(run=run_done)


def run_list(args: argparse.Namespace) -> int:
    from services.common.records import queries

    store = open_store(args)
    try:
        with store.session() as session:
            callbacks = queries.list_callbacks(session, org_id=args.org, status=args.status, limit=args.limit)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.json:
        print_json({"callbacks": queries.as_json(callbacks)})
        return 0
    if not callbacks:
        print("no callback requests")
        return 0
    print_table(
        ["id", "created (UTC)", "org", "status", "name", "number", "reason", "message"],
        [[str(c.id)[:8], when(c.created_at), c.org_id, c.status, c.name or "-", c.number, c.reason or "-", c.message or "-"] for c in callbacks],
    )
    return 0


def run_done(args: argparse.Namespace) -> int:
    from services.common.records import queries

    who = actor(args)
    store = open_store(args)
    try:
        with store.session() as session:
            before = queries.find_callback(session, args.id).status
            callback = queries.mark_callback_done(session, args.id, who)
    except LookupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.json:
        print_json({"callback": queries.as_json(callback), "changed": before != "done"})
    elif before == "done":
        print(f"callback {str(callback.id)[:8]} was already done (by {callback.handled_by} at {when(callback.handled_at)} UTC)")
    else:
        print(f"callback {str(callback.id)[:8]} ({callback.name or 'no name'}, {callback.number}) marked done by {who}")
    return 0
