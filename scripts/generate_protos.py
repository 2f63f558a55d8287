"""Regenerate the committed gRPC/protobuf stubs from protos/.

protoc writes imports as the proto path (`from voiceagent.v1 import ...`);
the stubs live inside our package, so those imports are rewritten to
`services.common.generated.voiceagent.v1`. `--check` compares instead of
writing, which is how a test notices stale committed code.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PACKAGE = "services.common.generated"
OUT_DIR = ROOT / "services" / "common" / "generated"
IMPORT_PATTERN = re.compile(r"^(from|import) voiceagent\.v1", re.MULTILINE)


def generate(target: Path) -> None:
    """Run protoc into `target` and rewrite the imports to our package path."""
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    well_known = str(resources.files("grpc_tools") / "_proto")
    with tempfile.TemporaryDirectory() as raw:
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={raw}",
            f"--pyi_out={raw}",
            f"--grpc_python_out={raw}",
            *protos,
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        for produced in sorted(Path(raw).rglob("*.py*")):
            relative = produced.relative_to(raw)
            text = IMPORT_PATTERN.sub(rf"\1 {PACKAGE}.voiceagent.v1", produced.read_text())
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(text)
    for package_dir in [target, *(p for p in target.rglob("*") if p.is_dir())]:
        init = package_dir / "__init__.py"
        if not init.exists():
            init.write_text("")


def differences(expected: Path, actual: Path) -> list[str]:
    """Files that differ between two generated trees (relative paths)."""
    names = {p.relative_to(expected) for p in expected.rglob("*.py*")}
    names |= {p.relative_to(actual) for p in actual.rglob("*.py*") if "__pycache__" not in p.parts}
    return sorted(
        str(name)
        for name in names
        if not (expected / name).exists()
        or not (actual / name).exists()
        or (expected / name).read_bytes() != (actual / name).read_bytes()
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed stubs are stale")
    options = parser.parse_args()
    if not options.check:
        generate(OUT_DIR)
        print(f"generated stubs in {OUT_DIR.relative_to(ROOT)}")
        return 0
    with tempfile.TemporaryDirectory() as fresh:
        generate(Path(fresh))
        stale = differences(Path(fresh), OUT_DIR)
    if stale:
        print("stale generated stubs (run `make protos`): " + ", ".join(stale), file=sys.stderr)
        return 1
    print("generated stubs are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
