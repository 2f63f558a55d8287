"""The container engine that builds and runs the images: docker when its daemon answers, podman otherwise.

Some hosts need podman configured before a container can start (on this kind of machine: the cgroup manager,
the default ulimits, the OCI runtime). Nothing is assumed: `Engine.adapt` starts a throwaway container, reads
why it failed, applies the one setting that cures that failure and tries again, so an ordinary Linux box runs
with podman's defaults untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# Generated files (the podman settings, the wheelhouse) live here; build/ is ignored by git.
WORK_DIR = REPO_ROOT / "build" / "images"


class EngineError(RuntimeError):
    """A step failed; the message says which and why."""


@dataclass(frozen=True)
class Quirk:
    """A podman start-up failure (recognised by its message) and the containers.conf setting that cures it."""

    symptom: str
    section: str
    setting: str
    why: str


QUIRKS = (
    # runc says "error setting rlimit type 7", crun "setrlimit `RLIMIT_NPROC`".
    Quirk("rlimit", "containers", "default_ulimits = []", "this host may not raise podman's default ulimits"),
    Quirk("hybrid mode not supported", "engine", 'runtime = "runc"', "crun refuses this host's hybrid cgroups"),
    Quirk("systemd", "engine", 'cgroup_manager = "cgroupfs"', "no systemd to manage cgroups"),
)


@dataclass
class Engine:
    name: str  # "docker" or "podman"
    settings: list[Quirk] = field(default_factory=list)

    @classmethod
    def detect(cls) -> Engine:
        """CONTAINER_ENGINE if set; otherwise docker when its daemon answers, else podman."""
        chosen = os.environ.get("CONTAINER_ENGINE")
        if chosen:
            if not shutil.which(chosen):
                raise EngineError(f"CONTAINER_ENGINE={chosen} is not installed")
            return cls(chosen)
        if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0:
            return cls("docker")
        if shutil.which("podman"):
            return cls("podman")
        raise EngineError("no container engine: install podman (apt-get install podman buildah runc) or start docker")

    @property
    def conf_path(self) -> Path:
        return WORK_DIR / "containers.conf"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.settings:
            env["CONTAINERS_CONF"] = str(self.conf_path)
        return env

    def __call__(self, *args: str, check: bool = True, capture: bool = True, timeout: float | None = None,
                 input: bytes | None = None) -> subprocess.CompletedProcess:
        """Runs `<engine> args...`; on failure with check, raises with the engine's own message."""
        result = subprocess.run([self.name, *args], env=self.environment(), capture_output=capture, timeout=timeout,
                                input=input)
        if check and result.returncode != 0:
            detail = (result.stderr or b"").decode(errors="replace").strip()[-2000:] if capture else ""
            raise EngineError(f"{self.name} {' '.join(args[:3])} ... failed (exit {result.returncode}): {detail}")
        return result

    def output(self, *args: str, timeout: float | None = None) -> str:
        return self(*args, timeout=timeout).stdout.decode().strip()

    def adapt(self, image: str) -> None:
        """Makes sure a container from `image` starts here, applying the podman settings this host needs."""
        for _ in range(len(QUIRKS) + 1):
            result = self("run", "--rm", image, "true", check=False, timeout=120)
            if result.returncode == 0:
                return
            message = result.stderr.decode(errors="replace")
            cure = next((q for q in QUIRKS if q.symptom in message.lower() and q not in self.settings), None)
            if self.name != "podman" or cure is None:
                raise EngineError(f"a container from {image} does not start with {self.name}: {message.strip()[-1500:]}")
            print(f"{self.name}: {cure.why}; using {cure.setting} ({self.conf_path})", file=sys.stderr)
            self.settings.append(cure)
            self._write_conf()
        raise EngineError(f"a container from {image} still does not start after {[q.setting for q in self.settings]}")

    def _write_conf(self) -> None:
        sections: dict[str, list[str]] = {}
        for quirk in self.settings:
            sections.setdefault(quirk.section, []).append(quirk.setting)
        # A cure found for one symptom may already cover another: one setting per line, no duplicates.
        text = "".join(f"[{name}]\n" + "".join(f"{line}\n" for line in dict.fromkeys(lines)) for name, lines in sections.items())
        self.conf_path.parent.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(text)

    def image_exists(self, image: str) -> bool:
        return self("image", "inspect", image, check=False).returncode == 0

    def pull(self, image: str, timeout: float = 120) -> bool:
        """Whether `image` is here or could be pulled (a host without registry access says no quickly)."""
        if self.image_exists(image):
            return True
        try:
            return self("pull", "--quiet", image, check=False, timeout=timeout).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def image_size(self, image: str) -> int:
        """Bytes of the image's uncompressed layers, as `images` reports it."""
        return int(json.loads(self.output("image", "inspect", image))[0]["Size"])
