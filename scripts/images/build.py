"""`make images`: every image target of the Dockerfile, built with docker or podman, with its size and build time.

1. The Python base: PYTHON_IMAGE if given; else python:3.11-slim-bookworm when a registry serves it; else the
   Debian-built localhost/voiceagent-python:3.11 (`make base-image`, built here first if missing).
2. The wheelhouse (build/images/wheels): the packages the Dockerfile names, fetched by this environment's pip
   with its own configuration (index, extra indexes, find-links, certificates), pinned to the versions installed
   here, so the images run the versions the tests ran; then resolved by the base image's own pip, whose Python
   can need more (redis needs async-timeout below Python 3.11.3; Debian's is 3.11.2), fetched here too.
3. Each target, tagged <registry>/<target>:<tag>; its log goes to build/images/logs/<target>.log.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from scripts.images import dockerfile
from scripts.images.base_image import BASE_IMAGE, build_base_image
from scripts.images.engine import REPO_ROOT, WORK_DIR, Engine, EngineError

REGISTRY_PYTHON = "docker.io/library/python:3.11-slim-bookworm"
WHEELHOUSE = WORK_DIR / "wheels"
LOGS = WORK_DIR / "logs"


@dataclass
class Built:
    target: str
    image: str
    seconds: float
    size_bytes: int


def python_image(engine: Engine, requested: str | None) -> str:
    if requested:
        if not engine.pull(requested):
            raise EngineError(f"PYTHON_IMAGE={requested} is neither here nor pullable")
        return requested
    if engine.pull(REGISTRY_PYTHON, timeout=60):
        return REGISTRY_PYTHON
    if not engine.image_exists(BASE_IMAGE):
        print(f"{REGISTRY_PYTHON} cannot be pulled: building {BASE_IMAGE} from Debian packages", file=sys.stderr)
        build_base_image(engine)
    return BASE_IMAGE


def _pip(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise EngineError(f"pip {args[0]} failed: {result.stderr.strip()[-2000:]}")


def complete_for(engine: Engine, base: str, names: list[str], constraints: Path) -> None:
    """Resolves `names` with the base image's own pip against the wheelhouse and fetches, on this host, what its
    interpreter needs beyond what this one resolved (markers such as python_full_version differ)."""
    resolve = "python3 -m venv /tmp/venv && /tmp/venv/bin/pip install --quiet --dry-run --no-index --find-links /wheels "
    for _ in range(5):
        result = engine("run", "--rm", "--volume", f"{WHEELHOUSE}:/wheels:ro", base, "sh", "-c", resolve + " ".join(names),
                        check=False, timeout=600)
        if result.returncode == 0:
            return
        message = result.stderr.decode(errors="replace")
        missing = re.findall(r"No matching distribution found for ([^;\s]+)", message)
        if not missing:
            raise EngineError(f"the image's pip cannot resolve the wheelhouse: {message.strip()[-2000:]}")
        _pip("wheel", "--quiet", "--wheel-dir", str(WHEELHOUSE), "--constraint", str(constraints), *missing)
    raise EngineError(f"the wheelhouse is still incomplete for {base}")


def _pip_zipapp() -> None:
    """pip.pyz in the wheelhouse: this environment's pip as a zip application (the form pip itself publishes), so
    the builds run pip without installing it into any image."""
    with tempfile.TemporaryDirectory() as download:
        _pip("download", "--quiet", "--no-deps", "--dest", download, f"pip=={importlib.metadata.version('pip')}")
        [wheel] = Path(download).glob("pip-*.whl")
        with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(WHEELHOUSE / "pip.pyz", "w", zipfile.ZIP_DEFLATED) as app:
            for item in source.infolist():
                app.writestr(item, source.read(item))
            app.writestr("__main__.py", "import runpy\nrunpy.run_module('pip', run_name='__main__', alter_sys=True)\n")


def _fetch(engine: Engine, base: str, named: dict[str, bool], installed: Path) -> None:
    common = ["wheel", "--quiet", "--wheel-dir", str(WHEELHOUSE), "--constraint", str(installed)]
    for no_deps in (False, True):
        if names := sorted(name for name, without in named.items() if without == no_deps):
            _pip(*common, *(["--no-deps"] if no_deps else []), *names)
    complete_for(engine, base, sorted(name for name, no_deps in named.items() if not no_deps), installed)


def fill_wheelhouse(engine: Engine, base: str, named: dict[str, bool], extra: dict[str, bool] | None = None) -> str:
    """Fetches the named packages (name -> without dependencies) into the wheelhouse; returns its digest (the set
    of wheel files). `extra` packages are fetched after the digest is taken: they never cause a rebuild."""
    shutil.rmtree(WHEELHOUSE, ignore_errors=True)
    WHEELHOUSE.mkdir(parents=True)
    # The versions installed here (pyproject.toml's pins and what they resolved to) constrain every package.
    installed = WORK_DIR / "installed.txt"
    installed.write_text(subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
                                        capture_output=True, text=True, check=True).stdout)
    _fetch(engine, base, named, installed)
    _pip_zipapp()
    # What pip needs to build this project's own package (setuptools), as pyproject.toml's build-system says.
    build_system = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    _pip("wheel", "--quiet", "--wheel-dir", str(WHEELHOUSE), *build_system)
    wheels = sorted(path.name for path in WHEELHOUSE.iterdir())
    if extra:
        _fetch(engine, base, extra, installed)
    return hashlib.sha256("\n".join(wheels).encode()).hexdigest()[:16]


def build(engine: Engine, target: str, image: str, base: str, wheelhouse: str) -> Built:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{target}.log"
    started = time.monotonic()
    with log.open("wb") as output:
        result = subprocess.run(
            [engine.name, "build", "--target", target, "--build-arg", f"PYTHON_IMAGE={base}",
             "--build-arg", f"WHEELHOUSE={wheelhouse}", "--tag", image, "--file", str(dockerfile.DOCKERFILE), str(REPO_ROOT)],
            stdout=output, stderr=subprocess.STDOUT, env={**engine.environment(), "DOCKER_BUILDKIT": "1"},
        )
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise EngineError(f"building {target} failed (full log: {log}):\n{tail}")
    return Built(target, image, time.monotonic() - started, engine.image_size(image))


@dataclass
class Build:
    base: str  # the Python base image
    wheelhouse: str  # the wheelhouse's digest, the WHEELHOUSE build argument
    images: list[Built]


def build_images(engine: Engine, registry: str, tag: str, targets: list[str] | None = None,
                 base: str | None = None, extra_packages: dict[str, bool] | None = None) -> Build:
    """Every target (default: all); `extra_packages` also go into the wheelhouse (the stand-ins' packages)."""
    parsed = dockerfile.stages()
    targets = targets or dockerfile.image_targets(parsed)
    base = python_image(engine, base)
    engine.adapt(base)
    started = time.monotonic()
    named = {name: no_deps for target in targets for name, no_deps in dockerfile.packages(target, parsed).items()}
    digest = fill_wheelhouse(engine, base, named, extra_packages)
    print(f"wheelhouse {digest}: {sum(p.stat().st_size for p in WHEELHOUSE.iterdir()) / 1e6:.0f} MB in "
          f"{time.monotonic() - started:.0f} s; base {base}", file=sys.stderr, flush=True)
    built = []
    for target in targets:
        built.append(build(engine, target, f"{registry}/{target}:{tag}", base, digest))
        print(f"built {built[-1].image}: {built[-1].size_bytes / 1e6:.0f} MB in {built[-1].seconds:.0f} s",
              file=sys.stderr, flush=True)
    return Build(base, digest, built)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", default=os.environ.get("IMAGE_REGISTRY", "ghcr.io/voiceagent"))
    parser.add_argument("--tag", default=os.environ.get("IMAGE_TAG", "latest"))
    parser.add_argument("--python-image", default=os.environ.get("PYTHON_IMAGE") or None)
    parser.add_argument("targets", nargs="*", help="Dockerfile targets (default: every image)")
    args = parser.parse_args()
    try:
        engine = Engine.detect()
        built = build_images(engine, args.registry, args.tag, args.targets, args.python_image).images
    except EngineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"\n{'image':<48} {'size':>8} {'build':>7}")
    for image in built:
        print(f"{image.image:<48} {image.size_bytes / 1e6:>5.0f} MB {image.seconds:>6.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
