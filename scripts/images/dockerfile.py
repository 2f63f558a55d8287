"""The Dockerfile read as data: its stages, what each one builds on, and the packages each image installs.

`make images` fills the wheelhouse with exactly these packages, and the tests compare them with what each
program imports, so the package lists are written once, in the Dockerfile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from scripts.images.engine import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
# pip options followed by a value (not a package name).
PIP_OPTIONS_WITH_VALUE = {"--prefix", "--target", "-t", "--root", "-c", "--constraint", "-r", "--requirement"}


@dataclass
class Stage:
    name: str
    parent: str  # another stage's name, or the base image reference
    instructions: list[str] = field(default_factory=list)  # continuation lines joined, comments dropped

    def pip_installs(self) -> list[tuple[list[str], bool]]:
        """Each `pip install` in this stage's RUNs: (package names, installed without dependencies)."""
        installs = []
        for instruction in self.instructions:
            if not instruction.startswith("RUN "):
                continue
            for command in instruction.split("&&"):
                words = command.split()
                # `pip install ...` or `python /wheels/pip.pyz install ...`
                runs_pip = [i for i, word in enumerate(words[:-1]) if word.rsplit("/", 1)[-1] in ("pip", "pip.pyz")]
                if runs_pip and words[runs_pip[0] + 1] == "install":
                    arguments = words[runs_pip[0] + 2:]
                    values = {arguments[i + 1] for i, word in enumerate(arguments[:-1]) if word in PIP_OPTIONS_WITH_VALUE}
                    # Package names only: options, their values and local paths (the project itself) are left out.
                    names = [word for word in arguments if word not in values and re.fullmatch(r"\w[\w.-]*", word)]
                    installs.append((names, "--no-deps" in arguments))
        return installs

    def value(self, keyword: str) -> str | None:
        """The argument of this stage's last `keyword` instruction (e.g. CMD, USER), if any."""
        found = [i.split(None, 1)[1] for i in self.instructions if i.split(None, 1)[0] == keyword]
        return found[-1] if found else None


def stages(path: Path = DOCKERFILE) -> dict[str, Stage]:
    parsed: dict[str, Stage] = {}
    current: Stage | None = None
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if match := re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line, re.I):
            current = parsed[match.group(2)] = Stage(match.group(2), match.group(1))
        elif current is not None:
            current.instructions.append(line)
    return parsed


def lineage(target: str, parsed: dict[str, Stage]) -> list[Stage]:
    """The stages an image is built from, base first."""
    chain = []
    name: str | None = target
    while name in parsed:
        chain.insert(0, parsed[name])
        name = parsed[name].parent
    return chain


def packages(target: str, parsed: dict[str, Stage] | None = None) -> dict[str, bool]:
    """Every package the target installs by name, mapped to whether it was installed without dependencies."""
    parsed = parsed or stages()
    named: dict[str, bool] = {}
    for stage in lineage(target, parsed):
        for names, no_deps in stage.pip_installs():
            named.update(dict.fromkeys(names, no_deps))
    return named


def image_targets(parsed: dict[str, Stage] | None = None) -> list[str]:
    """The stages that are images (they say what to run), in file order."""
    parsed = parsed or stages()
    return [name for name, stage in parsed.items() if stage.value("CMD") or stage.value("ENTRYPOINT")]
