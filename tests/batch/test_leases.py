"""Batch leases: two runs handed the same file never both work on it (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from registry.batch import leases
from registry.batch.leases import LEASE, claim_batch
from registry.batch.run import open_batch
from registry.city.demo import MARKET
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import Batch, License, StoredFile
from registry.errors import BatchBusyError
from tests.conftest import NOW
from tests.support.batches import BIZ, ingest, ingest_interrupted, row, write_csv


def _open(engine: Engine, settings: Settings, path: Path, runner: str) -> int:
    with session_scope(engine) as s:
        return open_batch(s, settings, path, department_uscc=MARKET.uscc, type_code=BIZ,
                          uploader="clerk", at=NOW, runner=runner).batch_id


def _lease(engine: Engine, batch_id: int) -> tuple[str | None, dt.datetime | None]:
    with session_scope(engine) as s:
        b = s.get_one(Batch, batch_id)
        return b.leased_by, b.lease_until


def test_a_second_run_is_refused_until_the_first_releases_or_lapses(
        world: Engine, settings: Settings, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "b.csv", row(1), row(2))
    batch_id = _open(world, settings, f, "worker-a:1")
    holder, until = _lease(world, batch_id)
    assert holder == "worker-a:1" and until is not None
    with pytest.raises(BatchBusyError, match=r"batch \d+ is being ingested by worker-a:1"):
        _open(world, settings, f, "worker-b:2")
    assert _open(world, settings, f, "worker-a:1") == batch_id  # its own claim: renewed

    # A run that died leaves its lease; once it lapses, another run takes the batch over.
    with session_scope(world) as s:
        claim_batch(s, batch_id, "worker-b:2", at=until + dt.timedelta(seconds=1))
    assert _lease(world, batch_id)[0] == "worker-b:2"


def test_finishing_releases_the_lease(world: Engine, settings: Settings, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "b.csv", row(1), row(2))
    report = ingest(world, settings, f)
    assert report.status == "done"
    assert _lease(world, report.batch_id) == (None, None)
    # Done is done, whoever asks: no claim, nothing new.
    with session_scope(world) as s:
        again = open_batch(s, settings, f, department_uscc=MARKET.uscc, type_code=BIZ,
                           uploader="clerk", at=NOW, runner="someone-else")
    assert again.already_ingested


def test_an_interrupted_ingest_releases_its_lease_so_a_rerun_resumes_at_once(
        world: Engine, settings: Settings, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    f = write_csv(tmp_path / "b.csv", *(row(i) for i in range(1, 6)))
    ingest_interrupted(world, settings, f, monkeypatch)
    with session_scope(world) as s:
        batch_id = s.scalars(select(Batch.id)).one()
    assert _lease(world, batch_id) == (None, None)
    assert _open(world, settings, f, "another-run:9") == batch_id  # not busy


def test_renewal_keeps_a_long_run_ahead_of_its_lease(world: Engine, settings: Settings,
                                                     tmp_path: Path) -> None:
    f = write_csv(tmp_path / "b.csv", row(1))
    batch_id = _open(world, settings, f, "worker-a:1")
    later = dt.datetime.now(dt.UTC) + LEASE * 0.75  # more than half of the lease spent
    with session_scope(world) as s:
        leases.renew_batch(s, s.get_one(Batch, batch_id), at=later)
    assert _lease(world, batch_id)[1] == later + LEASE


def test_two_runs_opening_the_same_file_at_once_make_one_batch(
        world: Engine, settings: Settings, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "b.csv", row(1), row(2), row(3))
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def run(name: str) -> None:
        start.wait()
        try:
            outcomes[name] = _open(world, settings, f, name)
        except BatchBusyError as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in ("run-a", "run-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = [v for v in outcomes.values() if isinstance(v, int)]
    busy = [v for v in outcomes.values() if isinstance(v, BatchBusyError)]
    assert len(ids) == 1 and len(busy) == 1, outcomes
    assert busy[0].batch_id == ids[0]
    with session_scope(world) as s:
        assert s.scalar(select(func.count()).select_from(Batch)) == 1
        assert s.scalar(select(func.count()).select_from(StoredFile)) == 1
        assert s.scalar(select(func.count()).select_from(License)) == 0


def test_a_dead_holder_on_this_host_is_taken_over_at_once_elsewhere_after_expiry(
        world: Engine, settings: Settings, tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = f"{socket.gethostname()}:{gone.stdout.strip()}"  # exited and reaped
    f = write_csv(tmp_path / "b.csv", row(1))
    batch_id = _open(world, settings, f, dead)
    assert _open(world, settings, f, "runner-b:2") == batch_id  # not busy: taken over
    assert _lease(world, batch_id)[0] == "runner-b:2"
    # A holder of this host that lives, or of another host, is waited for.
    alive = f"{socket.gethostname()}:{os.getpid()}"
    with session_scope(world) as s:
        s.get_one(Batch, batch_id).leased_by = alive
    with pytest.raises(BatchBusyError):
        _open(world, settings, f, "runner-c:3")
    with session_scope(world) as s:
        s.get_one(Batch, batch_id).leased_by = f"another-host:{gone.stdout.strip()}"
    with pytest.raises(BatchBusyError):
        _open(world, settings, f, "runner-c:3")
    # A flow run's holder names its process first: a dead one is taken over at once too.
    with session_scope(world) as s:
        s.get_one(Batch, batch_id).leased_by = f"{dead} (flow run 0b5e…)"
    assert _open(world, settings, f, "runner-d:4") == batch_id
    assert _lease(world, batch_id)[0] == "runner-d:4"
