"""Concurrent ingests of overlapping files (issue 17): two runs at once, each on its own
engine, that share 证照编号 with different bytes never crash, and the registry ends as one of
the two sequential runs would leave it, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import OperationalError

from registry.batch.chunks import plan_chunk, run_job, store_chunk
from registry.batch.reports import batch_rows
from registry.batch.run import BatchReport, iter_chunks, open_batch
from registry.city.demo import MARKET
from registry.config import Settings
from registry.db import lock_key, make_engine, session_scope
from registry.db.models import License
from registry.license.issue import lock_type
from registry.license.types import catalogue
from tests.conftest import NOW, PASSPHRASE, TODAY
from tests.support.batches import BIZ, ingest, row, write_csv

ROWS = 32
"""Rows per file; the second half of the first file's numbers are the first half of the
second's, every other one with a different 注册资本 (a 变更), the rest identical."""

History = tuple[tuple[str, str, str], ...]
"""A license number's versions: (version, status, 注册资本) each, oldest first."""


def _files(folder: Path, base: int) -> tuple[Path, Path]:
    folder.mkdir()
    half = ROWS // 2
    first = write_csv(folder / "a.csv", *(row(base + n) for n in range(ROWS)))
    second = write_csv(folder / "b.csv", *(
        row(base + n, capital="200万元" if n % 2 else "100万元")
        for n in range(half, half + ROWS)))
    return first, second


def _histories(engine: Engine, base: int) -> dict[int, History]:
    """Offset within the round → its versions, for the numbers of one round."""
    found: dict[int, list[tuple[str, str, str]]] = {}
    with session_scope(engine) as session:
        for number, version, status, record in session.execute(
                select(License.number, License.version, License.status, License.record)
                .order_by(License.number, License.version)):
            n = int(number[-5:]) - base
            if 0 <= n < 2 * ROWS:
                found.setdefault(n, []).append(
                    (version, status, json.loads(record)["KZ_ZCZB"]))
    return {n: tuple(h) for n, h in found.items()}


def _sequential(engine: Engine, settings: Settings, tmp_path: Path, base: int,
                order: tuple[int, int]) -> dict[int, History]:
    files = _files(tmp_path / f"seq{base}", base)
    for i in order:
        assert ingest(engine, settings, files[i]).status == "done"
    return _histories(engine, base)


def _at_once(settings: Settings, files: tuple[Path, Path], **kw: int) -> list[BatchReport]:
    """Both files ingested at the same moment by two threads, each on its own engine."""
    start = threading.Barrier(2)

    def run(path: Path) -> BatchReport:
        engine = make_engine(settings.database_url)
        try:
            start.wait()
            return ingest(engine, settings, path, **{"workers": 1, **kw})
        finally:
            engine.dispose()

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(run, files))  # re-raises the error of either run


def test_overlapping_ingests_at_once_end_as_a_sequential_run(
        world: Engine, settings: Settings, tmp_path: Path) -> None:
    expected = [_sequential(world, settings, tmp_path, 0, (0, 1)),
                _sequential(world, settings, tmp_path, 1000, (1, 0))]
    assert expected[0] != expected[1]  # the two orders leave different histories
    assert sum(len(h) == 2 for h in expected[0].values()) == ROWS // 4  # the 变更 ones
    for base in (2000, 3000, 4000):
        reports = _at_once(settings, _files(tmp_path / f"round{base}", base))
        assert [r.status for r in reports] == ["done", "done"]
        assert sum(r.issued for r in reports) == sum(len(h) for h in expected[0].values())
        assert _histories(world, base) in expected


def test_overlapping_ingests_in_worker_processes_end_as_sequential_runs(
        world: Engine, settings: Settings, tmp_path: Path) -> None:
    """Chunks of 8 rows sealed and stored by two worker processes per run: each pair of
    overlapping chunks ends as one order or the other would leave it."""
    expected = [_sequential(world, settings, tmp_path, 0, (0, 1)),
                _sequential(world, settings, tmp_path, 1000, (1, 0))]
    for base in (2000, 3000):
        reports = _at_once(settings, _files(tmp_path / f"round{base}", base), workers=2,
                           chunk_rows=8)
        assert [r.status for r in reports] == ["done", "done"]
        got = _histories(world, base)
        assert got.keys() == expected[0].keys()
        for first in range(0, len(got), 8):  # one chunk of each file
            chunk = range(first, first + 8)
            assert {n: got[n] for n in chunk} in [{n: e[n] for n in chunk} for e in expected]


