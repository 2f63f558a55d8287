"""`voiceagent calls list` and `voiceagent calls show`: what the agent said on each call, from the call store."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from services.cli.output import print_json, print_table
from services.cli.records_access import add_database_option, add_json_option, compact, open_store, parse_since, when

if TYPE_CHECKING:
    from services.common.records.queries import CallDetail, TurnView

# The order a turn's stages happen in; stages a mode adds of its own are shown after these.
STAGE_ORDER = ("download", "stt", "retrieval", "llm", "tts", "turn")


def register(commands: argparse._SubParsersAction) -> None:
    calls = commands.add_parser("calls", help="recorded calls (the call store)")
    actions = calls.add_subparsers(dest="calls_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="calls, newest first")
    listing.add_argument("--org", default=None, help="only this organisation's calls")
    listing.add_argument("--since", type=parse_since, default=None, help="started at or after: 2026-11-20, 2026-11-20T09:00, 24h, 7d")
    listing.add_argument("--outcome", default=None, help="only calls that ended so: completed, hung_up, callback, handoff...")
    listing.add_argument("--limit", type=int, default=50, help="at most this many calls (default 50)")
    add_database_option(listing)
    add_json_option(listing)
    listing.set_defaults(run=run_list)

    show = actions.add_parser("show", help="one call with every turn and its stage latencies")
    show.add_argument("call_sid", metavar="CALL_SID")
    add_database_option(show)
    add_json_option(show)
    show.set_defaults(run=run_show)


def run_list(args: argparse.Namespace) -> int:
    from services.common.records import queries

    store = open_store(args)
    try:
        with store.session() as session:
            page = queries.list_calls(session, org_id=args.org, since=args.since, outcome=args.outcome, limit=args.limit)
    finally:
        store.close()
    if args.json:
        print_json({"calls": queries.as_json(page.calls), "next_cursor": page.next_cursor})
        return 0
    if not page.calls:
        print("no calls")
        return 0
    print_table(
        ["started (UTC)", "call", "org", "mode", "outcome", "duration", "turns", "fallback", "cost"],
        [
            [when(call.started_at), call.call_sid, call.org_id, call.mode or "-", call.outcome or "in progress", _duration(call.duration_seconds),
             call.turns_count, "yes" if call.had_fallback else "-", f"${sum(call.cost_usd.values()):.4f}"]
            for call in page.calls
        ],
    )  # fmt: skip
    if page.next_cursor:
        print(f"\n(more: narrow with --since or --org, or raise --limit above {args.limit})")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from services.common.records import queries

    store = open_store(args)
    try:
        with store.session() as session:
            detail = queries.get_call(session, args.call_sid)
    finally:
        store.close()
    if detail is None:
        print(f"error: no call {args.call_sid} in the call store", file=sys.stderr)
        return 1
    if args.json:
        print_json(queries.as_json(detail))
    else:
        print_call(detail)
    return 0


def print_call(detail: CallDetail) -> None:
    call = detail.call
    print(f"call {call.call_sid}  org {call.org_id}  mode {call.mode or '-'}  outcome {call.outcome or 'in progress'}")
    print(f"  started {when(call.started_at)} UTC, ended {when(call.ended_at)}, {_duration(call.duration_seconds)}, {call.turns_count} turns")
    print(f"  dialled {call.dialled_number or '-'}, caller {call.caller_number or '(not kept)'}")
    if call.cost_usd:
        costs = ", ".join(f"{provider} ${cost:.4f}" for provider, cost in sorted(call.cost_usd.items()))
        print(f"  cost ${sum(call.cost_usd.values()):.4f} ({costs})")
    for turn in detail.turns:
        print_turn(turn)
    for callback in detail.callbacks:
        print(f"\ncallback {str(callback.id)[:8]}  {callback.status}  {callback.name or '(no name)'} on {callback.number}  ({callback.reason or '-'})")
        print(f"  message: {callback.message or '(none)'}")
    for handoff in detail.handoffs:
        print(f"\nhandoff to {handoff.number} at {when(handoff.started_at)} ({handoff.trigger or '-'}): {handoff.outcome or 'no result recorded'}")


def print_turn(turn: TurnView) -> None:
    flags = []
    if turn.fallback:
        flags.append("fallback" + (f": {', '.join(turn.fallback_reasons)}" if turn.fallback_reasons else ""))
    if turn.barge_in:
        flags.append("caller barged in")
    print(f"\nturn {turn.turn_index}  {when(turn.created_at)}" + (f"  [{'; '.join(flags)}]" if flags else ""))
    print(f"  caller: {turn.caller_text if turn.caller_text is not None else '(not kept)'}")
    print(f"  agent:  {turn.answer_text or '-'}")
    if turn.sources:
        print(f"  sources: {', '.join(source if isinstance(source, str) else compact(source) for source in turn.sources)}")
    if turn.latency_ms:
        print(f"  latency: {latencies(turn.latency_ms)}")


def latencies(latency_ms: dict[str, float]) -> str:
    """Stage latencies in the order the stages run: "stt 120 ms · retrieval 31 ms · ... · turn 900 ms"."""
    ordered = [stage for stage in STAGE_ORDER if stage in latency_ms] + sorted(set(latency_ms) - set(STAGE_ORDER))
    return " · ".join(f"{stage} {latency_ms[stage]:.0f} ms" for stage in ordered)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m {rest:02d}s" if minutes else f"{rest}s"
