"""A real PostgreSQL server for tests: initdb into a temporary directory, `postgres` on a free loopback port.

PostgreSQL refuses to run as root, so when the tests run as root (CI here does) the cluster is owned by and
run as the `postgres` user that Debian's package creates. The server can be stopped and started again on the
same data and port, which is how the recorder's database-down tests take the database away mid-run.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from services.cli.launcher import free_port

SERVER_USER = "postgres"


def find_binaries() -> Path | None:
    """The directory holding initdb and postgres (Debian keeps them off PATH), or None."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("postgres"):
        return Path(on_path).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "postgres").is_file():
            return Path(candidate)
    return None


def missing_reason() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None when they can."""
    if find_binaries() is None:
        return "PostgreSQL server binaries not found (apt-get install postgresql; make install does it)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL as"
    return None


class PostgresServer:
    """One throwaway cluster; `url(name)` for a database in it, `create_database()` for a fresh one per test."""

    def __init__(self) -> None:
        binaries = find_binaries()
        assert binaries is not None, missing_reason()
        self.binaries = binaries
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="voiceagent-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._user = SERVER_USER if os.geteuid() == 0 else None
        if self._user:
            account = pwd.getpwnam(self._user)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._run([str(self.binaries / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync"])
        self._databases = 0

    def _run(self, command: list[str]) -> None:
        subprocess.run(command, check=True, capture_output=True, user=self._user, group=self._user, cwd=self.root)

    def start(self, timeout: float = 30.0) -> PostgresServer:
        command = [
            str(self.binaries / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.root),
            "-c", "listen_addresses=127.0.0.1",
            # Throwaway data: skip the flushes to disk (a committed transaction still survives a server restart).
            "-c", "fsync=off", "-c", "full_page_writes=off",
        ]  # fmt: skip
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, user=self._user, group=self._user, cwd=self.root)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.process.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                psycopg.connect(self._dsn("postgres"), connect_timeout=1).close()
                return self
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise RuntimeError(f"postgres did not start in {timeout} s: {self.log_path.read_text()[-2000:]}")

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown: open connections are cut, as when a database server is restarted under load."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        self._databases += 1
        name = f"test_{self._databases}"
        with psycopg.connect(self._dsn("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
