"""What a benchmark run measured: one result per stage, next to the raw signing limit.

The signing limit is measured in the same run, so every rate can be read as a share of what
this machine's core can sign at best (the ``÷ sign`` column of ``licreg bench``).
"""

from __future__ import annotations

import hashlib
import os
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

__all__ = ["BenchReport", "StageResult", "descendants_peak_rss_mib", "peak_rss_mib",
           "sign_limit", "timed"]


@dataclass(frozen=True)
class StageResult:
    """One measured stage."""

    stage: str
    items: int
    seconds: float
    note: str = ""

    @property
    def per_second(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class BenchReport:
    """A whole benchmark run."""

    licenses: int
    sign_limit_per_second: float
    """Raw ECDSA P-256 signatures per second on one core, measured in this run."""
    stages: tuple[StageResult, ...]
    wall_seconds: float
    peak_rss_mib: float
    """Peak resident memory of the benchmark process."""
    worker_peak_rss_mib: float
    """Largest peak resident memory of any worker process it started (fork server, workers)."""
    machine: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "licenses": self.licenses,
            "sign_limit_per_second": round(self.sign_limit_per_second),
            "wall_seconds": round(self.wall_seconds, 2),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "worker_peak_rss_mib": round(self.worker_peak_rss_mib, 1),
            "machine": self.machine,
            "stages": [
                {**asdict(s), "seconds": round(s.seconds, 3), "per_second": round(s.per_second),
                 "ratio_to_sign_limit": round(s.per_second / self.sign_limit_per_second, 3)}
                for s in self.stages
            ],
        }

    def table(self) -> str:
        lines = [f"{'stage':<34}{'items':>10}{'seconds':>10}{'per s':>10}{'÷ sign':>8}  note"]
        for s in self.stages:
            lines.append(f"{s.stage:<34}{s.items:>10}{s.seconds:>10.2f}{s.per_second:>10.0f}"
                         f"{s.per_second / self.sign_limit_per_second:>8.2f}  {s.note}")
        lines.append(f"raw ECDSA P-256 sign, one core: {self.sign_limit_per_second:,.0f}/s; "
                     f"wall {self.wall_seconds:.1f} s; peak RSS {self.peak_rss_mib:.0f} MiB "
                     f"(largest worker {self.worker_peak_rss_mib:.0f} MiB)")
        return "\n".join(lines)


def sign_limit(seconds: float = 1.0) -> float:
    """Raw prehashed ECDSA P-256 signatures per second on this core."""
    key = ec.generate_private_key(ec.SECP256R1())
    algo = ec.ECDSA(utils.Prehashed(hashes.SHA256()))
    digest = hashlib.sha256(b"bench").digest()
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(500):
            key.sign(digest, algo)
        n += 500
    return n / elapsed


@contextmanager
def timed(results: list[StageResult], stage: str, items: Callable[[], int],
           note: str = "") -> Iterator[None]:
    start = time.perf_counter()
    yield
    results.append(StageResult(stage, items(), time.perf_counter() - start, note))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def descendants_peak_rss_mib() -> float:
    """Largest VmHWM among this process's live descendants (Linux /proc; 0 elsewhere)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parent[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    mine: set[int] = set()
    frontier = {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parent.items() if ppid in frontier} - mine
        mine |= frontier
    peak = 0
    for pid in mine:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak / 1024
