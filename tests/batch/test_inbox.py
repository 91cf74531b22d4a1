"""Department inboxes: files dropped in folders are taken once, ingested, archived, reported."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from registry.batch.inbox import (
    PROCESSING,
    InboxFile,
    InboxOutcome,
    drain,
    prepare_inbox,
    recover_stale_claims,
)
from registry.batch.leases import claim_batch
from registry.batch.run import BatchReport, ingest_file
from registry.city.demo import HEALTH, MARKET
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import Batch, License
from tests.conftest import FIXTURES, NOW, PASSPHRASE, TODAY
from tests.support.batches import BIZ, row, write_csv

DAY = "2026-11-27"  # NOW in China


def _drain(engine: Engine, settings: Settings, root: Path, **kw: object) -> list[InboxOutcome]:
    def ingest(file: InboxFile) -> BatchReport:
        return ingest_file(engine, settings, file.path, department_uscc=file.department,
                           type_code=file.type_code, uploader="inbox", at=NOW, today=TODAY,
                           workers=1)

    return drain(root / "inbox", root / "archive", ingest, lambda: session_scope(engine),
                 at=lambda: NOW, settle=kw.pop("settle", 0.0))  # type: ignore[arg-type]


def _drop(root: Path, dept: str, type_code: str, name: str, *rows: str) -> Path:
    folder = root / "inbox" / dept / type_code
    folder.mkdir(parents=True, exist_ok=True)
    return write_csv(folder / name, *rows)


def _batches(engine: Engine) -> int:
    with session_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(Batch)) or 0


def test_prepare_makes_a_folder_per_department_and_type(world: Engine, tmp_path: Path) -> None:
    with session_scope(world) as s:
        made = prepare_inbox(s, tmp_path / "inbox")
        assert prepare_inbox(s, tmp_path / "inbox") == []  # idempotent
    assert sorted(str(p.relative_to(tmp_path / "inbox")) for p in made) == [
        f"{MARKET.uscc}/11100000MB0143028R001", f"{MARKET.uscc}/11100000MB0143028R002",
        f"{HEALTH.uscc}/11100000MB15645531001"]


def test_files_are_taken_once_archived_and_reported(world: Engine, settings: Settings,
                                                    tmp_path: Path) -> None:
    good = _drop(tmp_path, MARKET.uscc, BIZ, "good.csv", row(1), row(2))
    mixed = _drop(tmp_path, MARKET.uscc, BIZ, "mixed.csv", row(3), row(4, end="2020-01-01"),
                  row(5, code="91330100MA0000000X"))
    partial = _drop(tmp_path, MARKET.uscc, BIZ, "upload.csv.part", row(6))
    old = time.time() - 60
    for f in (good, mixed):
        os.utime(f, (old, old))
    fresh = _drop(tmp_path, MARKET.uscc, BIZ, "still-copying.csv", row(7))

    outcomes = _drain(world, settings, tmp_path, settle=30.0)

    assert [(o.file.name, o.status) for o in outcomes] == [("good.csv", "done"),
                                                           ("mixed.csv", "done")]
    archive = tmp_path / "archive" / MARKET.uscc / BIZ / DAY
    assert sorted(p.name for p in archive.iterdir()) == [
        "good.csv", "good.csv.report.json", "mixed.csv", "mixed.csv.rejects.csv",
        "mixed.csv.report.json"]
    report = json.loads((archive / "mixed.csv.report.json").read_text(encoding="utf-8"))
    assert (report["rows_read"], report["accepted"], report["rejected"]) == (3, 1, 2)
    assert report["file"] == "mixed.csv" and sum(report["reasons"].values()) >= 2
    rejects = (archive / "mixed.csv.rejects.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(rejects) == 3 and rejects[1].startswith('3,"mixed.csv, line 3",rejected,DATE_ORDER')
    assert partial.exists() and fresh.exists() and not good.exists() and not mixed.exists()

    assert _drain(world, settings, tmp_path, settle=30.0) == []  # nothing new waits
    again = _drop(tmp_path, MARKET.uscc, BIZ, "good.csv", row(1), row(2))  # same bytes again
    later = {o.file.name: o for o in _drain(world, settings, tmp_path)}
    assert sorted(later) == ["good.csv", "still-copying.csv"]  # now settled
    assert later["good.csv"].report["already_ingested"]
    assert later["good.csv"].report["batch_id"] == outcomes[0].report["batch_id"]
    assert (archive / "good (2).csv").exists() and not again.exists()
    assert _batches(world) == 3  # good, mixed, still-copying


def test_a_folder_naming_no_type_of_the_department_is_refused_and_archived(
        world: Engine, settings: Settings, tmp_path: Path) -> None:
    _drop(tmp_path, HEALTH.uscc, BIZ, "wrong-place.csv", row(1))
    (outcome,) = _drain(world, settings, tmp_path)
    assert outcome.status == "refused" and "does not issue license type" in outcome.report["error"]
    assert outcome.archived is not None and outcome.archived.exists()
    assert json.loads(outcome.archived.with_name("wrong-place.csv.report.json")
                      .read_text(encoding="utf-8"))["status"] == "refused"
    assert _batches(world) == 0


def test_an_unreadable_file_is_archived_with_its_failed_batch(world: Engine, settings: Settings,
                                                              tmp_path: Path) -> None:
    folder = tmp_path / "inbox" / MARKET.uscc / BIZ
    folder.mkdir(parents=True)
    shutil.copy(FIXTURES / "bad" / "traversal.zip", folder)
    (outcome,) = _drain(world, settings, tmp_path)
    assert outcome.status == "failed" and "path traversal" in outcome.report["error"]
    assert outcome.report["batch_id"] and outcome.archived is not None


def test_a_file_another_run_is_ingesting_goes_back_to_the_inbox(
        world: Engine, settings: Settings, tmp_path: Path) -> None:
    f = _drop(tmp_path, MARKET.uscc, BIZ, "b.csv", row(1))
    copy = tmp_path / "elsewhere.csv"
    shutil.copy(f, copy)
    from registry.batch.run import open_batch

    with session_scope(world) as s:  # a clerk's run has the same bytes open
        opened = open_batch(s, settings, copy, department_uscc=MARKET.uscc, type_code=BIZ,
                            uploader="clerk", at=NOW, runner="clerk-laptop:7")
        claim_batch(s, opened.batch_id, "clerk-laptop:7")
    (outcome,) = _drain(world, settings, tmp_path)
    assert outcome.status == "busy" and "clerk-laptop:7" in outcome.report["error"]
    assert f.exists() and outcome.archived is None
    assert not any((f.parent / PROCESSING).iterdir())


def test_a_claim_left_by_a_dead_run_goes_back_to_the_inbox(tmp_path: Path) -> None:
    run_dir = tmp_path / "inbox" / MARKET.uscc / BIZ / PROCESSING / "deadbeef"
    run_dir.mkdir(parents=True)
    (run_dir / "b.csv").write_text("x", encoding="utf-8")
    assert recover_stale_claims(tmp_path / "inbox") == []  # a live run's claim stays
    old = time.time() - 2 * 3600
    os.utime(run_dir, (old, old))
    assert recover_stale_claims(tmp_path / "inbox") == [
        tmp_path / "inbox" / MARKET.uscc / BIZ / "b.csv"]
    assert (tmp_path / "inbox" / MARKET.uscc / BIZ / "b.csv").read_text(encoding="utf-8") == "x"


def test_two_runs_draining_one_inbox_take_each_file_once(world: Engine, settings: Settings,
                                                         tmp_path: Path) -> None:
    for n in range(6):
        _drop(tmp_path, MARKET.uscc, BIZ, f"f{n}.csv", row(10 * n + 1), row(10 * n + 2))
    results: list[list[InboxOutcome]] = []
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        results.append(_drain(world, settings, tmp_path))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    taken = sorted(o.file.name for r in results for o in r)
    assert taken == [f"f{n}.csv" for n in range(6)]
    assert all(o.status == "done" for r in results for o in r)
    assert _batches(world) == 6
    with session_scope(world) as s:
        assert s.scalar(select(func.count()).select_from(License)) == 12


def test_cli_prepares_and_runs_the_inbox(world: Engine, settings: Settings, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from registry.cli import cli

    monkeypatch.setenv("LICREG_INBOX", str(tmp_path / "inbox"))
    monkeypatch.setenv("LICREG_ARCHIVE", str(tmp_path / "archive"))
    runner = CliRunner(env={"LICREG_HOME": str(settings.home),
                            "LICREG_DATABASE_URL": settings.database_url,
                            "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode()})
    prepared = runner.invoke(cli, ["inbox", "prepare"])
    assert prepared.exit_code == 0, prepared.output
    assert "3 new folders" in prepared.output
    _drop(tmp_path, MARKET.uscc, BIZ, "b.csv", row(1), row(2, end="2020-01-01"))
    result = runner.invoke(cli, ["inbox", "run", "--settle", "0"])
    assert result.exit_code == 0, result.output
    assert (f"done     {MARKET.uscc}/{BIZ}/b.csv: rows 2: accepted 1, filtered 0, rejected 1 "
            f"→ archive/{MARKET.uscc}/{BIZ}/") in result.output
