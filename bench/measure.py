"""How the bench turns times and process counters into its figures."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from pathlib import Path


def steady_rate(times: Sequence[float]) -> float:
    """Events per second between the 10th and the 90th percentile of their times: the
    steady rate, without the start-up or the last stragglers."""
    ordered = sorted(times)
    if len(ordered) < 10:
        return 0.0
    low, high = ordered[len(ordered) // 10], ordered[(len(ordered) * 9) // 10]
    count = (len(ordered) * 9) // 10 - len(ordered) // 10
    return round(count / (high - low), 1) if high > low else 0.0


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)


def summary_ms(values_s: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean of durations given in seconds, in milliseconds."""
    ms = [v * 1000 for v in values_s]
    if not ms:
        return {}
    return {
        "p50": pct(ms, 50),
        "p95": pct(ms, 95),
        "p99": pct(ms, 99),
        "max": round(max(ms), 2),
        "mean": round(statistics.fmean(ms), 2),
    }


def proc_stats(pid: int) -> tuple[float, float]:
    """(peak RSS in MiB, CPU seconds) of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return hwm / 1024, (int(fields[11]) + int(fields[12])) / ticks


class CpuMeter:
    """CPU seconds each named process spent between ``start`` and ``read``."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid}
        self._before: dict[str, float] = {}

    def start(self) -> None:
        self._before = {name: proc_stats(pid)[1] for name, pid in self.pids.items()}

    def read(self) -> dict[str, float]:
        return {name: proc_stats(pid)[1] - self._before[name] for name, pid in self.pids.items()}


def zipf_weights(count: int, s: float) -> list[float]:
    """Weights of ranks 1..count under Zipf's law with exponent ``s``."""
    return [1 / (rank**s) for rank in range(1, count + 1)]
