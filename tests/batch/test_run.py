"""Ingesting department files into the registry (registry.batch.run), on SQLite and PostgreSQL:
rows accepted, filtered or rejected and all kept, new versions, resuming after a crash, PDFs,
archives and folders, progress, the uploader."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from registry.batch.reports import batch_detail, batch_rows, row_outcomes
from registry.batch.run import IngestProgress, ingest_file, iter_chunks, open_batch
from registry.city.demo import HEALTH, MARKET
from registry.cli import cli
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import (
    Batch,
    Department,
    DepartmentType,
    License,
    OutboxEvent,
    SealAuthorization,
    SourceRow,
    StoredFile,
)
from registry.errors import IngestError, NotAuthorizedError
from registry.ingest.frames import ReadOptions
from registry.license.types import catalogue
from registry.tlog.leaves import parse_leaf
from registry.tlog.models import LogLeaf
from tests.conftest import FIXTURES, NOW, TODAY
from tests.support.batches import (
    BIZ,
    HEADER,
    count,
    holder,
    ingest,
    ingest_typed,
    process_chunk,
    row,
    write_csv,
)
from tests.support.ingest import CASES as M

BAD, FORMATS = FIXTURES / "bad", FIXTURES / "formats"


def test_rows_are_accepted_filtered_or_rejected_and_all_kept(world: Engine, settings: Settings,
                                                             tmp_path: Path) -> None:
    bad_code = holder(4)[:-1] + ("0" if holder(4)[-1] != "0" else "1")
    f = write_csv(tmp_path / "b.csv", row(1), row(2, end="2030-12-31"), row(3, end="2025-01-01"),
                  row(4, code=bad_code), row(5, classified="是"))
    report = ingest(world, settings, f)
    assert (report.rows_read, report.accepted, report.filtered, report.rejected) == (5, 2, 2, 1)
    with session_scope(world) as s:
        rows = row_outcomes(s, report.batch_id)
        assert [r["outcome"] for r in rows] == ["accepted", "accepted", "filtered", "rejected",
                                                "filtered"]
        assert [r["line"] for r in rows] == [2, 3, 4, 5, 6]
        assert rows[2]["reasons"][0]["code"] == "EXPIRED"
        assert rows[3]["reasons"][0]["code"] == "BAD_HOLDER_CODE"
        assert rows[4]["reasons"][0]["code"] == "CLASSIFIED"
        lic = s.scalar(select(License).where(License.identifier == rows[0]["identifier"]))
        assert lic is not None and lic.status == "VALID"
        elements = json.loads(lic.record)
        assert elements["ZZBS"] == lic.identifier and elements["KZ_CLRQ"] == "20200301"
        raw = s.get(SourceRow, (report.batch_id, 5))
        assert raw is not None and raw.raw["持证主体代码"] == bad_code  # kept verbatim
    assert count(world, OutboxEvent) == 2


def test_same_bytes_twice_is_a_no_op(world: Engine, settings: Settings, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "b.csv", row(1), row(2))
    first = ingest(world, settings, f)
    again = ingest(world, settings, f)
    assert again.already_ingested and again.batch_id == first.batch_id
    assert count(world, License) == 2 and count(world, Batch) == 1
    stored = list(settings.files.rglob("*.csv"))
    assert len(stored) == 1 and stored[0].read_bytes() == f.read_bytes()


def test_changed_row_is_a_new_version_and_identical_row_a_no_op(world: Engine,
                                                                 settings: Settings,
                                                                 tmp_path: Path) -> None:
    ingest(world, settings, write_csv(tmp_path / "a.csv", row(1), row(2)))
    report = ingest(world, settings, write_csv(tmp_path / "b.csv", row(1, capital="500万元"),
                                               row(2), row(3)))
    assert report.accepted == 3
    with session_scope(world) as s:
        outcomes = row_outcomes(s, report.batch_id)
        assert outcomes[0]["reasons"][0]["code"] == "CHANGED"
        assert outcomes[1]["reasons"][0]["code"] == "UNCHANGED"
        versions = s.scalars(select(License).where(License.number == "330100000000001")
                             .order_by(License.version)).all()
        assert [v.version for v in versions] == ["001", "002"]
        assert versions[1].predecessor == versions[0].identifier
        assert versions[0].status == "SUPERSEDED"
        ops = s.scalars(select(OutboxEvent.operate_type).order_by(OutboxEvent.id)).all()
        assert ops == ["01", "01", "09", "01"]
    assert count(world, License) == 4


def test_each_event_names_the_license_its_leaf_names(world: Engine, settings: Settings,
                                                     tmp_path: Path) -> None:
    """The ids of a chunk's licenses come back without looking each one up (SQLite): every
    outbox row must still point at the license its log leaf is about. In this process: chunks
    committed at once by worker processes may interleave their outbox and leaf ids (PostgreSQL),
    which is allowed; within a chunk the order is the licenses'."""
    ingest(world, settings, write_csv(tmp_path / "a.csv", *(row(n) for n in range(1, 8))),
           chunk_rows=3, workers=1)
    ingest(world, settings, write_csv(tmp_path / "b.csv", row(2, capital="9万元"),
                                      *(row(n) for n in range(8, 12))), chunk_rows=2, workers=1)
    with session_scope(world) as s:
        pushed = s.execute(select(License.identifier).join(
            OutboxEvent, OutboxEvent.license_id == License.id).order_by(OutboxEvent.id)).all()
        leaves = [parse_leaf(d) for d in s.scalars(select(LogLeaf.data).order_by(LogLeaf.id))]
    logged = [leaf.identifier for leaf in leaves if leaf.status != "SUPERSEDED"]  # not pushed
    assert [i for (i,) in pushed] == logged and len(logged) == 12


