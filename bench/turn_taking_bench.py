"""`make bench`: end of turn under noise and hesitation (issue: real phone conditions).

Caller turns synthesised with Piper (bench/turn_taking/utterances_*.json:
complete questions, mid-sentence hesitations of 300-900 ms, trailing
incomplete phrases) are sent as 8 kHz mu-law through the stt service's live
endpointing, in silence and under white and babble noise. Per condition:
false cut-offs among the turns with a pause, turns that never end, and the
end-of-turn latency after the true end of speech (transcript ready). The
rules were written from the dev set's categories; the held-out set was
written by someone else and never used for tuning. Voice-to-voice latency on
the full stack is in bench/streaming_bench.py.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.tables import print_header, print_row  # noqa: E402
from bench.turn_taking import corpus  # noqa: E402
from bench.turn_taking.evaluate import CachedRecogniser, Candidate, evaluate, summarise  # noqa: E402
from services.stt.backends.moonshine import MoonshineRecognizer  # noqa: E402

CHOSEN = Candidate("voice activity + words (250 / 1500 ms)", "vad", 250, 150, 1500)
BASELINES = [
    Candidate("loudness, 500 ms silence (before)", "energy", 500, 200),
    Candidate("voice activity, 500 ms silence", "vad", 500, 150),
    Candidate("voice activity, 250 ms silence", "vad", 250, 150),
    CHOSEN,
]
COMPARED_CONDITIONS = ("quiet", "white -35", "babble -35")
HEADERS = ["set", "condition", "cut-offs (pauses)", "never ended", "end p50 ms", "end p95 ms", "complete p50 ms", "CPU % of a core"]


def row(label: str, condition: str, outcomes) -> list[str]:
    s = summarise(outcomes)
    return [
        label, condition, f"{s.cut_offs}/{s.incomplete_turns} ({100 * s.cut_offs / s.incomplete_turns:.0f}%)", str(s.never_ended),
        f"{s.p50_ms:.0f}", f"{s.p95_ms:.0f}", f"{s.complete_p50_ms:.0f}", f"{s.cpu_percent:.2f}",
    ]


def main() -> None:
    recognizer = MoonshineRecognizer()
    recognizer.load()
    recogniser = CachedRecogniser(recognizer)
    sets = {name: [corpus.turn(u) for u in corpus.load_set(name)] for name in ("dev", "heldout")}
    started = time.time()
    print(f"\nEnd of turn with {CHOSEN.name}, per noise condition ({', '.join(f'{n} {len(t)} turns' for n, t in sets.items())})\n")
    print_header(HEADERS)
    for condition in corpus.CONDITIONS:
        for name, turns in sets.items():
            noisy = [corpus.noisy(turn, condition, seed) for seed, turn in enumerate(turns)]
            print_row(row(name, condition, evaluate(noisy, CHOSEN, recogniser)))
    print("\nCandidates compared (held-out set)\n")
    print_header(["candidate", *HEADERS[1:]])
    for condition in COMPARED_CONDITIONS:
        noisy = [corpus.noisy(turn, condition, seed) for seed, turn in enumerate(sets["heldout"])]
        for candidate in BASELINES:
            print_row([candidate.name, *row("", condition, evaluate(noisy, candidate, recogniser))[1:]])
    print(f"\n({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
