"""What the clerk is told about a batch (registry.batch.reports) and what ``licreg ingest`` and
``licreg batch list/show/rows`` print: failed files, unknown columns, cell locations, rows
exported safe for spreadsheets (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from registry.batch.reports import batch_detail, batch_rows, list_batches, locate, neutralize
from registry.city.demo import MARKET
from registry.cli import cli
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import StoredFile
from registry.errors import BatchFailedError, BatchNotFound
from tests.conftest import FIXTURES
from tests.support.batches import BIZ, count, ingest_typed

BAD, FORMATS = FIXTURES / "bad", FIXTURES / "formats"


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
        ingest_typed(world, settings, BAD / "zip-bomb.zip")
    assert f"licreg batch show {info.value.batch_id}" in info.value.diagnostics()
    with session_scope(world) as s:
        (b,) = list_batches(s)
        assert (b.status, b.file, b.rows_read) == ("failed", "zip-bomb.zip", 0)
        assert b.error == str(info.value)
    assert count(world, StoredFile) == 1  # the file is kept, even refused


def test_unknown_columns_reported_once_and_kept_raw(world: Engine, settings: Settings) -> None:
    report = ingest_typed(world, settings, BAD / "unknown-columns.csv")
    with session_scope(world) as s:
        detail = batch_detail(s, report.batch_id)
        (r,) = batch_rows(s, report.batch_id)
    assert detail.unknown_columns == ("序号", "备注")
    assert (r.raw["序号"], r.raw["备注"]) == ("1", "无")


def test_reason_counts_and_cell_locations_for_a_workbook(world: Engine,
                                                         settings: Settings) -> None:
    report = ingest_typed(world, settings, BAD / "number-codes.xlsx")
    with session_scope(world) as s:
        detail = batch_detail(s, report.batch_id)
        rows = list(batch_rows(s, report.batch_id, outcome="rejected"))
    assert detail.reasons == {"NUMBER_PRECISION": 1}
    assert rows[0].where == "number-codes.xlsx, sheet '营业执照' row 2"
    assert rows[0].reasons[0]["where"] == (
        "number-codes.xlsx, sheet '营业执照' cell C2 (持证主体代码)")


def test_reports_helpers() -> None:
    assert [neutralize(c) for c in ("=1", "+1", "-1", "@x", "\tx", "a=1", "")] == [
        "'=1", "'+1", "'-1", "'@x", "'\tx", "a=1", ""]
    assert [neutralize(c) for c in (" =1", "\u3000+1", " \r-1", "\n@x", " a")] == [
        "' =1", "'\u3000+1", "' \r-1", "'\n@x", " a"]  # also after whitespace
    assert locate({"format": "json"}, "b.json", 3, "住所") == "b.json, item [2], key '住所'"
    assert locate({"format": "jsonl"}, "b.jsonl", 3) == "b.jsonl, line 3"
    assert locate({"format": "pdf"}, "a.pdf", 1) == "a.pdf"
    assert locate({"format": "xlsx", "sheet": "S", "first_column": 2, "columns": ["a", "b"]},
                  "b.xlsx", 7, "b") == "b.xlsx, sheet 'S' cell C7 (b)"


def test_missing_batch(world: Engine) -> None:
    with session_scope(world) as s, pytest.raises(BatchNotFound):
        batch_detail(s, 12345)
