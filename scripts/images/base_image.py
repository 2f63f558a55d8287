"""`make base-image`: the Python base image built from Debian packages, for hosts that cannot pull one.

debootstrap (minbase variant) installs Debian bookworm with python3.11, python3-venv and ca-certificates
from the same Debian mirror this host's apt uses; the tree is piped as a tar into `<engine> import`. The
result, localhost/voiceagent-python:3.11, is what the Dockerfile's PYTHON_IMAGE argument takes instead of
python:3.11-slim-bookworm. Needs root (debootstrap) and about a minute.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.images.engine import Engine, EngineError

BASE_IMAGE = "localhost/voiceagent-python:3.11"
SUITE = "bookworm"  # Debian 12, whose python3 is 3.11, the project's version
PACKAGES = ("python3.11", "python3-venv", "ca-certificates")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Not needed at run time; dropped to keep the base small (apt's lists are fetched again by any build that installs).
PRUNED = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale")
IMAGE_SETTINGS = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)


def debian_mirror(sources: list[Path] | None = None) -> str:
    """The Debian archive this host's apt reads (one-line or deb822 sources); Debian's CDN when there is none."""
    if sources is None:
        sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        if not path.is_file():
            continue
        text = path.read_text()
        # deb822 ("URIs: http://.../debian") or one-line ("deb [options] http://.../debian bookworm main").
        for uri in re.findall(r"^URIs:\s*(\S+)", text, re.M) + re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M):
            if uri.rstrip("/").endswith("/debian"):
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def build_base_image(engine: Engine, image: str = BASE_IMAGE, mirror: str | None = None) -> None:
    if os.geteuid() != 0:
        raise EngineError("debootstrap needs root: run `sudo make base-image` (or use a registry's python:3.11 image)")
    for tool in ("debootstrap", "tar"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            raise EngineError(f"{tool} is not installed (apt-get install debootstrap)")
    mirror = mirror or debian_mirror()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="voiceagent-rootfs-") as rootfs:
        print(f"debootstrap {SUITE} (minbase, {', '.join(PACKAGES)}) from {mirror}", file=sys.stderr, flush=True)
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, rootfs, mirror],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise EngineError(f"debootstrap failed: {result.stdout[-1500:]}{result.stderr[-1500:]}")
        subprocess.run(["rm", "-rf", *(f"{rootfs}/{path}" for path in PRUNED)], check=True)
        tar = subprocess.Popen(["tar", "--numeric-owner", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        changes = [arg for setting in IMAGE_SETTINGS for arg in ("--change", setting)]
        imported = subprocess.Popen([engine.name, "import", *changes, "-", image], stdin=tar.stdout,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=engine.environment())
        tar.stdout.close()  # the import is then the pipe's only reader: if it fails, tar stops instead of blocking
        _, errors = imported.communicate()
        tar.wait()
        if tar.returncode != 0 or imported.returncode != 0:
            raise EngineError(f"{engine.name} import failed: {errors.decode(errors='replace')[-1500:]}")
    size = engine.image_size(image)
    print(f"{image}: {size / 1e6:.0f} MB, built in {time.monotonic() - started:.0f} s", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=BASE_IMAGE)
    parser.add_argument("--mirror", default=os.environ.get("DEBIAN_MIRROR"), help="Debian archive (default: this host's apt source)")
    args = parser.parse_args()
    try:
        build_base_image(Engine.detect(), args.image, args.mirror)
    except EngineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
