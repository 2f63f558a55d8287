"""`voiceagent gaps --org ORG`: what callers asked that the documents do not answer, grouped by meaning."""

from __future__ import annotations

import argparse

from services.cli.output import print_json, print_table
from services.cli.records_access import add_database_option, add_json_option, open_store, parse_since, when


def register(commands: argparse._SubParsersAction) -> None:
    gaps = commands.add_parser("gaps", help="knowledge gaps: questions answered with the fallback, grouped by meaning")
    gaps.add_argument("--org", required=True, help="organisation id")
    gaps.add_argument("--since", type=parse_since, default=None, help="asked at or after: 2026-11-20, 24h, 30d (default: all kept)")
    gaps.add_argument("--limit", type=int, default=50, help="at most this many groups (default 50)")
    add_database_option(gaps)
    add_json_option(gaps)
    gaps.set_defaults(run=run_gaps)


def run_gaps(args: argparse.Namespace) -> int:
    from services.common.minilm import MiniLMEmbedder
    from services.common.records import queries
    from services.common.records.gaps import knowledge_gaps

    store = open_store(args)
    try:
        with store.session() as session:
            report = knowledge_gaps(session, args.org, MiniLMEmbedder().embed, since=args.since)
    finally:
        store.close()
    gaps = report.gaps[: args.limit]
    if args.json:
        print_json({"org_id": report.org_id, "since": queries.as_json(report.since), "gaps": queries.as_json(gaps),
                    "unrecorded": report.unrecorded})  # fmt: skip
        return 0
    if not gaps:
        print(f"no knowledge gaps for {args.org}" + (" in that period" if args.since else ""))
    else:
        print(f"Questions {args.org}'s documents did not answer, grouped by meaning (most asked first):\n")
        print_table(
            ["count", "last asked (UTC)", "question", "also asked as"],
            [[gap.count, when(gap.last_asked), gap.question, "; ".join(gap.also_asked_as) or "-"] for gap in gaps],
        )
    if report.unrecorded:
        print(f"\n{report.unrecorded} more fallback turns have no stored question (the org's records.transcripts is none)")
    return 0
