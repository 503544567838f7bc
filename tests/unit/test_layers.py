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


def imports(source: str, module: str, is_package: bool) -> set[str]:
    """Every module a source may bind, absolute: ``from a import b`` names ``a`` and
    ``a.b`` (``b`` may be a submodule), and a relative import is resolved against the
    module's own package."""
    tree = ast.parse(source)
    here = module.split(".") if is_package else module.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level - 1 <= len(here) else []
                parent = ".".join(base + ([node.module] if node.module else []))
            else:
                parent = node.module or ""
            if parent:
                found.add(parent)
            found.update(f"{parent}.{alias.name}" if parent else alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def wrong_imports(module: str, names: set[str]) -> list[str]:
    """The names among a module's imports that run an arrow back."""
    package = package_of(module)
    return sorted(
        name
        for name in names
        for banned in FORBIDDEN.get(package, ())
        if (name == banned or name.startswith(banned + ".")) and (module, banned) not in ALLOWED
    )


SOURCES = sorted(
    p
    for top in ("streams", "connectors")
    for p in (ROOT / top).rglob("*.py")
    if "emulators" not in p.parts
)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_arrow_runs_back(path: Path) -> None:
    module = module_name(path)
    names = imports(path.read_text(), module, path.name == "__init__.py")
    wrong = wrong_imports(module, names)
    assert wrong == [], f"{module} ({package_of(module)}) imports {wrong}"


# each way of writing one forbidden import (the contract reaching into the history),
# from a contract module (streams/topics.py) and from the contract's __init__
FORBIDDEN_FORMS = [
    ("streams.topics", False, "import streams.history"),
    ("streams.topics", False, "import streams.history.store as store"),
    ("streams.topics", False, "from streams.history import store"),
    ("streams.topics", False, "from streams.history.store import HistoryStore"),
    ("streams.topics", False, "from streams import history"),
    ("streams.topics", False, "from streams import topics, history"),
    ("streams.topics", False, "from . import history"),
    ("streams.topics", False, "from .history import store"),
    ("streams.topics", False, "from .history.store import HistoryStore"),
    ("streams", True, "from . import history"),
    ("streams", True, "from .history import api"),
    ("streams.worker.dispatch", False, "from .. import history"),
    ("streams.worker.dispatch", False, "from ..history.store import HistoryStore"),
    ("streams.worker.dispatch", False, "def late() -> None:\n    from streams import history"),
]


@pytest.mark.parametrize(("module", "is_package", "source"), FORBIDDEN_FORMS)
def test_the_checker_catches_each_form(module: str, is_package: bool, source: str) -> None:
    names = imports(source, module, is_package)
    assert any(name.startswith("streams.history") for name in wrong_imports(module, names)), names


# what the arrows allow must pass: the contract's own modules, a worker reaching down
ALLOWED_FORMS = [
    ("streams.topics", False, "from streams import settings, errors"),
    ("streams.topics", False, "from . import settings"),
    ("streams.topics", False, "from .errors import OrdersyncError"),
    ("streams.worker.dispatch", False, "from connectors import CONNECTORS"),
    ("streams.worker.dispatch", False, "from . import lanes"),
    ("streams.worker.dispatch", False, "from .. import topics"),
    ("streams.worker", True, "from .stores import StoreGate"),
]


@pytest.mark.parametrize(("module", "is_package", "source"), ALLOWED_FORMS)
def test_the_checker_lets_the_arrows_pass(module: str, is_package: bool, source: str) -> None:
    assert wrong_imports(module, imports(source, module, is_package)) == []


def test_relative_imports_resolve_against_the_package() -> None:
    assert imports("from . import lanes", "streams.worker.dispatch", False) == {
        "streams.worker",
        "streams.worker.lanes",
    }
    assert imports("from .. import topics", "streams.worker", True) == {
        "streams",
        "streams.topics",
    }
    assert imports("from ..history import api", "streams.worker.dispatch", False) == {
        "streams.history",
        "streams.history.api",
    }
