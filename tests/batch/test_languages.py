"""The clerks' side speaks Chinese by default and English on request, for the same batch.

A batch is judged once; its reasons keep their message and fields (registry.ingest.messages),
so ``licreg ingest``, ``batch show/list/rows``, the rejects CSV, ``inbox run`` and the inbox's
``report.json`` say them in the reader's language, codes unchanged beside the words.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from registry.city.demo import MARKET
from registry.cli import cli
from registry.config import Settings
from registry.errors import IngestError
from registry.i18n import language
from registry.ingest.messages import reason_message
from registry.ingest.reader import read_rows
from registry.ingest.rules import REASONS, evaluate, header_map
from registry.license.types import catalogue
from tests.conftest import FIXTURES, PASSPHRASE
from tests.support.batches import BIZ, row, write_csv

BUSINESS = FIXTURES / "batches" / "business-licenses.csv"
HOLDER_ZH = "持证主体代码（CZZTDM）“91330102MAU692WB50”校验位错误，应为X（GB 32100）"
HOLDER_EN = "持证主体代码 (CZZTDM) '91330102MAU692WB50' fails the GB 32100 check digit (expected X)"


@pytest.fixture
def licreg(world: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch,
           tmp_path: Path) -> CliRunner:
    """The command line on the demo world, Chinese unless ``--lang en`` says otherwise."""
    monkeypatch.setenv("LICREG_HOME", str(settings.home))
    monkeypatch.setenv("LICREG_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LICREG_KEY_PASSPHRASE", PASSPHRASE.decode())
    monkeypatch.setenv("LICREG_INBOX", str(tmp_path / "inbox"))
    monkeypatch.setenv("LICREG_ARCHIVE", str(tmp_path / "archive"))
    monkeypatch.delenv("LICREG_LANG")
    return CliRunner()


def _ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def test_ingest_and_batch_commands_chinese_by_default_english_on_request(
        licreg: CliRunner) -> None:
    chinese = _ok(licreg.invoke(cli, ["ingest", str(BUSINESS), "--department", MARKET.uscc,
                                      "--type", BIZ]))
    lines = chinese.splitlines()
    assert lines[0].startswith("批次 1：business-licenses.csv（sha256 4f8c854b03a0）")
    assert lines[1] == "读取 40 行：接收 30 行（新增或变更 30 行），过滤 3 行，驳回 7 行"
    assert f"  第   15行  驳回  {HOLDER_ZH}" in lines
    assert "  第   11行  过滤  涉密（SFSM）为“是”：涉密证照不予汇聚" in lines
    assert any(line.startswith("  第    2行  接收  1.2.156.3005.2.") for line in lines)

    # The same batch, read again in English: its reasons were kept, not their Chinese words.
    english = _ok(licreg.invoke(cli, ["--lang", "en", "batch", "rows", "1", "--outcome",
                                      "rejected"]))
    assert (f"business-licenses.csv, line 15  rejected  BAD_HOLDER_CODE: {HOLDER_EN}"
            in english.splitlines())
    chinese_rows = _ok(licreg.invoke(cli, ["batch", "rows", "1", "--outcome", "rejected"]))
    assert (f"business-licenses.csv，第15行  驳回  BAD_HOLDER_CODE: {HOLDER_ZH}"
            in chinese_rows.splitlines())

    shown = _ok(licreg.invoke(cli, ["batch", "show", "1"])).splitlines()
    assert shown[1] == (f"部门 {MARKET.uscc}，证照类型 {BIZ}，状态：已完成")
    assert "  BAD_HOLDER_CODE            2  持证主体代码错误" in shown
    assert "格式 csv（编码 'utf-8'、分隔符 ','、表头行 1）" in shown
    assert shown[-1].startswith("用时 ") and shown[-1].endswith(" 北京时间")
    shown_en = _ok(licreg.invoke(cli, ["--lang", "en", "batch", "show", "1"])).splitlines()
    assert shown_en[1] == f"department {MARKET.uscc}, type {BIZ}, status done"
    assert "  BAD_HOLDER_CODE            2  holder code invalid" in shown_en
    assert shown_en[-1].endswith(" Beijing time")

    listed = _ok(licreg.invoke(cli, ["batch", "list"]))
    assert "已完成" in listed and "40 行  接收 30 过滤 3 驳回 7  business-licenses.csv" in listed
    listed_en = _ok(licreg.invoke(cli, ["--lang", "en", "batch", "list"]))
    assert "done" in listed_en and "accepted 30 filtered 3 rejected 7" in listed_en


def test_json_keeps_the_codes_beside_the_words_in_utf8(licreg: CliRunner) -> None:
    ingested = json.loads(_ok(licreg.invoke(cli, ["ingest", str(BUSINESS), "--department",
                                                  MARKET.uscc, "--type", BIZ, "--json"])))
    assert (ingested["status"], ingested["status_text"]) == ("done", "已完成")
    assert ingested["reason_titles"]["DATE_ORDER"] == "日期先后顺序错误"
    line18 = next(r for r in ingested["rows"] if r["line"] == 18)
    assert line18["reasons"] == [{"code": "BAD_DATE", "element": "ZZBFRQ", "message":
                                  "颁证日期（ZZBFRQ）“2023-02-29”不是有效日期（日超出当月天数）"}]
    shown = _ok(licreg.invoke(cli, ["batch", "show", "1", "--json"]))
    assert "\\u" not in shown  # UTF-8, never escapes
    detail = json.loads(shown)
    assert (detail["status"], detail["status_text"]) == ("done", "已完成")
    assert detail["reasons"]["EXPIRED"] == 2 and detail["reason_titles"]["EXPIRED"] == "已过期"
    detail_en = json.loads(_ok(licreg.invoke(cli, ["--lang", "en", "batch", "show", "1",
                                                   "--json"])))
    assert detail_en["reason_titles"]["EXPIRED"] == "expired"

    rows = json.loads(_ok(licreg.invoke(cli, ["batch", "rows", "1", "--outcome", "rejected",
                                              "--json"])))
    first = rows[0]["reasons"][0]
    assert (first["code"], first["element"], first["message"]) == (
        "BAD_HOLDER_CODE", "CZZTDM", HOLDER_ZH)
    assert first["where"] == "business-licenses.csv，第15行“持证主体代码”列"
    rows_en = json.loads(_ok(licreg.invoke(cli, ["--lang", "en", "batch", "rows", "1",
                                                 "--outcome", "rejected", "--json"])))
    assert rows_en[0]["reasons"][0]["message"] == HOLDER_EN
    assert rows_en[0]["reasons"][0]["where"] == (
        "business-licenses.csv, line 15, column '持证主体代码'")


def test_rejects_csv_in_chinese_with_a_bom_and_the_codes_kept(licreg: CliRunner,
                                                              tmp_path: Path) -> None:
    _ok(licreg.invoke(cli, ["ingest", str(BUSINESS), "--department", MARKET.uscc, "--type", BIZ]))
    zh, en = tmp_path / "rejects-zh.csv", tmp_path / "rejects-en.csv"
    assert "已将 7 行写入" in _ok(licreg.invoke(
        cli, ["batch", "rows", "1", "--outcome", "rejected", "--out", str(zh)]))
    assert "wrote 7 rows to" in _ok(licreg.invoke(
        cli, ["--lang", "en", "batch", "rows", "1", "--outcome", "rejected", "--out", str(en)]))
    assert zh.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads it as UTF-8
    table = list(csv.reader(io.StringIO(zh.read_text("utf-8-sig"))))
    assert table[0][:5] == ["行号", "位置", "处理结果", "原因代码", "原因说明"]
    assert table[0][-1] == "其他单元格" and "持证主体代码" in table[0]
    line15 = next(r for r in table if r[0] == "15")
    assert line15[2:4] == ["驳回", "BAD_HOLDER_CODE"]
    assert line15[4] == f"business-licenses.csv，第15行“持证主体代码”列：{HOLDER_ZH}"
    table_en = list(csv.reader(io.StringIO(en.read_text("utf-8-sig"))))
    assert table_en[0][:5] == ["line", "where", "outcome", "reasons", "messages"]
    line15_en = next(r for r in table_en if r[0] == "15")
    assert line15_en[2:4] == ["rejected", "BAD_HOLDER_CODE"]
    assert line15_en[4].endswith(f": {HOLDER_EN}")


def test_inbox_reports_in_chinese_and_english(licreg: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "inbox" / MARKET.uscc / BIZ
    _ok(licreg.invoke(cli, ["inbox", "prepare"]))
    write_csv(folder / "b.csv", row(1), row(2, end="2025-06-30"), row(3, code="91330100MA0000001X"))
    (folder / "physicians.csv").write_bytes((FIXTURES / "batches" / "physicians.csv").read_bytes())
    ran = licreg.invoke(cli, ["inbox", "run", "--settle", "0"])
    assert ran.exit_code == 1, ran.output  # a file failed
    out = ran.output.splitlines()
    done = f"已完成 {MARKET.uscc}/{BIZ}/b.csv：共 3 行：接收 1，过滤 1，驳回 1 → "
    assert any(line.startswith(done) for line in out)
    failed = f"失败  {MARKET.uscc}/{BIZ}/physicians.csv：缺少必填列：类型（KZ_LX）、法定代表人"
    assert any(line.startswith(failed) for line in out)  # the file named once
    assert out[-1] == f"共 2 个文件，来自 {tmp_path / 'inbox'}"

    day = next((tmp_path / "archive" / MARKET.uscc / BIZ).iterdir())
    text = (day / "b.csv.report.json").read_text("utf-8")
    assert "\\u" not in text
    report = json.loads(text)
    assert (report["status"], report["status_text"]) == ("done", "已完成")
    assert report["reasons"] == {"BAD_HOLDER_CODE": 1, "EXPIRED": 1}
    assert report["reason_titles"] == {"BAD_HOLDER_CODE": "持证主体代码错误", "EXPIRED": "已过期"}
    assert report["started_text"].endswith(" 北京时间")
    rejects = list(csv.reader(io.StringIO((day / "b.csv.rejects.csv").read_text("utf-8-sig"))))
    assert rejects[0][:3] == ["行号", "位置", "处理结果"] and rejects[1][2] == "驳回"
    assert "持证主体代码（CZZTDM）“91330100MA0000001X”" in rejects[1][4]

    failed = json.loads((day / "physicians.csv.report.json").read_text("utf-8"))
    assert failed["error"].startswith("physicians.csv：缺少必填列：类型（KZ_LX）、法定代表人")
    failed_en = _ok(licreg.invoke(cli, ["--lang", "en", "batch", "show",
                                        str(failed["batch_id"])])).splitlines()
    assert failed_en[1].endswith(", status failed")
    assert failed_en[2].startswith(
        "error: physicians.csv: missing required column(s): 类型 (KZ_LX), 法定代表人 (KZ_FDDBR)")
    failed_zh = _ok(licreg.invoke(cli, ["batch", "show", str(failed["batch_id"])])).splitlines()
    assert failed_zh[1].endswith("，状态：失败")
    assert failed_zh[2].startswith("错误：physicians.csv：缺少必填列：类型（KZ_LX）")

    # The same batch in English on request; an English run writes an English report.
    shown = _ok(licreg.invoke(cli, ["--lang", "en", "batch", "rows", str(report["batch_id"]),
                                    "--outcome", "rejected"]))
    assert "持证主体代码 (CZZTDM) '91330100MA0000001X'" in shown and "rejected" in shown
    write_csv(folder / "c.csv", row(4), row(5, end="2025-06-30"))
    out_en = _ok(licreg.invoke(cli, ["--lang", "en", "inbox", "run", "--settle", "0"]))
    assert (f"done     {MARKET.uscc}/{BIZ}/c.csv: rows 2: accepted 1, filtered 1, rejected 0"
            in out_en)
    assert out_en.splitlines()[-1] == f"1 file(s) from {tmp_path / 'inbox'}"
    report_en = json.loads((day / "c.csv.report.json").read_text("utf-8"))
    assert (report_en["status_text"], report_en["reason_titles"]) == ("done",
                                                                      {"EXPIRED": "expired"})
    assert report_en["started_text"].endswith(" Beijing time")


def test_row_reasons_and_reader_errors_in_either_language(tmp_path: Path) -> None:
    lt = catalogue()[BIZ]
    chunk = next(read_rows(BUSINESS))
    out = evaluate(chunk, lt, header_map(list(chunk.columns), lt), today=date(2026, 11, 27),
                   seen_numbers=set())
    by_line = dict(zip(out["LINE"].tolist(), out[REASONS].tolist(), strict=True))
    date_reason = by_line[18][0]
    assert date_reason["message"] == (  # the English kept with it, for older readers
        "颁证日期 (ZZBFRQ) '2023-02-29' is not a real date (day is out of range for month)")
    with language("zh"):
        assert reason_message(date_reason) == (
            "颁证日期（ZZBFRQ）“2023-02-29”不是有效日期（日超出当月天数）")
        assert reason_message(by_line[22][0]) == "证照编号（ZZBH）“330108456512426”与第4行重复"
        assert reason_message(by_line[25][0]) == "持证主体（CZZT）为空"
        assert reason_message({"code": "BAD_DATE", "message": "stored before"}) == "stored before"
    with language("en"):
        assert reason_message(by_line[22][0]) == "证照编号 (ZZBH) '330108456512426' repeats line 4"

    lines = tmp_path / "b.jsonl"
    lines.write_text('{"证照编号": "1"}\n{oops\n', encoding="utf-8")
    problem = next(read_rows(lines))["PROBLEMS"].iloc[1][0]
    with language("zh"):
        assert reason_message(problem).startswith("第2行不是有效的 JSON（")
    with language("en"):
        assert reason_message(problem).startswith("line 2 is not JSON (")

    array = tmp_path / "b.json"
    array.write_text('{"证照编号": "1"}', encoding="utf-8")
    with language("zh"), pytest.raises(IngestError, match="JSON 批次应为对象数组"):
        next(read_rows(array))
    with language("en"), pytest.raises(IngestError, match="a JSON batch must be an array"):
        next(read_rows(array))


def test_notes_on_rows_issued_before_in_either_language(licreg: CliRunner) -> None:
    _ok(licreg.invoke(cli, ["ingest", str(BUSINESS), "--department", MARKET.uscc, "--type", BIZ]))
    gbk = FIXTURES / "batches" / "business-licenses-gbk.csv"  # the same rows, other bytes
    again = _ok(licreg.invoke(cli, ["ingest", str(gbk), "--department", MARKET.uscc,
                                    "--type", BIZ])).splitlines()
    assert again[1] == "读取 40 行：接收 30 行（新增或变更 0 行），过滤 3 行，驳回 7 行"
    first = next(line for line in again if line.startswith("  第    2行  接收  "))
    assert first.startswith("  第    2行  接收  与已登记证照 1.2.156.3005.2.")
    assert first.endswith(" 内容相同，未重新签发")
    english = _ok(licreg.invoke(cli, ["--lang", "en", "batch", "rows", "2", "--outcome",
                                      "accepted"])).splitlines()
    assert english[0].startswith("business-licenses-gbk.csv, line 2  accepted  UNCHANGED: "
                                 "identical to registered 1.2.156.3005.2.")
