"""A failed batch can be retried, and no batch is left running (registry.batch.run), on SQLite
and PostgreSQL: the read options are part of what identifies a batch; whatever stops a run
(a file error, a keystore error, an unexpected exception, an interruption) ends it failed
with the reason, its claim released, and the same command run again resumes it."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from registry.batch import run as batch_run
from registry.batch.reports import batch_detail, list_batches
from registry.batch.run import retry_batch
from registry.cli import cli
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import Batch, License
from registry.errors import BatchFailedError, IngestError, RegistryError
from registry.ingest.frames import ReadOptions
from tests.conftest import NOW
from tests.support.batches import HEADER, count, ingest, ingest_interrupted, row, write_csv


def _titled(path: Path) -> Path:
    """A CSV with a title line above its header: read as is, its header is the title."""
    return write_csv(path, row(1), row(2), header="示范市市场监督管理局 存量证照\n" + HEADER)


def _batch(engine: Engine, batch_id: int) -> Batch:
    with session_scope(engine) as s:
        b = s.get_one(Batch, batch_id)
        s.expunge(b)
        return b


def test_a_failed_batch_succeeds_with_the_options_it_lacked(world: Engine, settings: Settings,
                                                           tmp_path: Path) -> None:
    f = _titled(tmp_path / "b.csv")
    with pytest.raises(BatchFailedError, match="missing required column") as failed:
        ingest(world, settings, f)
    with pytest.raises(BatchFailedError) as again:  # the same way again: the same batch
        ingest(world, settings, f)
    assert again.value.batch_id == failed.value.batch_id
    copy = f.rename(tmp_path / "renamed.csv")  # a renamed copy, read with the header row
    done = ingest(world, settings, copy, options=ReadOptions(header_row=2))
    assert done.status == "done" and done.batch_id != failed.value.batch_id
    assert (done.rows_read, done.accepted) == (2, 2)
    assert ingest(world, settings, copy, options=ReadOptions(header_row=2)).already_ingested
    with session_scope(world) as s:
        assert [(b.batch_id, b.status) for b in list_batches(s)] == [
            (done.batch_id, "done"), (failed.value.batch_id, "failed")]
        assert batch_detail(s, done.batch_id).attempts == ((failed.value.batch_id, "failed"),)
    assert count(world, License) == 2


def test_batch_retry_reads_the_stored_file_with_the_options_given(
        world: Engine, settings: Settings, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    f = _titled(tmp_path / "b.csv")
    with pytest.raises(BatchFailedError) as failed:
        ingest(world, settings, f)
    f.unlink()  # the clerk's copy is gone: the registry kept the bytes
    for name, value in (("LICREG_HOME", str(settings.home)),
                        ("LICREG_DATABASE_URL", settings.database_url),
                        ("LICREG_KEY_PASSPHRASE", (settings.passphrase or b"").decode())):
        monkeypatch.setenv(name, value)
    out = CliRunner().invoke(cli, ["--lang", "en", "batch", "retry",
                                   str(failed.value.batch_id), "--header-row", "2", "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert (report["status"], report["accepted"], report["file"]) == ("done", 2, "b.csv")
    shown = CliRunner().invoke(cli, ["--lang", "en", "batch", "show", str(report["batch_id"])])
    assert f"other attempts at the same file: batch {failed.value.batch_id} (failed)" \
        in shown.stdout
    with pytest.raises(IngestError, match="is done: there is nothing to retry"):
        retry_batch(world, settings, report["batch_id"], at=NOW)


def test_a_wrong_passphrase_fails_the_batch_and_the_right_one_resumes_it(
        world: Engine, settings: Settings, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "b.csv", row(1), row(2))
    wrong = dataclasses.replace(settings, passphrase=b"not the passphrase")
    with pytest.raises(Exception) as failed:  # noqa: PT011 - the keystore's own error
        ingest(world, wrong, f)
    with session_scope(world) as s:
        (b,) = list_batches(s)
    assert b.status == "failed" and b.error == str(failed.value)
    assert "Traceback" not in (b.error or "")
    resumed = ingest(world, settings, f)
    assert (resumed.batch_id, resumed.status, resumed.accepted) == (b.batch_id, "done", 2)
    with session_scope(world) as s:
        assert batch_detail(s, b.batch_id).earlier_errors == (b.error,)


def test_a_header_only_file_ends_and_is_not_left_running(world: Engine, settings: Settings,
                                                         tmp_path: Path) -> None:
    f = write_csv(tmp_path / "empty.csv")
    try:
        report = ingest(world, settings, f)
        batch_id, status = report.batch_id, report.status
    except BatchFailedError as exc:  # a reader may call it an error: then it says so
        batch_id, status = exc.batch_id, "failed"
    b = _batch(world, batch_id)
    assert (b.status, b.leased_by, b.rows_read) == (status, None, 0) and status != "running"


def test_a_lone_surrogate_among_rows_ends_the_batch(world: Engine, settings: Settings,
                                                    tmp_path: Path) -> None:
    good = {k: v for k, v in zip(HEADER.split(","), row(1).split(","), strict=True)}
    bad = {**dict(zip(HEADER.split(","), row(2).split(","), strict=True)), "持证主体": "\ud800"}
    f = tmp_path / "rows.json"
    f.write_text(json.dumps([good, bad]), encoding="ascii")  # \ud800 stays an escape
    with contextlib.suppress(RegistryError):  # a reader or the sealing may refuse it: said
        ingest(world, settings, f)
    with session_scope(world) as s:
        (b,) = list_batches(s)
    assert b.status in ("done", "failed") and _batch(world, b.batch_id).leased_by is None
    assert "Traceback" not in (b.error or "")


def test_an_unexpected_error_is_logged_under_an_id_and_fails_the_batch(
        world: Engine, settings: Settings, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    f = write_csv(tmp_path / "b.csv", row(1), row(2))

    def broken(*_args: object, **_kw: object) -> None:
        raise ValueError("cannot convert float NaN to integer 9133010 张三")

    with monkeypatch.context() as m:
        m.setattr(batch_run, "process_chunks", broken)
        with pytest.raises(BatchFailedError, match=r"unexpected error (\w{8}) \(ValueError\)"):
            ingest(world, settings, f)
    with session_scope(world) as s:
        (b,) = list_batches(s)
    assert b.status == "failed" and "张三" not in (b.error or "")
    error_id = (b.error or "").split()[2]
    log = (settings.home / "logs" / "errors.log").read_text("utf-8")
    assert f"== {error_id} " in log and "ValueError" in log and "张三" not in log
    assert _batch(world, b.batch_id).leased_by is None
    assert ingest(world, settings, f).status == "done"  # the same command again: resumed


def test_an_interruption_fails_the_batch_and_a_rerun_resumes_it(
        world: Engine, settings: Settings, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    f = write_csv(tmp_path / "b.csv", row(1))
    ingest_interrupted(world, settings, f, monkeypatch)
    with session_scope(world) as s:
        (b,) = list_batches(s)
    assert b.status == "failed" and "interrupted (KeyboardInterrupt)" in (b.error or "")
    assert ingest(world, settings, f).batch_id == b.batch_id