def test_interrupted_batch_resumes_without_duplicates(world: Engine, settings: Settings,
                                                      tmp_path: Path) -> None:
    f = write_csv(tmp_path / "b.csv", *(row(i) for i in range(1, 8)))
    with session_scope(world) as s:
        opened = open_batch(s, settings, f, department_uscc=MARKET.uscc, type_code=BIZ,
                            uploader="clerk", at=NOW)
    first_chunk = next(iter_chunks(settings, opened, catalogue()[BIZ], chunk_rows=3))
    with session_scope(world) as s:  # the run "crashes" after committing one chunk
        process_chunk(s, settings, opened.batch_id, first_chunk, today=TODAY, at=NOW)
    report = ingest(world, settings, f, chunk_rows=3)
    assert (report.rows_read, report.accepted, report.status) == (7, 7, "done")
    assert count(world, License) == 7 and count(world, SourceRow) == 7


def test_duplicate_number_across_chunks_is_rejected(world: Engine, settings: Settings,
                                                    tmp_path: Path) -> None:
    f = write_csv(tmp_path / "b.csv", row(1), row(2), row(3), row(1))
    report = ingest(world, settings, f, chunk_rows=2)
    assert (report.accepted, report.rejected) == (3, 1)
    with session_scope(world) as s:
        last = row_outcomes(s, report.batch_id)[-1]
    assert last["line"] == 5 and last["reasons"][0]["code"] == "DUPLICATE_IN_FILE"


def test_missing_required_column_is_a_file_error_naming_it(world: Engine, settings: Settings,
                                                           tmp_path: Path) -> None:
    header = HEADER.replace("持证主体代码,", "")
    f = write_csv(tmp_path / "b.csv", "x", header=header)
    expected = r"b\.csv: missing required column\(s\): 持证主体代码 \(CZZTDM\)"
    with pytest.raises(IngestError, match=expected):
        ingest(world, settings, f)
    assert count(world, License) == 0


def test_unknown_department_or_type_is_refused(world: Engine, settings: Settings,
                                               tmp_path: Path) -> None:
    f = write_csv(tmp_path / "b.csv", row(1))
    with pytest.raises(IngestError, match="does not issue license type"):
        ingest_file(world, settings, f, department_uscc=HEALTH.uscc, type_code=BIZ,
                    uploader="clerk", at=NOW)


def test_sealing_without_authorization_is_refused(world: Engine, settings: Settings,
                                                  tmp_path: Path) -> None:
    with session_scope(world) as s:
        dept = s.scalar(select(Department).where(Department.uscc == MARKET.uscc))
        assert dept is not None
        s.execute(SealAuthorization.__table__.delete().where(
            SealAuthorization.type_code == BIZ))
        assert s.get(DepartmentType, (dept.id, BIZ)) is not None
    f = write_csv(tmp_path / "b.csv", row(1))
    with pytest.raises(NotAuthorizedError, match=f"no authorization for license type {BIZ}"):
        ingest(world, settings, f)
    assert count(world, License) == 0
    assert count(world, SourceRow) == 0  # the chunk rolled back as a whole


def test_licenses_signed_at_second_precision(world: Engine, settings: Settings,
                                             tmp_path: Path) -> None:
    ingest(world, settings, write_csv(tmp_path / "b.csv", row(1)),
           )
    with session_scope(world) as s:
        lic = s.scalars(select(License)).one()
    assert lic.signed_at == NOW.replace(microsecond=0)
    assert lic.signed_at.tzinfo is not None and lic.signed_at.utcoffset() == dt.timedelta(0)


# -- every format, progress, the uploader ----------------------------------------------------------


def test_product_pdf_round_trips_exactly(world: Engine, settings: Settings,
                                         tmp_path: Path) -> None:
    """A PDF carrying a license's signed record re-ingests as that very license (a no-op)."""
    ingest_typed(world, settings, BAD / "base-rows.csv")
    with session_scope(world) as s:
        lic = s.scalars(select(License).order_by(License.id)).first()
        assert lic is not None
        record, identifier = lic.record, lic.identifier
    pdf = tmp_path / "rendition.pdf"
    pdf.write_bytes(M.record_pdf(record, visible={"证照编号": "shown on the face"}))
    report = ingest_typed(world, settings, pdf)
    assert (report.accepted, report.issued) == (1, 0)
    with session_scope(world) as s:
        (only,) = row_outcomes(s, report.batch_id)
    assert only["identifier"] == identifier and only["reasons"][0]["code"] == "UNCHANGED"
    assert count(world, License) == 3


