"""`voiceagent users add|password|list`: who may sign in to the operator console.

The password is read from standard input (one line; a terminal is asked twice, without echo), never from an
argument, so it never sits in shell history or in the process list.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from services.cli.output import print_json, print_table
from services.cli.records_access import actor, add_actor_option, add_database_option, add_json_option, open_store, when


def register(commands: argparse._SubParsersAction) -> None:
    users = commands.add_parser("users", help="operator console users")
    actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")

    add = actions.add_parser("add", help="create a console user; the password is read from standard input (audited)")
    add.add_argument("--email", required=True, help="the address they sign in with")
    add.add_argument("--role", required=True, choices=("admin", "viewer"), help="admin: sees and changes; viewer: sees only")
    add.add_argument("--org", default=None, help="their organisation (required for a viewer; an admin without one manages every org)")
    add_actor_option(add)
    add_database_option(add)
    add_json_option(add)
    add.set_defaults(run=run_add)

    password = actions.add_parser("password", help="set a user's password, read from standard input; signs them out everywhere (audited)")
    password.add_argument("--email", required=True)
    add_actor_option(password)
    add_database_option(password)
    password.set_defaults(run=run_password)

    listing = actions.add_parser("list", help="console users")
    add_database_option(listing)
    add_json_option(listing)
    listing.set_defaults(run=run_list)


def read_password() -> str:
    """The password from standard input: typed twice at a terminal, else the first line of what is piped in."""
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise SystemExit("error: the passwords differ")
        return password
    return sys.stdin.readline().rstrip("\r\n")


def run_add(args: argparse.Namespace) -> int:
    from services.common.records import queries
    from services.common.records.users import UserError, check_password, create_user

    try:
        password = check_password(read_password())
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    store = open_store(args)
    try:
        with store.session() as session:
            user = create_user(session, args.email, password, args.role, args.org, actor(args))
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.json:
        print_json({"user": queries.as_json(user)})
    else:
        print(f"added {user.email}: {user.role} of {user.org_id or 'every org'}")
    return 0


def run_password(args: argparse.Namespace) -> int:
    from services.common.records.users import UserError, check_password, set_password

    try:
        password = check_password(read_password())
        store = open_store(args)
        try:
            with store.session() as session:
                user = set_password(session, args.email, password, actor(args))
        finally:
            store.close()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"new password set for {user.email}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from services.common.records import queries
    from services.common.records.users import list_users

    store = open_store(args)
    try:
        with store.session() as session:
            users = list_users(session)
    finally:
        store.close()
    if args.json:
        print_json({"users": queries.as_json(users)})
    elif not users:
        print("no console users: add one with `voiceagent users add --email E --role admin`")
    else:
        print_table(["email", "role", "org", "last sign-in (UTC)", "state"],
                    [[u.email, u.role, u.org_id or "(every org)", when(u.last_sign_in_at), "disabled" if u.disabled else "active"] for u in users])  # fmt: skip
    return 0
