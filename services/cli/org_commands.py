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
from services.cli.records_access import (
    EXIT_UNREACHABLE,
    actor,
    add_actor_option,
    add_database_option,
    add_json_option,
    database_url,
    open_store,
    schema_problem,
)

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
    sync.add_argument("--seed", type=Path, action="append", default=[], metavar="PATH",
                      help="config files (or directories) written for orgs with no config.json yet, so a pod starts while the database is down")  # fmt: skip
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


def sync_once(args: argparse.Namespace, data_dir: Path) -> list[str]:
    """Mirror the database's org configs once; RuntimeError when the store cannot be used (down, or behind)."""
    from services.common.records.org_sources import mirror_org_configs
    from services.common.records.store import RecordStore

    url = database_url(args)
    problem = schema_problem(url)
    if problem:
        raise RuntimeError(problem[1])
    store = RecordStore(url)
    try:
        return mirror_org_configs(store, data_dir)
    finally:
        store.close()


def run_sync(args: argparse.Namespace) -> int:
    from services.common.records.org_sources import seed_missing_configs

    data_dir = args.data_dir or Path(os.environ.get("VOICEAGENT_DATA_DIR", "data"))
    seeded = seed_missing_configs(config_files(args.seed), data_dir) if args.seed else []
    if args.watch is None:
        try:
            written = sync_once(args, data_dir)
        except Exception as error:  # the database is down or behind: say so; with seeds the pod can still start
            print(f"{'warning' if args.seed else 'error'}: {_first_line(error)}", file=sys.stderr)
            if seeded:
                print(f"seeded {', '.join(seeded)} from {', '.join(map(str, args.seed))}")
            return 0 if args.seed else EXIT_UNREACHABLE
        print(f"wrote {', '.join(written)}" if written else "every org config was already current")
        return 0
    return watch(args, data_dir)


def watch(args: argparse.Namespace, data_dir: Path) -> int:
    """Mirror every `args.watch` seconds until SIGTERM; a database that is down for a while changes nothing."""
    from services.common.logs import configure_logging, get_logger

    configure_logging("org-sync")
    log = get_logger("services.cli.org_commands")
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    log.info("orgs.sync_started", data_dir=str(data_dir), every_seconds=args.watch)
    while not stopping.is_set():
        try:
            for org_id in sync_once(args, data_dir):
                log.info("orgs.config_written", org_id=org_id)
        except Exception as error:  # the files keep their last version until the database answers again
            log.warning("orgs.sync_failed", error=_first_line(error))
        stopping.wait(args.watch)
    return 0


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
