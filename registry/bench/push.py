"""The push benchmark: N sealed licenses to the local endpoint, which verifies each.

A scratch registry gets the demo world and N synthetic licenses (not timed); then the mock
provincial endpoint starts in its own process and :func:`registry.province.sync.push_pending`
pushes every outbox event to it (timed), as ``licreg sync run`` does. ``licreg bench`` times
the same push with :func:`time_push` on the licenses of its whole path. This is a benchmark,
not a test: no test asserts a time.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Engine

from registry.bench.synthetic import (
    in_chunks,
    pushed_business_license,
    scratch_registry,
    seal_elements,
)
from registry.clock import utc_now
from registry.config import Settings
from registry.db import session_scope
from registry.mockprovince.process import start_endpoint
from registry.province.client import ProvinceClient
from registry.province.sync import PushSummary, push_pending
from registry.seal.pki import load_root_cert

__all__ = ["PushTiming", "bench_push", "time_push"]

PASSPHRASE = b"TEST-ONLY-push-bench-passphrase"
TOKENS = {"bench": "TEST-ONLY-bench-token"}


@dataclass(frozen=True)
class PushTiming:
    """One timed push of every pending event."""

    summary: PushSummary
    seconds: float
    stored: int
    """Licenses the endpoint holds afterwards (its /stats)."""


def time_push(engine: Engine, settings: Settings, home: Path, *, batch_size: int = 2000,
              concurrency: int = 2, workers: int = 1) -> PushTiming:
    """Start the mock endpoint under ``home`` (``workers`` verifying processes) and time
    pushing every pending event of the registry to it."""
    anchors = home / "root.pem"
    anchors.write_bytes(load_root_cert(settings.keystore).public_bytes(Encoding.PEM))
    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency)
    with start_endpoint(home=home / "province", anchors_path=anchors, tokens=TOKENS,
                        workers=workers) as url, \
            httpx.Client(base_url=url, timeout=httpx.Timeout(120.0, connect=5.0),
                         limits=limits) as http, \
            session_scope(engine) as session:
        client = ProvinceClient(http, access_id="bench", access_token=TOKENS["bench"])
        start = time.perf_counter()
        summary = push_pending(session, client, batch_size=batch_size, concurrency=concurrency,
                               at=utc_now())
        seconds = time.perf_counter() - start
        stored = int(http.get("/stats").json()["licenses"])
    return PushTiming(summary, seconds, stored)


def bench_push(
    n: int = 100_000,
    *,
    batch_size: int = 2000,
    concurrency: int = 2,
    workers: int = 1,
    home: Path | None = None,
    progress: Callable[[str], None] = lambda _line: None,
) -> dict[str, Any]:
    """Seal ``n`` licenses in a scratch registry, then time pushing them all; a small report."""
    with tempfile.TemporaryDirectory(prefix="licreg-push-bench-") as scratch:
        root = home or Path(scratch)
        at = utc_now()
        settings, engine = scratch_registry(root / "registry", passphrase=PASSPHRASE,
                                            now=at)
        started = time.perf_counter()
        for rows in in_chunks(map(pushed_business_license, range(n)), 5000):
            with session_scope(engine) as session:
                seal_elements(session, settings, rows, at=at)
        progress(f"sealed {n} licenses in {time.perf_counter() - started:.1f} s (not timed)")
        timing = time_push(engine, settings, root, batch_size=batch_size,
                           concurrency=concurrency, workers=workers)
        engine.dispose()
    pushed = timing.summary.accepted + timing.summary.duplicates
    return {
        "licenses": n,
        "pushed": pushed,
        "stored": timing.stored,
        "rejected": timing.summary.rejected,
        "seconds": round(timing.seconds, 3),
        "per_second": round(pushed / timing.seconds) if timing.seconds else 0,
        "batch_size": batch_size,
        "concurrency": concurrency,
        "workers": workers,
    }
