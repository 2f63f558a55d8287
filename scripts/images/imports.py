"""Which installed packages an image's program imports, read from the source (nothing is imported or run).

From an entry module, every `services.*` module it can reach is followed, including imports inside functions
(backends load lazily) and `importlib.util.find_spec("name")` (packages located for their data files, such
as the Silero and Moonshine models). What remains outside `services` and the standard library are the
program's third-party imports; `distributions` names the packages that provide them in this environment.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

from scripts.images.engine import REPO_ROOT

# Modules a library imports on the program's behalf, so never named in our source, keyed by the import that
# makes it do so: FastAPI's form parsing (Twilio webhooks are form posts) and uvicorn's WebSocket protocol
# (Twilio Media Streams); Jinja2 for FastAPI's templates; the call store's PostgreSQL driver, which SQLAlchemy
# loads when the database URL names it; the AES that pypdf needs to open encrypted PDFs.
IMPORTED_FOR_US = {
    "fastapi": {"python_multipart", "websockets"},
    "fastapi.templating": {"jinja2"},
    "sqlalchemy": {"psycopg", "psycopg_binary"},
    "pypdf": {"cryptography"},
}
# Modules our code registers under their own name from another package's folder (stt/backends/ort_format.py).
REGISTERED_FROM = {"ort_flatbuffers_py": "onnxruntime"}


def _module_file(module: str) -> Path | None:
    path = REPO_ROOT.joinpath(*module.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _nodes(tree: ast.AST, lazy: bool) -> list[ast.AST]:
    """Every node, or (lazy=False) only those that run at import: function bodies are left out."""
    if lazy:
        return list(ast.walk(tree))
    found, pending = [], [tree]
    while pending:
        node = pending.pop()
        found.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            pending += ast.iter_child_nodes(node)
    return found


def _imports_of(path: Path, module: str, lazy: bool) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in _nodes(ast.parse(path.read_text(), str(path)), lazy):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            # `from package import module` may name a submodule.
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "find_spec" and node.args:
            if isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
    return names


def third_party_imports(entry: str, lazy: bool = True) -> set[str]:
    """Top-level names of the third-party modules reachable from `entry` (e.g. "services.gateway.__main__"):
    all of them, or (lazy=False) those imported when the program starts, before any function runs."""
    seen: set[str] = set()
    found: set[str] = set()
    pending = [entry]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        pending += [".".join(parts[:i]) for i in range(1, len(parts))]  # a package's __init__ runs first
        path = _module_file(module)
        if path is None:
            continue
        for name in _imports_of(path, module, lazy):
            top = name.split(".")[0]
            if top == "services":
                pending.append(name)
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                found.add(top)
                found.update(*(modules for key, modules in IMPORTED_FOR_US.items() if name == key or name.startswith(f"{key}.")))
    return found


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def distributions(modules: set[str]) -> set[str]:
    """The installed packages (canonical names) that provide these top-level modules."""
    providers = importlib.metadata.packages_distributions()
    modules = {REGISTERED_FROM.get(module, module) for module in modules}
    missing = sorted(m for m in modules if m not in providers)
    if missing:
        raise LookupError(f"no installed package provides {missing}")
    return {canonical(dist) for module in modules for dist in providers[module]}


def requirements(name: str) -> set[str]:
    """Canonical names of the packages `name` needs installed (its dependency closure in this environment)."""
    closure: set[str] = set()
    pending = [name]
    while pending:
        current = canonical(pending.pop())
        if current in closure:
            continue
        closure.add(current)
        for requirement in importlib.metadata.requires(current) or []:
            if "extra ==" in requirement:
                continue
            if ";" in requirement and not _marker_holds(requirement.split(";", 1)[1]):
                continue
            pending.append(re.match(r"[A-Za-z0-9._-]+", requirement).group(0))
    return closure


def _marker_holds(marker: str) -> bool:
    from packaging.markers import Marker

    return Marker(marker).evaluate()
