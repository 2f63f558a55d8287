"""Locust, headless, as a child process: gevent stays out of this process and out of every service."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.load.measure import read_records
from bench.load.stacks import STREAM_NUMBER, TURN_NUMBER, Stack
from services.cli.call_simulator import LOCAL_ACCOUNT_SID
from services.cli.launcher import REPO_ROOT
from tests.integration.stack import AUTH_TOKEN

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
USER_CLASSES = {"turn": "TurnBasedCaller", "stream": "StreamingCaller"}


@dataclass
class LocustRun:
    """`users` callers of one kind making calls for `seconds`; calls in progress then get `stop_timeout` to end."""

    stack: Stack
    mode: str
    users: int
    seconds: float
    name: str
    paced: bool = False
    turns_per_call: int = 3
    stop_timeout: float = 20.0
    recording_port: int = 0
    # Between one call and the next of a caller: 0 keeps the gateway busy (closed loop); a pause keeps a caller
    # whose call failed at once from calling again and again.
    pause: float = 0.0

    def __post_init__(self) -> None:
        self.records_path = self.stack.logs / f"{self.name}.jsonl"
        self.log_path = self.stack.logs / f"{self.name}.locust.log"
        self.process: subprocess.Popen | None = None
        self.started = 0.0

    def start(self) -> LocustRun:
        command = [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary", "--loglevel", "WARNING",
            "--users", str(self.users), "--spawn-rate", str(self.users), "--run-time", f"{int(self.seconds)}s",
            "--stop-timeout", str(int(self.stop_timeout)),
            "--gateway-url", self.stack.gateway.address, "--auth-token", AUTH_TOKEN, "--account-sid", LOCAL_ACCOUNT_SID,
            "--turn-number", TURN_NUMBER, "--stream-number", STREAM_NUMBER, "--questions", str(self.stack.questions),
            "--turns-per-call", str(self.turns_per_call), "--records", str(self.records_path), "--pause", str(self.pause),
            "--recordings-port", str(self.recording_port or self.stack.recording_ports[0]),
            *(["--paced"] if self.paced else []),
            USER_CLASSES[self.mode],
        ]
        self.started = time.time()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=log)
        return self

    def wait(self) -> list[dict]:
        """The records of every turn, once Locust has exited (and said why, if it failed)."""
        returncode = self.process.wait(self.seconds + self.stop_timeout + 60)
        # Locust exits 1 when any request failed, which is a result here, not a harness error.
        if returncode not in (0, 1):
            raise RuntimeError(f"locust exited with {returncode}:\n{self.log_path.read_text()[-3000:]}")
        return read_records(self.records_path)

    def stop(self) -> None:
        """End the callers now (Locust quits on SIGTERM); turns already taken are in the records."""
        self.process.terminate()
        self.process.wait(30)

    def run(self) -> list[dict]:
        return self.start().wait()
