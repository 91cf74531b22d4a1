"""Workbooks (registry.ingest.xlsx): sheet rows as lines, cells kept as text, a number that
lost digits named by sheet and cell, the package checked like an archive (no database)."""

from __future__ import annotations

import tracemalloc
from datetime import date
from pathlib import Path

import pytest

from registry.errors import IngestError, LimitError
from registry.ingest.frames import EXTRA, LINE, PROBLEMS, ReadOptions
from registry.ingest.limits import Limits
from registry.ingest.reader import read_rows
from registry.ingest.xlsx import cell_text, column_letter
from tests.support.ingest import CASES, read_all

M = CASES


def test_workbook_rows_are_sheet_rows_and_cells_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "b.xlsx"
    path.write_bytes(M.workbook([("S", [
        ["title"], [],
        [None, "证照编号", "持证主体代码", "颁证日期", "注册资本"],
        [None, "0571", "33010219900101123X", date(2024, 1, 5), 100],
        [],
        [None, 1234, "91330100MA2H3K4L4W", 45296, 2.5, "stray"],
    ])], formats={("S", "B6"): "000000"}))
    df = read_all(path, ReadOptions(header_row=3))
    assert list(df.columns) == ["证照编号", "持证主体代码", "颁证日期", "注册资本", LINE, EXTRA]
    assert df[LINE].tolist() == [4, 6]  # sheet rows; the empty row 5 is skipped
    assert df.iloc[0, :4].tolist() == ["0571", "33010219900101123X", "2024-01-05", "100"]
    assert df.iloc[1, :4].tolist() == ["001234", "91330100MA2H3K4L4W", "45296", "2.5"]
    assert df[EXTRA].tolist() == [(), ("stray",)]


def test_a_header_with_no_row_below_it_is_no_data_rows_as_in_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "b.xlsx"
    path.write_bytes(M.workbook([("营业执照", [["title"], M.HEADER, [], []])]))
    with pytest.raises(IngestError, match=r"b\.xlsx: no data rows below the header "
                                          r"\(sheet '营业执照', row 2\)"):
        read_all(path, ReadOptions(header_row=2))


def test_workbook_sheet_by_name_and_a_missing_sheet_names_those_there(tmp_path: Path) -> None:
    path = tmp_path / "b.xlsx"
    path.write_bytes(M.workbook([("A", [["x"], ["1"]]), ("B", [["ZZBH"], ["2"]])]))
    assert read_all(path, ReadOptions(sheet="B"))["ZZBH"].tolist() == ["2"]
    with pytest.raises(IngestError, match=r"no sheet named 'C'; the workbook has 'A', 'B'"):
        read_rows(path, options=ReadOptions(sheet="C"))


def test_number_precision_names_the_sheet_and_cell(tmp_path: Path) -> None:
    df = read_all(M.HERE / "bad" / "number-codes.xlsx")
    problems = df[PROBLEMS].iloc[0]
    assert problems[0]["code"] == "NUMBER_PRECISION"
    assert problems[0]["column"] == "持证主体代码"
    assert problems[0]["message"].startswith(
        "cell 营业执照!C2 holds the number 9.13301027799816e+17")
    assert df[PROBLEMS].iloc[1] == ()


@pytest.mark.parametrize(("value", "fmt", "text"), [
    (None, None, ""), ("x", None, "x"), (True, None, "TRUE"), (7, "0000", "0007"),
    (7.0, None, "7"), (0.1 + 0.2, None, "0.3"), (-3, None, "-3"),
])
def test_cell_text(value: object, fmt: str | None, text: str) -> None:
    assert cell_text(value, fmt) == (text, None)


def test_column_letters() -> None:
    assert [column_letter(i) for i in (1, 26, 27, 52, 703)] == ["A", "Z", "AA", "AZ", "AAA"]


def test_workbook_package_is_checked_like_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "b.xlsx"
    path.write_bytes(M.workbook([("S", [["ZZBH"], ["1"]])]))
    with pytest.raises(LimitError, match="archive members"):
        read_rows(path, options=ReadOptions(limits=Limits(max_members=2)))


def test_a_cell_beyond_max_columns_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "b.xlsx"
    path.write_bytes(M.patch_member(
        M.workbook([("S", [["ZZBH"], ["1"]])]), "xl/worksheets/sheet1.xml",
        lambda x: x.replace(b"</sheetData>", b'<row r="3"><c r="XFD3" t="inlineStr"><is><t>x'
                                             b"</t></is></c></row></sheetData>")))
    with pytest.raises(LimitError, match=r"b\.xlsx: S!XFD3: more than 1000 columns \(16384\)"):
        read_all(path)


def test_rows_out_of_order_are_a_damaged_sheet(tmp_path: Path) -> None:
    path = tmp_path / "b.xlsx"
    path.write_bytes(M.patch_member(
        M.workbook([("S", [["ZZBH"], ["1"]])]), "xl/worksheets/sheet1.xml",
        lambda x: x.replace(b"</sheetData>", b'<row r="1"><c r="A1" t="inlineStr"><is><t>x'
                                             b"</t></is></c></row></sheetData>")))
    with pytest.raises(IngestError, match=r"sheet 'S' row 3: the workbook is damaged"):
        read_all(path)


def test_the_only_sheet_with_data_is_read_and_a_chosen_one_is_read(tmp_path: Path) -> None:
    path = tmp_path / "b.xlsx"
    path.write_bytes(M.workbook([("空", [[], [None]]), ("S", [["ZZBH"], ["1"]]), ("末", [])]))
    df = read_all(path)
    assert df["ZZBH"].tolist() == ["1"] and df.attrs["source"]["sheet"] == "S"
    df = read_all(M.HERE / "bad" / "instructions-first.xlsx", ReadOptions(sheet="营业执照"))
    assert df["证照编号"].tolist() == [M.row(1)["证照编号"]]


def test_a_sheet_claiming_the_whole_grid_is_read_as_its_rows() -> None:
    df = read_all(M.HERE / "bad" / "huge-dimension.xlsx")
    assert df[LINE].tolist() == [2, 1_048_576]
    assert df.attrs["progress"] == (1_048_576, 1_048_576)


def test_a_part_inflating_past_its_entry_is_refused_in_bounded_memory() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(IngestError, match=r"part 'xl/worksheets/sheet1\.xml' is damaged "
                                              r"\(it does not match its directory entry"):
            read_all(M.HERE / "bad" / "lying-size.xlsx")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # the part inflates to 32 MiB; read 1 MiB at a time


def test_a_chart_sheet_is_no_table(tmp_path: Path) -> None:
    # the test builds a chart sheet, which M.workbook cannot
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference

    wb = Workbook()
    wb.active.title = "S"
    wb.active.append(["ZZBH"])
    wb.active.append([1])
    chart = BarChart()
    chart.add_data(Reference(wb.active, min_col=1, min_row=1, max_row=2), titles_from_data=True)
    wb.create_chartsheet("图表").add_chart(chart)
    path = tmp_path / "b.xlsx"
    wb.save(path)
    assert read_all(path)["ZZBH"].tolist() == ["1"]
    with pytest.raises(IngestError, match=r"sheet '图表' is a chart, not a table of rows"):
        read_rows(path, options=ReadOptions(sheet="图表"))
