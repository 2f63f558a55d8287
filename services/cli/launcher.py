"""Starting service processes locally and waiting until they report SERVING.

Used by `make demo`, the integration tests and (later) `voiceagent up`, so
every one of them starts services the same way a user would:
`python -m services.<name>` with ports from the environment.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServiceProcess:
    """One `python -m services.<name>` child process with its own ports and log file."""

    def __init__(
        self,
        name: str,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        grpc_port: int | None = None,
        metrics_port: int | None = None,
    ) -> None:
        self.name = name
        self.grpc_port = grpc_port or free_port()
        self.metrics_port = metrics_port or free_port()
        self.log_path = log_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"voiceagent-{name}-{self.grpc_port}.log"
        prefix = name.upper()
        self.env = {
            **os.environ,
            f"{prefix}_GRPC_HOST": "127.0.0.1",
            f"{prefix}_GRPC_PORT": str(self.grpc_port),
            f"{prefix}_METRICS_PORT": str(self.metrics_port),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> ServiceProcess:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"], cwd=REPO_ROOT, env=self.env, stdout=log, stderr=log
        )
        log.close()
        return self

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_serving(self, timeout: float = 120.0) -> ServiceProcess:
        """Block until the health check says SERVING; fail fast if the process dies."""
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return self
                except grpc.RpcError:
                    pass
                time.sleep(0.2)
        raise TimeoutError(f"{self.name} did not become healthy within {timeout:.0f}s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not drain in time; returns the exit code."""
        if self.process is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class HttpServiceProcess(ServiceProcess):
    """An HTTP service (the gateway, the console): one port for its routes, health and metrics."""

    def __init__(self, name: str, env: dict[str, str] | None = None, log_path: Path | None = None, http_port: int | None = None) -> None:
        super().__init__(name, env, log_path, grpc_port=http_port)
        prefix = name.upper()
        for key in (f"{prefix}_GRPC_HOST", f"{prefix}_GRPC_PORT", f"{prefix}_METRICS_PORT"):
            self.env.pop(key, None)
        self.env.update({f"{prefix}_HTTP_HOST": "127.0.0.1", f"{prefix}_HTTP_PORT": str(self.grpc_port), **(env or {})})

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    def start(self) -> HttpServiceProcess:
        """Started here (development, the demo, tests), the call store is brought to this code's schema first,
        as `voiceagent db upgrade` would; a deployment runs that as its migration Job."""
        from services.common.records import schema  # here, not at the top: every CLI command imports this module
        from services.common.records.settings import default_database_url

        data_dir = REPO_ROOT / self.env.get("VOICEAGENT_DATA_DIR", "data")  # as the process sees it, from REPO_ROOT
        schema.upgrade(self.env.get("VOICEAGENT_DATABASE_URL") or default_database_url(data_dir))
        super().start()
        return self

    @property
    def metrics_url(self) -> str:
        return f"{self.address}/metrics"

    def wait_serving(self, timeout: float = 60.0) -> HttpServiceProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.address}/healthz", timeout=1) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} did not start within {timeout:.0f}s:\n{self.log_tail()}")


class GatewayProcess(HttpServiceProcess):
    """The HTTP gateway: one port for webhooks, audio, health and metrics."""

    def __init__(self, env: dict[str, str] | None = None, log_path: Path | None = None, http_port: int | None = None) -> None:
        super().__init__("gateway", env, log_path, http_port)
        # Started here, the gateway is reached at its own loopback address (a deployment sets its public URL).
        self.env.setdefault("PUBLIC_BASE_URL", self.address)


class ConsoleProcess(HttpServiceProcess):
    """The operator console: its pages, health and metrics on one HTTP port."""

    def __init__(self, env: dict[str, str] | None = None, log_path: Path | None = None, http_port: int | None = None) -> None:
        super().__init__("console", env, log_path, http_port)
