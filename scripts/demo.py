"""`make demo`: start the retrieval service, ingest the sample org, answer a few questions.

It grows into a whole simulated phone call as the other services land; for
now it shows the knowledge side of a call working end to end on this machine.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.cli.launcher import REPO_ROOT, ServiceProcess  # noqa: E402
from services.cli.main import main as voiceagent  # noqa: E402

QUESTIONS = [
    "What time do you open on Saturday?",
    "How much does it cost to rent an electric bike for a day?",
    "Where can I park?",
    "Can I cancel my rental booking?",
]


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def main() -> int:
    log_dir = REPO_ROOT / "out"
    log_dir.mkdir(exist_ok=True)
    banner("starting the retrieval service (local all-MiniLM-L6-v2 embedder)")
    started = time.perf_counter()
    service = ServiceProcess("retrieval", {"VOICEAGENT_DATA_DIR": str(REPO_ROOT / "data")}, log_dir / "retrieval.log")
    service.start()
    try:
        service.wait_serving()
        print(f"serving on {service.address} after {time.perf_counter() - started:.1f}s (log: {service.log_path})")
        os.environ["RETRIEVAL_ADDR"] = service.address
        banner("voiceagent ingest --org acme --rebuild data/acme/knowledge")
        if voiceagent(["ingest", "--org", "acme", "--rebuild", str(REPO_ROOT / "data" / "acme" / "knowledge")]) != 0:
            return 1
        for question in QUESTIONS:
            banner(f"voiceagent search --org acme --top-k 2 {question!r}")
            if voiceagent(["search", "--org", "acme", "--top-k", "2", question]) != 0:
                return 1
    finally:
        service.stop()
    banner("done: the shard is in data/acme/vector_store/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