def test_two_licreg_ingest_processes_at_once_both_succeed_without_a_traceback(
        world: Engine, settings: Settings, tmp_path: Path) -> None:
    """What the clerk runs: two ``licreg ingest`` commands started together."""
    expected = [_sequential(world, settings, tmp_path, 0, (0, 1)),
                _sequential(world, settings, tmp_path, 1000, (1, 0))]
    env = {k: v for k, v in os.environ.items() if k != "LICREG_TRACEBACK"}
    env |= {"LICREG_HOME": str(settings.home), "LICREG_DATABASE_URL": settings.database_url,
            "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode(), "LICREG_LANG": "en"}
    runs = [subprocess.Popen(
        [sys.executable, "-m", "registry.cli", "ingest", str(path), "--department",
         MARKET.uscc, "--type", BIZ, "--json"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        for path in _files(tmp_path / "cli", 2000)]
    said = [run.communicate(timeout=300) for run in runs]
    assert [(run.returncode, err) for run, (_out, err) in zip(runs, said, strict=True)] == [
        (0, ""), (0, "")]
    assert [json.loads(out)["status"] for out, _err in said] == ["done", "done"]
    assert _histories(world, 2000) in expected


def test_a_chunk_planned_before_another_batch_stored_is_judged_after_it(
        world: Engine, settings: Settings, tmp_path: Path) -> None:
    """The interleaving the threads above hit by chance, forced: both chunks planned against
    an empty registry, then stored one after the other."""
    files = _files(tmp_path / "forced", 0)
    jobs = []
    for path in files:
        with session_scope(world) as session:
            report = open_batch(session, settings, path, department_uscc=MARKET.uscc,
                                type_code=BIZ, uploader="clerk", at=NOW)
        (chunk,) = iter_chunks(settings, report, catalogue()[BIZ], chunk_rows=1000)
        with session_scope(world) as session:
            job = plan_chunk(session, settings, report.batch_id, chunk, today=TODAY, at=NOW)
        assert job is not None and not job.existing
        jobs.append((report.batch_id, job))
    for _batch_id, job in jobs:
        with session_scope(world) as session:
            store_chunk(session, job, run_job(job))
    assert _histories(world, 0) == _sequential(world, settings, tmp_path, 1000, (0, 1))
    with session_scope(world) as session:
        second = list(batch_rows(session, jobs[1][0]))
        registered = set(session.scalars(select(License.identifier)))
    notes = [r.reasons[0]["code"] for r in second if r.reasons]
    assert notes.count("UNCHANGED") == notes.count("CHANGED") == ROWS // 4
    assert all(r.identifier in registered for r in second)


def test_the_type_lock_is_held_until_the_transaction_ends(engine: Engine,
                                                          settings: Settings) -> None:
    """While one transaction holds a type's lock another cannot take it (PostgreSQL: the
    advisory lock is taken; SQLite: the write lock is), and it is free after the commit."""
    other = make_engine(settings.database_url)
    key = lock_key(f"licenses\x1f{BIZ}")

    def free() -> bool:
        """Whether ``other`` can take the lock now (SQLite: raises when it cannot)."""
        with other.connect() as conn:
            if other.dialect.name == "postgresql":
                return bool(conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                         {"k": key}).scalar_one())
            conn.exec_driver_sql("PRAGMA busy_timeout=0")
            conn.exec_driver_sql("DELETE FROM licenses WHERE 0")
            return True

    try:
        with session_scope(engine) as session:
            lock_type(session, BIZ)
            if other.dialect.name == "postgresql":
                assert not free()
            else:
                with pytest.raises(OperationalError, match="database is locked"):
                    free()
        assert free()
    finally:
        other.dispose()
