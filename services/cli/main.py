"""`voiceagent`: the operator's command line (DESIGN section 9)."""

from __future__ import annotations

import argparse
import sys

import grpc

from services.cli import (
    audit_commands,
    call_commands,
    call_records_commands,
    callback_commands,
    db_commands,
    event_commands,
    gap_commands,
    model_commands,
    org_commands,
    retrieval_commands,
    user_commands,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voiceagent", description="Operate a voiceagent deployment.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    retrieval_commands.register(commands)
    model_commands.register(commands)
    call_commands.register(commands)
    db_commands.register(commands)
    for records_commands in (call_records_commands, callback_commands, gap_commands, audit_commands, event_commands, user_commands,
                            org_commands):
        records_commands.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    try:
        return options.run(options)
    except grpc.RpcError as error:
        print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
