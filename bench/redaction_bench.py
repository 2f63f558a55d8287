"""`make bench`: log redaction time on hostile inputs, which must grow linearly with their length.

Every log line goes through redaction in the formatter, and some log fields
carry what a request sent (a form field, a query string, an org id), so a
pattern that backtracks would let one request freeze a service. Two numbers
per input: `redact()` on the whole text (the patterns alone, no length cap)
and one formatted log line carrying the text as a field (what a service
really pays: the field is cut to MAX_FIELD_CHARS first).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.tables import print_header, print_row  # noqa: E402
from services.common.logs import JsonFormatter, redact  # noqa: E402

# Runs of address and number characters: the shapes that made the old e-mail pattern quadratic.
SHAPES = {
    "letters": "A",
    "letters then @": "A",
    "a@ repeated": "a@",
    "a. repeated": "a.",
    "digits": "1",
    "spaced digits": "1 ",
    "+1 repeated": "+1 ",
    "ordinary prose": "call me at 415-555-0123 or jane@example.com about order 4471. ",
}
SIZES = (10_000, 100_000, 1_000_000)


def hostile(shape: str, size: int) -> str:
    unit = SHAPES[shape]
    text = (unit * (size // len(unit) + 1))[:size]
    return text[:-1] + "@" if shape == "letters then @" else text


def seconds(work, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def log_line(formatter: JsonFormatter, text: str) -> None:
    record = logging.LogRecord("bench", logging.WARNING, __file__, 1, "webhook.rejected", None, None)
    record.fields = {"caller": text}
    formatter.format(record)


def main() -> int:
    formatter = JsonFormatter("bench")
    print("\nLog redaction on hostile inputs (best of 3)\n")
    print_header(["input", "characters", "redact() ms", "MB/s", "one log line ms"])
    for shape in SHAPES:
        for size in SIZES:
            text = hostile(shape, size)
            whole = seconds(lambda: redact(text))
            line = seconds(lambda: log_line(formatter, text))
            print_row([shape, f"{size:,}", f"{whole * 1000:.1f}", f"{size / whole / 1e6:.0f}", f"{line * 1000:.2f}"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
