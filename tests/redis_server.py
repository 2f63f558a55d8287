"""A real redis-server for tests and `make load`, on a free loopback port, that can be stopped and started again
on the same port: how the tests and the fault runs take shared sessions away mid-call.

It snapshots on a clean shutdown (as a production Redis with persistence does), so stopping and starting it
keeps what it held; `kill` loses it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis

from services.cli.launcher import free_port


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "3600 1", "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                self.client().ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def sessions(self) -> int:
        return sum(1 for _ in self.client().scan_iter("voiceagent:session:*"))

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): Redis writes its snapshot first."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(20)
