"""``BENCH_PROFILE=1``: sample ordersync's processes with py-spy during the throughput run.

py-spy writes collapsed stacks (``frame;frame;... count``); ``summary`` turns them into the
functions that take the most samples, by themselves (self) and with what they call (total).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path


class Profiler:
    def __init__(self, pid: int, output: Path) -> None:
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self.output = output
        self.proc = subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "100",
             "--nonblocking", "--output", str(output)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        self.proc.wait(timeout=60)


def _function(frame: str) -> str:
    # "name (path/to/module.py:123)" -> "name (module.py)": lines split one function apart
    name, _, where = frame.partition(" (")
    module = where.rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return f"{name} ({module})"


def summary(collapsed: Path, top: int = 25) -> str:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(f) for f in stack.split(";")]
        samples += count
        own[frames[-1]] += count
        for function in set(frames):
            total[function] += count
    if not samples:
        return "No samples.\n"

    def table(counter: Counter[str], title: str) -> list[str]:
        rows = [f"| {title} | share of samples |", "| --- | --- |"]
        rows += [f"| `{name}` | {n / samples:.1%} |" for name, n in counter.most_common(top)]
        return rows

    lines = [f"{samples} samples (100 per second of CPU time), {collapsed.stem}.", ""]
    lines += [*table(own, "function (self)"), "", *table(total, "function (with callees)")]
    return "\n".join(lines) + "\n"
