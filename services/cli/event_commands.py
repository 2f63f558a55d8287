"""`voiceagent events list` and `voiceagent events retry ID`: the signed events and where each delivery stands."""

from __future__ import annotations

import argparse
import sys

from services.cli.output import print_json, print_table
from services.cli.records_access import actor, add_actor_option, add_database_option, add_json_option, open_store, when


def register(commands: argparse._SubParsersAction) -> None:
    events = commands.add_parser("events", help="signed events sent to the orgs' events_url")
    actions = events.add_subparsers(dest="events_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="events newest first, with their delivery state")
    listing.add_argument("--org", default=None, help="only this organisation's events")
    listing.add_argument("--state", default=None, help="only events in this state: pending, retrying, delivered or abandoned")
    listing.add_argument("--type", dest="event_type", default=None, help="call.completed, callback.requested or handoff.started")
    listing.add_argument("--limit", type=int, default=100)
    add_database_option(listing)
    add_json_option(listing)
    listing.set_defaults(run=run_list)

    retry = actions.add_parser("retry", help="send an abandoned event again now (audited)")
    retry.add_argument("id", metavar="ID", help="the event's id, or its first characters as listed (at least 6)")
    add_actor_option(retry)
    add_database_option(retry)
    add_json_option(retry)
    retry.set_defaults(run=run_retry)


def run_list(args: argparse.Namespace) -> int:
    from services.common.records import queries

    store = open_store(args)
    try:
        with store.session() as session:
            events = queries.list_events(session, org_id=args.org, state=args.state, event_type=args.event_type, limit=args.limit)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.json:
        print_json({"events": queries.as_json(events)})
        return 0
    if not events:
        print("no events")
        return 0
    print_table(
        ["id", "created (UTC)", "org", "type", "state", "attempts", "delivered / next attempt (UTC)", "last error"],
        [
            [str(e.id)[:8], when(e.created_at), e.org_id, e.type, e.state, e.attempts,
             when(e.delivered_at or e.abandoned_at or e.next_attempt_at), e.last_error or "-"]
            for e in events
        ],
    )  # fmt: skip
    return 0


def run_retry(args: argparse.Namespace) -> int:
    from services.common.records import queries

    who = actor(args)
    store = open_store(args)
    try:
        with store.session() as session:
            event = queries.retry_event(session, args.id, who)
    except LookupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.json:
        print_json({"event": queries.as_json(event)})
    elif event.state == "delivered":
        print(f"event {str(event.id)[:8]} was delivered at {when(event.delivered_at)} UTC: nothing to send")
    else:
        print(f"event {str(event.id)[:8]} ({event.type}, {event.org_id}) will be sent again now")
    return 0
