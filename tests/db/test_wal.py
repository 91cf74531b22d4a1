"""The SQLite write-ahead log is started again from its beginning while chunks are committed
(registry.db.restart_wal), so a long ingest does not grow it without end."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from registry import db
from registry.config import Settings
from registry.db import WalRestarts, make_engine, restart_wal
from tests.support.batches import ingest, row, write_csv

PAGE = 4096


def _wal_frames(engine: Engine) -> int:
    """Frames in the log now (a PASSIVE checkpoint reports them and waits for nobody)."""
    with engine.connect() as conn:
        return conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()[1]


def _write(engine: Engine, pages: int) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t (blob) VALUES (zeroblob(?))", (pages * PAGE,))


@pytest.fixture
def wal_db(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, blob BLOB)")
    return engine


def test_restart_starts_the_log_from_its_beginning(wal_db: Engine) -> None:
    for _ in range(20):
        _write(wal_db, 10)  # 200+ frames, below SQLite's own 1,000-frame checkpoint
    assert _wal_frames(wal_db) > 200
    assert restart_wal(wal_db) is True
    _write(wal_db, 1)
    assert _wal_frames(wal_db) < 10  # the next write started the log again


def test_a_reader_on_an_older_snapshot_holds_the_log_and_is_waited_for(wal_db: Engine) -> None:
    _write(wal_db, 5)
    reader = wal_db.connect()
    reader.exec_driver_sql("BEGIN")
    reader.exec_driver_sql("SELECT count(*) FROM t").one()  # holds this snapshot
    _write(wal_db, 5)
    started = time.monotonic()
    assert restart_wal(wal_db, wait_ms=300) is False
    assert time.monotonic() - started >= 0.25
    reader.rollback()
    reader.close()
    assert restart_wal(wal_db) is True
    with wal_db.connect() as conn:  # the connection's usual patience is back
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.BUSY_TIMEOUT_MS


def test_restarts_back_off_while_they_fail(monkeypatch: pytest.MonkeyPatch,
                                           wal_db: Engine) -> None:
    outcomes = itertools.chain([False] * 4, itertools.repeat(True))
    tried: list[int] = []
    monkeypatch.setattr(db, "restart_wal", lambda engine: next(outcomes))
    restarts = WalRestarts(wal_db)
    for chunk in range(1, 35):
        before = restarts.countdown
        restarts.chunk_committed()
        if before == 1:
            tried.append(chunk)
    # Fails at 1, 3, 7, 15 (gaps 2, 4, 8, 16), succeeds at 31, then every chunk again.
    assert tried[:7] == [1, 3, 7, 15, 31, 32, 33]


def test_postgresql_has_nothing_to_restart() -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none")  # never connected
    assert restart_wal(engine) is False


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_parallel_ingest_restarts_the_log_after_each_chunk(
        monkeypatch: pytest.MonkeyPatch, world: Engine, settings: Settings,
        tmp_path: Path) -> None:
    restarted: list[bool] = []

    def spy(engine: Engine, **kw: int) -> bool:
        restarted.append(restart_wal(engine, **kw))
        return restarted[-1]

    monkeypatch.setattr(db, "restart_wal", spy)
    path = write_csv(tmp_path / "b.csv", *(row(n) for n in range(1, 41)))
    report = ingest(world, settings, path, chunk_rows=5, workers=2)
    assert report.accepted == 40
    assert len(restarted) == 8 and any(restarted)
    assert _wal_frames(world) < 200
