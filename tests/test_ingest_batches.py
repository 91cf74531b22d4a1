"""Batches of every format through the registry, their reports and the CLI (SQLite and
PostgreSQL): what was stored, what the clerk is told, what survives a crash."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from registry.batch.records import iter_chunks, open_batch
from registry.batch.reports import (
    batch_detail,
    batch_rows,
    list_batches,
    locate,
    neutralize,
    row_outcomes,
)
from registry.batch.run import IngestProgress, ingest_file
from registry.city.demo import MARKET
from registry.cli import cli
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import Batch, License, SourceRow, StoredFile
from registry.errors import BatchFailedError, BatchNotFound
from registry.ingest.frames import ReadOptions
from tests.conftest import FIXTURES, NOW, TODAY
from tests.support.batches import process_chunk
from tests.support.ingest import CASES as M

BIZ = M.BIZ
BAD, FORMATS = FIXTURES / "bad", FIXTURES / "formats"


def ingest(engine: Engine, settings: Settings, path: Path, **kw: object):  # type: ignore[no-untyped-def]
    kw.setdefault("options", ReadOptions(type_code=BIZ))
    return ingest_file(engine, settings, path, department_uscc=MARKET.uscc, type_code=BIZ,
                       uploader="clerk", at=NOW, today=TODAY, **kw)  # type: ignore[arg-type]


def count(engine: Engine, model: type) -> int:
    with session_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_product_pdf_round_trips_exactly(world: Engine, settings: Settings,
                                         tmp_path: Path) -> None:
    """A PDF carrying a license's signed record re-ingests as that very license (a no-op)."""
    ingest(world, settings, BAD / "base-rows.csv")
    with session_scope(world) as s:
        lic = s.scalars(select(License).order_by(License.id)).first()
        assert lic is not None
        record, identifier = lic.record, lic.identifier
    pdf = tmp_path / "rendition.pdf"
    pdf.write_bytes(M.record_pdf(record, visible={"证照编号": "shown on the face"}))
    report = ingest(world, settings, pdf)
    assert (report.accepted, report.issued) == (1, 0)
    with session_scope(world) as s:
        (only,) = row_outcomes(s, report.batch_id)
    assert only["identifier"] == identifier and only["reasons"][0]["code"] == "UNCHANGED"
    assert count(world, License) == 3


def test_zip_of_pdfs_stores_one_row_per_member_and_names_them(world: Engine,
                                                              settings: Settings) -> None:
    report = ingest(world, settings, BAD / "mixed-members.zip")
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
    first = ingest(world, settings, folder)
    assert (first.file, first.accepted) == ("存量证照/", 2)
    again = ingest(world, settings, folder)
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
    options = ReadOptions(type_code=BIZ)
    with session_scope(world) as s:
        opened = open_batch(s, settings, z, department_uscc=MARKET.uscc, type_code=BIZ,
                            uploader="clerk", at=NOW, options=options)
    first = next(iter_chunks(settings, opened, chunk_rows=2))
    with session_scope(world) as s:  # the run "crashes" after committing one chunk
        process_chunk(s, settings, opened.batch_id, first, today=TODAY, at=NOW)
    report = ingest(world, settings, z, chunk_rows=2, workers=1)
    assert (report.rows_read, report.accepted, report.status) == (5, 5, "done")
    assert count(world, License) == 5 and count(world, SourceRow) == 5


