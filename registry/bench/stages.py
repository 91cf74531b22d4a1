"""The stages :mod:`registry.bench.run` measures, each calling the same library code users
run."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Engine, func, select

from registry.batch.pool import LocalPool
from registry.batch.run import ingest_file
from registry.bench.push import time_push
from registry.bench.report import StageResult, timed
from registry.bench.synthetic import BIZ, DOCTOR, FOOD, scratch_registry, write_synthetic_batch
from registry.city.demo import HEALTH, MARKET, init_registry
from registry.clock import china_day, utc_now
from registry.config import Settings
from registry.db import bulk_insert, json_text, make_engine, session_scope
from registry.db.models import Base, License, Seal
from registry.ingest.reader import read_rows
from registry.ingest.rules import evaluate, header_map, judged
from registry.license.canonical import canonical_bytes
from registry.license.issue import Issuer, build_elements, with_identifier
from registry.license.types import catalogue
from registry.render.renditions import render_pending
from registry.seal.crl import load_crls
from registry.seal.pki import load_root_cert
from registry.seal.queries import SealMaterial, sealing_context
from registry.tlog.checkpoint import sign_checkpoint
from registry.verify.registry_audit import audit_registry

__all__ = ["run_all"]

PASSPHRASE = b"TEST-ONLY-bench-passphrase"
STANDALONE_MAX = 100_000
"""Stand-alone stages keep their output in memory, so they run on at most this many rows."""
PDF_MAX = 5_000
"""PDF renditions run on at most this many licenses (≈ 15 s at the target rate)."""


def _batches(n: int, folder: Path) -> list[tuple[Path, str, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    shares = [(BIZ, MARKET.uscc, n // 2), (FOOD, MARKET.uscc, n // 4),
              (DOCTOR, HEALTH.uscc, n - n // 2 - n // 4)]
    return [(write_synthetic_batch(folder / f"{code}.csv", code, count, seed=i), dept, code)
            for i, (code, dept, count) in enumerate(shares) if count]


def run_all(n: int, *, home: Path, database_url: str | None,
            progress: Callable[[str], None]) -> list[StageResult]:
    now = utc_now()
    results: list[StageResult] = []
    settings, engine = scratch_registry(home / "registry", passphrase=PASSPHRASE, now=now,
                                        database_url=database_url)
    files = _batches(n, home / "batches")
    progress(f"generated {n} synthetic rows in {len(files)} files")
    types = catalogue()
    small = max(1, min(n, STANDALONE_MAX))

    # parse: bytes → rows of text cells
    rows = 0

    def parsed() -> int:
        return rows

    with timed(results, "parse (CSV → rows)", parsed):
        for path, _, _ in files:
            for chunk in read_rows(path, chunk_rows=5_000):
                rows += len(chunk)
    progress(f"parse: {results[-1].per_second:,.0f}/s")

    # structure: rules + elements + identifier + RFC 8785 bytes, on the first `small` rows
    records: list[tuple[bytes, str, str]] = []
    with timed(results, "structure (validate → elements)", lambda: len(records),
                f"first {small} rows"):
        for path, dept, code in files:
            lt = types[code]
            issuer = Issuer(MARKET.name if dept == MARKET.uscc else HEALTH.name, dept)
            for chunk in read_rows(path, chunk_rows=5_000):
                if len(records) >= small:
                    break
                hmap = header_map([c for c in chunk.columns if c != "LINE"], lt)
                evaluated = evaluate(chunk, lt, hmap, today=china_day(now), seen_numbers=set())
                for row in judged(evaluated):
                    if row.elements is not None:
                        elements = with_identifier(build_elements(row.elements, lt, issuer))
                        records.append((canonical_bytes(elements), elements["ZZBS"], code))
    progress(f"structure: {results[-1].per_second:,.0f}/s")

    # seal: SHA-256 + SES_Signature over each record with its department's seal
    with session_scope(engine) as session:
        seals = {s.department_id: s for s in session.scalars(select(Seal))}
        seal = next(iter(seals.values()))
        ctx = sealing_context(SealMaterial.of(seal, keystore=settings.keystore,
                                              passphrase=PASSPHRASE))
    signed_at = now.replace(microsecond=0)
    with timed(results, "seal (hash + SES_Signature)", lambda: len(records)):
        for record, identifier, _ in records:
            ctx.sign(hashlib.sha256(record).digest(), signed_at, identifier)
    progress(f"seal: {results[-1].per_second:,.0f}/s")
    records.clear()

    # the whole path: CSV → validated, structured, identified, sealed, logged, committed
    reports: list[Any] = []
    LocalPool().start()
    with timed(results, "ingest whole path (committed)",
                lambda: sum(r.accepted for r in reports), "CSV → sealed rows in the DB"):
        for path, dept, code in files:
            reports.append(ingest_file(engine, settings, path, department_uscc=dept,
                                       type_code=code, uploader="bench", at=now))
    progress(f"whole path: {results[-1].per_second:,.0f}/s")

    # store alone: the same rows bulk-inserted into a fresh database
    results.append(_store(engine, home / "store-copy", database_url))
    progress(f"store: {results[-1].per_second:,.0f}/s")

    results.append(_pdf(engine, settings, now, min(n, PDF_MAX)))
    progress(f"PDF: {results[-1].per_second:,.0f}/s")
    results.append(_push(engine, settings, home))
    progress(f"push: {results[-1].per_second:,.0f}/s")
    results.append(_checkpoint(engine, settings, now))
    progress(f"log checkpoint: {results[-1].per_second:,.0f}/s")
    results.append(_verify(engine, settings, now))
    progress(f"verify: {results[-1].per_second:,.0f}/s")
    return results


def _store(source: Engine, home: Path, database_url: str | None) -> StageResult:
    """Copy every table into a fresh database with the whole path's bulk insert
    (:func:`registry.db.bulk_insert`, JSON encoded in the timed part as the path encodes it);
    time the tables with a row per license or more (licenses, events, source rows, log
    leaves), not the handful of department and seal rows."""
    target_url = database_url and database_url.rsplit("/", 1)[0] + "/licreg_bench_store"
    home.mkdir(parents=True, exist_ok=True)
    copy = make_engine(target_url or f"sqlite:///{home / 'copy.db'}")
    init_registry(copy)
    seconds = 0.0
    with source.connect() as src:
        licenses = src.execute(select(func.count()).select_from(License)).scalar_one()
        for table in Base.metadata.sorted_tables:
            total = src.execute(select(func.count()).select_from(table)).scalar_one()
            columns = [c.name for c in table.c]
            json_columns = {i for i, c in enumerate(table.c) if isinstance(c.type, JSON)}
            result = src.execute(select(table))
            while part := result.fetchmany(5_000):
                start = time.perf_counter()
                rows = [tuple(json_text(v) if i in json_columns else v for i, v in enumerate(r))
                        for r in part]
                with copy.begin() as conn:
                    bulk_insert(conn, table, columns, rows)
                if total >= licenses:
                    seconds += time.perf_counter() - start
    copy.dispose()
    return StageResult("store (bulk insert, committed)", licenses, seconds,
                       "licenses + events + rows, 5,000 per transaction")


def _push(engine: Engine, settings: Settings, home: Path) -> StageResult:
    timing = time_push(engine, settings, home)
    return StageResult("push (endpoint verifies each)", timing.summary.accepted, timing.seconds,
                       f"endpoint stored {timing.stored}; rejected {timing.summary.rejected}")


def _checkpoint(engine: Engine, settings: Settings, now: dt.datetime) -> StageResult:
    """``licreg log checkpoint`` over every leaf the whole path wrote: positions, the index of
    sequenced leaves, tiles, root, signature (so the audit checks log inclusion)."""
    start = time.perf_counter()
    with session_scope(engine) as session:
        checkpoint, _ = sign_checkpoint(session, keystore=settings.keystore,
                                        passphrase=PASSPHRASE, now=now)
    return StageResult("log checkpoint (sequence, sign)", checkpoint.tree_size,
                       time.perf_counter() - start, "every leaf of the whole path")


def _verify(engine: Engine, settings: Settings, now: dt.datetime) -> StageResult:
    """What ``licreg verify --registry`` does: every license, plus the log reconciliation."""
    at = now + dt.timedelta(seconds=1)
    start = time.perf_counter()
    audit = audit_registry(engine, anchors=[load_root_cert(settings.keystore)], at=at,
                           crls=load_crls(settings.keystore))
    seconds = time.perf_counter() - start
    passed = sum(r.indication == "PASSED" for r in audit.reports)
    return StageResult("verify (registry audit)", audit.licenses, seconds,
                       f"{passed} PASSED; log reconciled")


def _pdf(engine: Engine, settings: Settings, now: dt.datetime, n: int) -> StageResult:
    """Sealed PDF renditions (render, PAdES-sign, store) of the first ``n`` licenses."""
    report = render_pending(engine, settings, at=now, limit=n)
    return StageResult("PDF rendition + signature", report.rendered,
                       report.seconds - report.startup_seconds,
                       f"first {n}; worker start-up {report.startup_seconds:.1f} s not counted")
