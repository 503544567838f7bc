"""The packages' arrows run one way (docs/architecture.md):

contract (streams/*.py) <- connectors <- worker;  contract <- history;
worker, history <- ops <- local;  local is imported by nothing in production but the
CLI's dev commands (bench, chaos and tests use it too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent

# package -> packages it must never import
FORBIDDEN = {
    "streams": ("streams.worker", "streams.history", "streams.ops", "streams.local", "connectors"),
    "connectors": ("streams.worker", "streams.history", "streams.ops", "streams.local"),
    "streams.worker": ("streams.history", "streams.ops", "streams.local"),
    "streams.history": ("streams.worker", "streams.ops", "streams.local"),
    "streams.ops": ("streams.local",),
}
# the CLI's dev commands run the local tooling: its one allowed arrow into it
ALLOWED = {("streams.ops.cli", "streams.local")}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


LAYERS = ("streams.worker", "streams.history", "streams.ops", "streams.local", "connectors")


def package_of(module: str) -> str:
    """The layer a module belongs to: its package, or the contract (``streams/*.py``)."""
    for package in LAYERS:
        if module == package or module.startswith(package + "."):
            return package
    return "streams"


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


SOURCES = sorted(
    p
    for top in ("streams", "connectors")
    for p in (ROOT / top).rglob("*.py")
    if "emulators" not in p.parts
)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_arrow_runs_back(path: Path) -> None:
    module = module_name(path)
    package = package_of(module)
    wrong = [
        name
        for name in imports(path)
        for banned in FORBIDDEN.get(package, ())
        if (name == banned or name.startswith(banned + ".")) and (module, banned) not in ALLOWED
    ]
    assert wrong == [], f"{module} ({package}) imports {wrong}"
