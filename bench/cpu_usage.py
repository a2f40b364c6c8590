"""CPU time of processes and of the whole machine from /proc (Linux), for benchmark reports.

A latency figure means little without the CPU it had: these counters show how much of the
machine the benchmark's processes used over a window, and how much everything else did.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of pid so far (its threads included); 0.0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S  # utime, stime (fields 14, 15)


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of all cores since boot, from the first line of /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    total = sum(values[:8])  # user … steal; guest time is already counted in user
    return (total - idle) / TICKS_PER_S, total / TICKS_PER_S


@dataclass
class CpuWindow:
    """CPU use of named groups of processes and of the machine between ``start`` and ``stop``."""

    pids: Mapping[str, Sequence[int]]
    _processes: dict[str, float] | None = None
    _machine: tuple[float, float] | None = None

    def start(self) -> None:
        self._processes = {name: self._seconds(pids) for name, pids in self.pids.items()}
        self._machine = machine_cpu_seconds()

    @staticmethod
    def _seconds(pids: Sequence[int]) -> float:
        return sum(process_cpu_seconds(pid) for pid in pids)

    def stop(self) -> dict[str, float]:
        """Cores used on average over the window: per process, ``machine`` and ``others``
        (the machine minus the named processes)."""
        assert self._processes is not None and self._machine is not None, "start first"
        busy, total = machine_cpu_seconds()
        wall = (total - self._machine[1]) / (os.cpu_count() or 1)
        if wall <= 0:
            return {}
        used = {
            name: (self._seconds(pids) - self._processes[name]) / wall
            for name, pids in self.pids.items()
        }
        machine = (busy - self._machine[0]) / wall
        return {**used, "machine": machine, "others": max(0.0, machine - sum(used.values()))}