def test_zip_of_pdfs_stores_one_row_per_member_and_names_them(world: Engine,
                                                              settings: Settings) -> None:
    report = ingest_typed(world, settings, BAD / "mixed-members.zip")
    assert (report.rows_read, report.accepted, report.rejected) == (4, 1, 3)
    with session_scope(world) as s:
        rows = list(batch_rows(s, report.batch_id))
        detail = batch_detail(s, report.batch_id)
    assert [r.where for r in rows] == [f"mixed-members.zip: {n}" for n in
                                       ("1.pdf", "2.csv", "3.zip", "4.pdf")]
    assert rows[3].reasons[0]["message"].startswith("4.pdf: truncated")
    assert detail.reasons == {"UNSUPPORTED_MEMBER": 2, "UNREADABLE_FILE": 1}
    assert detail.source["format"] == "zip"


def test_folder_batch_is_packed_stored_and_idempotent(world: Engine, settings: Settings,
                                                      tmp_path: Path) -> None:
    folder = tmp_path / "存量证照"
    folder.mkdir()
    for n in (1, 2):
        (folder / f"{n}.pdf").write_bytes(M.form_pdf(M.form_fields(M.row(n))))
    first = ingest_typed(world, settings, folder)
    assert (first.file, first.accepted) == ("存量证照/", 2)
    again = ingest_typed(world, settings, folder)
    assert again.already_ingested and again.batch_id == first.batch_id
    with session_scope(world) as s:
        stored = s.get_one(StoredFile, first.sha256)
        assert (stored.original_name, stored.uploader) == ("存量证照/", "clerk")
    assert len(list(settings.files.rglob("*.zip"))) == 1


def test_interrupted_zip_batch_resumes_without_duplicates(world: Engine, settings: Settings,
                                                          tmp_path: Path) -> None:
    z = tmp_path / "pdfs.zip"
    z.write_bytes(M.zip_bytes([(f"{n}.pdf", M.form_pdf(M.form_fields(M.row(n))))
                               for n in range(1, 6)]))
    options = ReadOptions(license_type=catalogue()[BIZ])
    with session_scope(world) as s:
        opened = open_batch(s, settings, z, department_uscc=MARKET.uscc, type_code=BIZ,
                            uploader="clerk", at=NOW, options=options)
    first = next(iter_chunks(settings, opened, catalogue()[BIZ], chunk_rows=2))
    with session_scope(world) as s:  # the run "crashes" after committing one chunk
        process_chunk(s, settings, opened.batch_id, first, today=TODAY, at=NOW)
    report = ingest_typed(world, settings, z, chunk_rows=2, workers=1)
    assert (report.rows_read, report.accepted, report.status) == (5, 5, "done")
    assert count(world, License) == 5 and count(world, SourceRow) == 5


def test_progress_is_reported_per_chunk(world: Engine, settings: Settings,
                                        tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text(M.csv_text([M.row(n) for n in range(1, 8)]), "utf-8")
    seen: list[IngestProgress] = []
    ingest_typed(world, settings, path, chunk_rows=3, workers=1, progress=seen.append)
    assert [p.rows_read for p in seen] == [3, 6, 7]
    assert seen[-1].done == seen[-1].total == path.stat().st_size


def test_cli_draws_no_progress_bar_when_stderr_is_not_a_terminal(
        world: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """Not even click's one label line (a pipe, a log file); the bar on a terminal:
    tests/cli/test_progress.py."""
    monkeypatch.setenv("LICREG_HOME", str(settings.home))
    monkeypatch.setenv("LICREG_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LICREG_KEY_PASSPHRASE", (settings.passphrase or b"").decode())
    path = tmp_path / "big.csv"
    rows = [M.row(n, 经营范围="日用百货销售" * 300) for n in range(1, 201)]
    path.write_text(M.csv_text(rows), "utf-8")
    assert path.stat().st_size > 1 << 20
    out = CliRunner().invoke(cli, ["ingest", str(path), "--department", MARKET.uscc, "--type",
                                   BIZ])
    assert out.exit_code == 0, out.output
    assert out.stderr == ""
    assert "rows read 200: accepted 200" in out.stdout


def test_uploader_is_kept_per_batch(world: Engine, settings: Settings, tmp_path: Path) -> None:
    path = shutil.copy(BAD / "base-rows.csv", tmp_path / "b.csv")
    report = ingest_file(world, settings, Path(path), department_uscc=MARKET.uscc, type_code=BIZ,
                         uploader="王科员", at=NOW, today=TODAY)
    with session_scope(world) as s:
        assert s.get_one(Batch, report.batch_id).uploader == "王科员"
