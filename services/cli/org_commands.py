"""`voiceagent orgs import|sync`: org configs kept in the database (VOICEAGENT_ORG_CONFIGS=database).

`import` seeds the database from config files; `sync` writes the database's configs into the data directory
as `{org}/config.json`, which every service reads: run with `--watch` beside each workload that reads org
configs (the Kubernetes manifests do), a change made in the console reaches every service within a minute,
and a new org needs no change to any workload.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from services.cli.output import print_json
from services.cli.records_access import actor, add_actor_option, add_database_option, add_json_option, open_store

DEFAULT_SYNC_SECONDS = 20.0


def register(commands: argparse._SubParsersAction) -> None:
    orgs = commands.add_parser("orgs", help="org configs kept in the database (the console's source of truth in a cluster)")
    actions = orgs.add_subparsers(dest="orgs_command", required=True, metavar="ACTION")

    importing = actions.add_parser("import", help="add orgs to the database from config files (orgs it has are kept; audited)")
    importing.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                           help="ORG.json or ORG/config.json files, or directories holding them")  # fmt: skip
    importing.add_argument("--replace", action="store_true", help="also overwrite orgs the database has (undoes console changes)")
    add_actor_option(importing)
    add_database_option(importing)
    add_json_option(importing)
    importing.set_defaults(run=run_import)

    sync = actions.add_parser("sync", help="write the database's org configs to DATA_DIR/{org}/config.json")
    sync.add_argument("--data-dir", type=Path, default=None, help="where to write (default: $VOICEAGENT_DATA_DIR, else ./data)")
    sync.add_argument("--watch", type=float, default=None, nargs="?", const=DEFAULT_SYNC_SECONDS, metavar="SECONDS",
                      help=f"keep syncing every SECONDS (default {DEFAULT_SYNC_SECONDS:g}) until stopped")  # fmt: skip
    add_database_option(sync)
    sync.set_defaults(run=run_sync)


def config_files(paths: list[Path]) -> list[Path]:
    """The config files named, or found in directories (`*.json` and `*/config.json`), in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.glob("*/config.json")) + sorted(p for p in path.glob("*.json") if p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise SystemExit(f"error: {path} does not exist")
    return found


def run_import(args: argparse.Namespace) -> int:
    from services.common.orgs import OrgConfigError
    from services.common.records.org_sources import import_org_configs

    files = config_files(args.paths)
    if not files:
        print("error: no config files found", file=sys.stderr)
        return 1
    store = open_store(args)
    try:
        outcome = import_org_configs(store, files, actor(args), replace=args.replace)
    except (OrgConfigError, ValueError, OSError) as error:
        print(f"error: {error} (nothing was imported)", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.json:
        print_json({"orgs": outcome})
    else:
        for org_id, what in outcome.items():
            print(f"{org_id}: {what}" + (" (the database's version is newer or edited; --replace overwrites it)" if what == "kept" else ""))
    return 0


def run_sync(args: argparse.Namespace) -> int:
    from services.common.logs import configure_logging, get_logger
    from services.common.records.org_sources import mirror_org_configs

    data_dir = args.data_dir or Path(os.environ.get("VOICEAGENT_DATA_DIR", "data"))
    store = open_store(args)
    if args.watch is None:
        try:
            written = mirror_org_configs(store, data_dir)
        finally:
            store.close()
        print(f"wrote {', '.join(written)}" if written else "every org config was already current")
        return 0
    configure_logging("org-sync")
    log = get_logger("services.cli.org_commands")
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    log.info("orgs.sync_started", data_dir=str(data_dir), every_seconds=args.watch)
    try:
        while not stopping.is_set():
            try:
                for org_id in mirror_org_configs(store, data_dir):
                    log.info("orgs.config_written", org_id=org_id)
            except Exception as error:  # a database that is down for a moment: the files keep their last version
                log.warning("orgs.sync_failed", error=str(error).splitlines()[0] if str(error) else type(error).__name__)
            stopping.wait(args.watch)
    finally:
        store.close()
    return 0
