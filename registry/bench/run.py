"""``licreg bench``: how fast each stage runs on this machine, next to the signing limit.

Generates synthetic department batches (valid codes, three license types, two departments) in a
scratch registry, then measures, each alone: parse, structure, seal, store; the whole path
(CSV → validated, structured, identified, sealed, logged, committed); push to the mock
provincial endpoint in its own process (which verifies every signature); verify. Next to them,
the raw ECDSA P-256 signing rate of one core, measured in the same run.

Nothing is skipped to go fast: every license the whole path produces is stored, sealed and
verifiable afterwards. This is a benchmark, not a test: CI runs it only at a small N.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from registry.bench import stages
from registry.bench.report import BenchReport, descendants_peak_rss_mib, peak_rss_mib, sign_limit

__all__ = ["run_bench"]


def run_bench(n: int = 100_000, *, workdir: Path | None = None, database_url: str | None = None,
              progress: Callable[[str], None] = lambda _: None) -> BenchReport:
    """Run every stage on ``n`` synthetic licenses in a scratch registry under ``workdir``."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="licreg-bench-", dir=workdir) as tmp:
        home = Path(tmp)
        limit = sign_limit()
        progress(f"raw ECDSA P-256 sign, one core: {limit:,.0f}/s")
        results = stages.run_all(n, home=home, database_url=database_url, progress=progress)
    return BenchReport(
        licenses=n, sign_limit_per_second=limit, stages=tuple(results),
        wall_seconds=time.perf_counter() - started, peak_rss_mib=peak_rss_mib(),
        worker_peak_rss_mib=descendants_peak_rss_mib(),
        machine={"cpus": os.cpu_count(), "database": (database_url or "sqlite").split(":")[0]},
    )
