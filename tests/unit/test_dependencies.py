"""What is installed is what is locked, and what is imported is declared."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

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


def test_the_installed_packages_are_the_locked_ones() -> None:
    locked = pins("requirements-dev.lock")
    for name in ("faust-streaming", "aiokafka", "confluent-kafka", "aiohttp", "chdb", "fastavro"):
        assert metadata.version(name) == locked[name], name


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