def test_workbook_with_mapping_through_the_cli(world: Engine, settings: Settings,
                                               monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("LICREG_HOME", str(settings.home))
    monkeypatch.setenv("LICREG_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LICREG_KEY_PASSPHRASE", (settings.passphrase or b"").decode())
    runner = CliRunner()
    out = runner.invoke(cli, ["ingest", str(FORMATS / "business-licenses.xlsx"), "--department",
                              MARKET.uscc, "--type", BIZ, "--mapping",
                              str(FIXTURES / "mappings" / "market-bureau-xlsx.json"), "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert (report["rows_read"], report["accepted"]) == (3, 3)
    assert [r["line"] for r in report["rows"]] == [4, 5, 6]

    shown = runner.invoke(cli, ["batch", "show", str(report["batch_id"]), "--json"])
    detail = json.loads(shown.stdout)
    assert detail["source"]["sheet"] == "营业执照" and detail["source"]["header_line"] == 3
    assert detail["unknown_columns"] == [] and "序号" in detail["source"]["ignored"]
    assert detail["uploader"] == "cli" and detail["elapsed_seconds"] >= 0

    bad = runner.invoke(cli, ["ingest", str(BAD / "formula-cells.csv"), "--department",
                              MARKET.uscc, "--type", BIZ])
    assert bad.exit_code == 0, bad.output
    assert "line     2  rejected  持证主体 (CZZT) '=HYPERLINK" in bad.output
    listed = runner.invoke(cli, ["batch", "list"])
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert "formula-cells.csv" in lines[0] and "business-licenses.xlsx" in lines[1]
    assert "rejected 2" in lines[0]

    batch_id = report["batch_id"] + 1
    rejects = tmp_path / "rejects.csv"
    wrote = runner.invoke(cli, ["batch", "rows", str(batch_id), "--outcome", "rejected",
                                "--out", str(rejects)])
    assert wrote.output.strip() == f"wrote 2 rows to {rejects}"
    raw = rejects.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM, for Excel
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0][:5] == ["line", "where", "outcome", "reasons", "messages"]
    assert [r[0] for r in table[1:]] == ["2", "3"]
    header = table[0]
    assert table[1][header.index("持证主体")] == "'=HYPERLINK(\"http://x.example\",\"点击\")"
    assert table[2][header.index("经营范围")] == "'=cmd|' /C calc'!A0"
    assert table[1][3] == "FORMULA"
    assert table[1][4].startswith("formula-cells.csv, line 2, column '持证主体': 持证主体 (CZZT)")
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in table for cell in r)

    text = runner.invoke(cli, ["batch", "rows", str(batch_id), "--outcome", "accepted"])
    # Row 3 of the workbook is the same license: the CSV's line 4 changes nothing.
    assert text.output.startswith("formula-cells.csv, line 4  accepted  UNCHANGED: identical to "
                                  "registered 1.2.156.3005.2.")
    missing = runner.invoke(cli, ["batch", "show", "999"])
    assert missing.exit_code == 1 and "no batch with id 999" in missing.output


def test_failed_file_is_recorded_and_shown(world: Engine, settings: Settings) -> None:
    with pytest.raises(BatchFailedError, match=r"zip-bomb.zip: member .* zip bomb") as info:
        ingest(world, settings, BAD / "zip-bomb.zip")
    assert f"licreg batch show {info.value.batch_id}" in info.value.diagnostics()
    with session_scope(world) as s:
        (b,) = list_batches(s)
        assert (b.status, b.file, b.rows_read) == ("failed", "zip-bomb.zip", 0)
        assert b.error == str(info.value)
    assert count(world, StoredFile) == 1  # the file is kept, even refused


def test_unknown_columns_reported_once_and_kept_raw(world: Engine, settings: Settings) -> None:
    report = ingest(world, settings, BAD / "unknown-columns.csv")
    with session_scope(world) as s:
        detail = batch_detail(s, report.batch_id)
        (r,) = batch_rows(s, report.batch_id)
    assert detail.unknown_columns == ("序号", "备注")
    assert (r.raw["序号"], r.raw["备注"]) == ("1", "无")


def test_reason_counts_and_cell_locations_for_a_workbook(world: Engine,
                                                         settings: Settings) -> None:
    report = ingest(world, settings, BAD / "number-codes.xlsx")
    with session_scope(world) as s:
        detail = batch_detail(s, report.batch_id)
        rows = list(batch_rows(s, report.batch_id, outcome="rejected"))
    assert detail.reasons == {"NUMBER_PRECISION": 1}
    assert rows[0].where == "number-codes.xlsx, sheet '营业执照' row 2"
    assert rows[0].reasons[0]["where"] == (
        "number-codes.xlsx, sheet '营业执照' cell C2 (持证主体代码)")


def test_progress_is_reported_per_chunk(world: Engine, settings: Settings,
                                        tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text(M.csv_text([M.row(n) for n in range(1, 8)]), "utf-8")
    seen: list[IngestProgress] = []
    ingest(world, settings, path, chunk_rows=3, workers=1, progress=seen.append)
    assert [p.rows_read for p in seen] == [3, 6, 7]
    assert seen[-1].done == seen[-1].total == path.stat().st_size


def test_cli_draws_a_progress_bar_for_a_big_file(world: Engine, settings: Settings,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
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
    assert "ingesting big.csv" in out.stderr
    assert "rows read 200: accepted 200" in out.stdout


def test_reports_helpers() -> None:
    assert [neutralize(c) for c in ("=1", "+1", "-1", "@x", "\tx", "a=1", "")] == [
        "'=1", "'+1", "'-1", "'@x", "'\tx", "a=1", ""]
    assert locate({"format": "json"}, "b.json", 3, "住所") == "b.json, item [2], key '住所'"
    assert locate({"format": "jsonl"}, "b.jsonl", 3) == "b.jsonl, line 3"
    assert locate({"format": "pdf"}, "a.pdf", 1) == "a.pdf"
    assert locate({"format": "xlsx", "sheet": "S", "first_column": 2, "columns": ["a", "b"]},
                  "b.xlsx", 7, "b") == "b.xlsx, sheet 'S' cell C7 (b)"


def test_missing_batch(world: Engine) -> None:
    with session_scope(world) as s, pytest.raises(BatchNotFound):
        batch_detail(s, 12345)


def test_uploader_is_kept_per_batch(world: Engine, settings: Settings, tmp_path: Path) -> None:
    path = shutil.copy(BAD / "base-rows.csv", tmp_path / "b.csv")
    report = ingest_file(world, settings, Path(path), department_uscc=MARKET.uscc, type_code=BIZ,
                         uploader="王科员", at=NOW, today=TODAY)
    with session_scope(world) as s:
        assert s.get_one(Batch, report.batch_id).uploader == "王科员"
