"""What is installed is what is locked, and what is imported is declared."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker

ROOT = Path(__file__).resolve().parent.parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^ \\;]+)", re.MULTILINE)


def pins(name: str) -> dict[str, str]:
    text = (ROOT / name).read_text()
    return {normal(n): v for n, v in PIN.findall(text)}


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_dev_lock_pins_the_runtime_lock_alike() -> None:
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert runtime and all(dev.get(name) == version for name, version in runtime.items())
    assert all("--hash=sha256:" in line for line in _pin_lines("requirements-dev.lock"))


def test_make_installs_the_locks_with_the_uv_the_dev_lock_pins() -> None:
    (uv,) = [block.strip() for block in _pin_lines("requirements-uv.lock")]
    dev = [block.strip() for block in _pin_lines("requirements-dev.lock")]
    assert uv.startswith("uv==") and uv in dev and "--hash=sha256:" in uv


def _pin_lines(name: str) -> list[str]:
    """Each pin with its continuation lines."""
    text = (ROOT / name).read_text()
    return [block for block in re.split(r"\n(?=[A-Za-z0-9])", text) if "==" in block]


# what a fresh venv brings and the project itself: the only installed distributions no lock pins
UNPINNED = {"ordersync", "pip", "setuptools", "wheel"}


def locked_for_this_platform(name: str) -> dict[str, str]:
    """The lock's pins whose environment marker (if any) holds here."""
    text = (ROOT / name).read_text()
    found, skipped = {}, []
    for block in _pin_lines(name):
        head = block.splitlines()[0].rstrip(" \\")
        spec, _, marker = head.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate():
            skipped.append(head)
            continue
        match = PIN.match(spec.strip())
        assert match, f"{name}: cannot read the pin {head!r}"
        found[normal(match[1])] = match[2]
    assert len(found) == len(PIN.findall(text)) - len(skipped), name
    return found


def test_every_locked_distribution_is_installed_at_its_pin() -> None:
    locked = locked_for_this_platform("requirements-dev.lock")
    installed = {normal(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = {
        name: (version, installed.get(name, "not installed"))
        for name, version in locked.items()
        if installed.get(name) != version
    }
    assert len(locked) > 50 and wrong == {}, f"pinned vs installed: {wrong}"


def test_nothing_is_installed_that_no_lock_pins() -> None:
    locked = locked_for_this_platform("requirements-dev.lock")
    installed = {normal(d.metadata["Name"]) for d in metadata.distributions()}
    assert installed - set(locked) - UNPINNED == set()


def test_every_package_the_product_imports_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {normal(re.split(r"[<>=\[ ;]", d, maxsplit=1)[0]) for d in project["dependencies"]}
    distributions = metadata.packages_distributions()
    ours = {"streams", "connectors", "schemas"}
    missing = set()
    for path in [*ROOT.glob("streams/**/*.py"), *ROOT.glob("connectors/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in ours or top in sys.stdlib_module_names:
                    continue
                dists = {normal(d) for d in distributions.get(top, [top])}
                if not dists & declared:
                    missing.add(f"{top} ({path.relative_to(ROOT)})")
    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"
