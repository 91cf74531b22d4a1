"""Readers other than CSV: workbooks, JSON, JSON Lines, PDFs and archives (no database)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.errors import ArchiveError, IngestError, LimitError, StockPdfError
from registry.ingest.archive import check_zip, list_members, pack_folder, unsafe_name
from registry.ingest.frames import EXTRA, LINE, PROBLEMS, ReadOptions
from registry.ingest.jsonl import value_text
from registry.ingest.limits import Limits
from registry.ingest.pdf import RECORD_KEY, read_pdf
from registry.ingest.reader import read_rows
from registry.ingest.xlsx import cell_text, column_letter
from tests.support.ingest import CASES

M = CASES
BIZ = M.BIZ
OPTS = ReadOptions(type_code=BIZ)


def read_all(path: Path, options: ReadOptions = OPTS, chunk_rows: int = 1000) -> pd.DataFrame:
    return pd.concat(list(read_rows(path, chunk_rows=chunk_rows, options=options)),
                     ignore_index=True)


# --- workbooks ------------------------------------------------------------------------------


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


# --- JSON and JSON Lines --------------------------------------------------------------------


def test_json_array_streams_across_blocks_and_keys_grow(tmp_path: Path) -> None:
    items = [{"ZZBH": f"N{i}", "CZZT": "甲" * 50} for i in range(3000)]
    items[2500]["备注"] = "late key"
    path = tmp_path / "b.json"
    path.write_text(json.dumps(items, ensure_ascii=False, indent=2), "utf-8")
    chunks = list(read_rows(path, chunk_rows=1000))
    assert [len(c) for c in chunks] == [1000, 1000, 1000]
    assert chunks[0][LINE].tolist()[:2] == [1, 2]
    assert "备注" not in chunks[0].columns and "备注" in chunks[2].columns
    df = pd.concat(chunks, ignore_index=True)
    assert df["ZZBH"].tolist() == [f"N{i}" for i in range(3000)]
    assert df.loc[2500, "备注"] == "late key" and df.loc[2499, "备注"] == ""


def test_json_lookahead_shows_late_keys_to_the_header_check(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(json.dumps([{"ZZBH": "1"}, {"ZZBH": "2", "CZZT": "乙"}]), "utf-8")
    first = next(read_rows(path, chunk_rows=1))
    assert list(first.columns) == ["ZZBH", "CZZT", LINE, EXTRA]


@pytest.mark.parametrize(("text", "where"), [
    ('[{"a": 1},\n {"a": 2}\n {"a": 3}]', "line 3, column 2"),
    ('[{"a": 1},\n {"a": tru}]', "line 2"),
    ('[{"a": 1}', "never closed"),
])
def test_json_syntax_errors_name_the_place(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(text, "utf-8")
    with pytest.raises(IngestError, match=where) as info:
        list(read_rows(path))
    assert str(path) in str(info.value)


def test_json_must_be_an_array(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('{"ZZBH": "1"}', "utf-8")
    with pytest.raises(IngestError, match="must be an array of objects"):
        read_rows(path)


def test_jsonl_keeps_the_bad_line_text(tmp_path: Path) -> None:
    df = read_all(M.HERE / "bad" / "bad-line.jsonl")
    assert df[LINE].tolist() == [1, 2, 3]
    assert df[EXTRA].iloc[1] == ('{"证照编号": "33010',)
    assert df[PROBLEMS].iloc[1][0]["message"].startswith("line 2 is not JSON")


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.text()))
def test_json_scalars_become_the_text_they_were(value: object) -> None:
    text = value_text(value)
    assert isinstance(text, str)
    if isinstance(value, str):
        assert text == value
    elif value is None:
        assert text == ""
    else:
        assert json.loads(text) == value


# --- PDFs -----------------------------------------------------------------------------------


def test_form_fields_map_titles_codes_and_the_mapping() -> None:
    data = M.form_pdf({"证照编号": "1", "CZZT": "甲", "企业代码": "X", "备注": "b"})
    fields = read_pdf(data, file="f.pdf",
                      options=ReadOptions(type_code=BIZ, mapping={"企业代码": "CZZTDM"}))
    assert fields == {"ZZBH": "1", "CZZT": "甲", "CZZTDM": "X", "备注": "b"}


def test_text_layer_uses_the_type_rule() -> None:
    r = M.row(5)
    fields = read_pdf(M.text_pdf(M.face_lines(r)), file="t.pdf", options=OPTS)
    assert fields["CZZTDM"] == r["持证主体代码"] and fields["CZZT"] == r["持证主体"]
    assert (fields["ZZYXQQSRQ"], fields["ZZYXQJZRQ"]) == ("2020-03-01", "长期")
    assert fields["ZZBFRQ"] == "2024-01-05" and fields["ZZBH"] == r["证照编号"]


def test_default_text_rule_reads_title_colon_value() -> None:
    lines = ["证照编号：1", "持证主体： 王芳", "性别：男"]
    fields = read_pdf(M.text_pdf(lines), file="t.pdf",
                      options=ReadOptions(type_code="11100000MB15645531001"))
    assert fields == {"ZZBH": "1", "CZZT": "王芳", "KZ_XB": "男"}


def test_signed_record_wins_over_the_form_and_is_taken_verbatim() -> None:
    record = {"ZZLXDM": BIZ, "ZZBH": "1", "CZZT": "甲", "ZZYXQJZRQ": "长期"}
    data = M.record_pdf(json.dumps(record, ensure_ascii=False).encode(),
                        visible={"证照编号": "something else"})
    assert read_pdf(data, file="r.pdf", options=OPTS) == record


@pytest.mark.parametrize(("name", "message"), [
    ("truncated.pdf", "truncated: the file has no %%EOF"),
    ("encrypted.pdf", "encrypted: a password is needed"),
    ("not-a-pdf.pdf", "not a PDF"),
    ("empty-form.pdf", "no license found in it"),
    ("wrong-type.pdf", "a license of type 11100000MB0143028R002, not 11100000MB0143028R001"),
])
def test_unreadable_pdfs_say_why(name: str, message: str) -> None:
    with pytest.raises(StockPdfError, match=message) as info:
        read_pdf((M.HERE / "bad" / name).read_bytes(), file=name, options=OPTS)
    assert str(info.value).startswith(name)


def test_malformed_record_is_unreadable() -> None:
    data = M.form_pdf({}, info={RECORD_KEY: "{not json"})
    with pytest.raises(StockPdfError, match="/LicenseRecord is not JSON"):
        read_pdf(data, file="r.pdf", options=OPTS)


def test_pdf_garbage_between_header_and_eof_is_a_row_problem(tmp_path: Path) -> None:
    path = tmp_path / "g.pdf"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF\n")
    df = read_all(path)
    assert df[PROBLEMS].iloc[0][0]["code"] == "UNREADABLE_FILE"
    assert len(df) == 1 and df[LINE].tolist() == [1]


# --- archives -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "why"), [
    ("../x.pdf", "climbs out"), ("a/../../x.pdf", "climbs out"), ("/etc/x", "absolute"),
    ("C:/x.pdf", "drive letter"), ("a\\..\\x.pdf", "backslashes"), ("a\x00.pdf", "NUL"),
])
def test_unsafe_member_names(name: str, why: str) -> None:
    assert why in (unsafe_name(name) or "")


@pytest.mark.parametrize("name", ["a.pdf", "存量/营业执照 1.pdf", "a..b.pdf", ".hidden.pdf"])
def test_safe_member_names(name: str) -> None:
    assert unsafe_name(name) is None


def _zip(members: list[tuple[str, bytes]]) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(M.zip_bytes(members)))


def test_archive_limits_are_checked_before_decompressing() -> None:
    files = [(f"{i}.pdf", b"x" * 100) for i in range(5)]
    with pytest.raises(LimitError, match=r"more than 4 archive members \(5\)"):
        check_zip(_zip(files), file="z.zip", limits=Limits(max_members=4))
    with pytest.raises(LimitError, match="bytes uncompressed in one member"):
        check_zip(_zip(files), file="z.zip", limits=Limits(max_member_bytes=99))
    with pytest.raises(LimitError, match="bytes uncompressed in all members"):
        check_zip(_zip(files), file="z.zip", limits=Limits(max_uncompressed_bytes=499))
    assert len(check_zip(_zip(files), file="z.zip")) == 5


def test_zip_bomb_is_refused_by_ratio() -> None:
    with pytest.raises(ArchiveError, match=r"zip bomb, refused \(Limits.max_ratio is 200\)"):
        list_members(M.HERE / "bad" / "zip-bomb.zip")


def test_encrypted_zip_member_is_refused(tmp_path: Path) -> None:
    raw = bytearray(M.zip_bytes([("a.pdf", b"%PDF")], deflate=False))
    # Set the "encrypted" flag bit in the local and central headers.
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):
        at = raw.find(sig)
        flag_at = at + (6 if sig == b"PK\x03\x04" else 8)
        raw[flag_at] |= 1
    path = tmp_path / "e.zip"
    path.write_bytes(bytes(raw))
    with pytest.raises(ArchiveError, match="is encrypted"):
        list_members(path)


def test_members_in_name_order_without_litter() -> None:
    members = list_members(M.HERE / "formats" / "licenses.zip")
    assert [(m.line, m.name) for m in members] == [(1, "存量/1.pdf"), (2, "存量/2.pdf"),
                                                   (3, "存量/3.pdf")]


def test_archive_rows_and_chunks(tmp_path: Path) -> None:
    chunks = list(read_rows(M.HERE / "formats" / "licenses.zip", chunk_rows=2, options=OPTS))
    assert [c[LINE].tolist() for c in chunks] == [[1, 2], [3]]
    assert chunks[0].attrs["progress"] == (2, 3)
    assert chunks[0].attrs["source"]["members"][0] == [1, "存量/1.pdf",
                                                       chunks[0].attrs["source"]["members"][0][2]]
    assert chunks[1].loc[0, "CZZTDM"] == M.uscc(3)


def test_pack_folder_is_deterministic_and_refuses_symlinks(tmp_path: Path) -> None:
    folder = tmp_path / "pdfs"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.pdf").write_bytes(b"B")
    (folder / "sub" / "a.pdf").write_bytes(b"A")
    (folder / ".DS_Store").write_bytes(b"junk")
    assert pack_folder(folder, tmp_path / "1.zip") == ["b.pdf", "sub/a.pdf"]
    pack_folder(folder, tmp_path / "2.zip")
    assert (tmp_path / "1.zip").read_bytes() == (tmp_path / "2.zip").read_bytes()
    (folder / "link.pdf").symlink_to(tmp_path / "1.zip")
    with pytest.raises(ArchiveError, match="symbolic link"):
        pack_folder(folder, tmp_path / "3.zip")


# --- limits ---------------------------------------------------------------------------------


def test_rows_limit_stops_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("ZZBH\n" + "".join(f"{i}\n" for i in range(10)), "utf-8")
    chunks = read_rows(path, chunk_rows=3, options=ReadOptions(limits=Limits(max_rows=5)))
    with pytest.raises(LimitError, match=r"more than 5 rows \(6\)"):
        list(chunks)


def test_file_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("ZZBH\n1\n", "utf-8")
    with pytest.raises(LimitError, match=r"more than 3 bytes"):
        read_rows(path, options=ReadOptions(limits=Limits(max_file_bytes=3)))


def test_long_cell_is_cut_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("ZZBH,KZ_JYFW\n1," + "x" * 50 + "\n2,y\n", "utf-8")
    df = read_all(path, ReadOptions(limits=Limits(max_cell_chars=10)))
    assert df.loc[0, "KZ_JYFW"] == "x" * 10
    assert df[PROBLEMS].iloc[0][0]["code"] == "CELL_TOO_LONG"
    assert df[PROBLEMS].iloc[1] == ()


def test_csv_field_over_the_hard_limit_is_a_file_error(tmp_path: Path) -> None:
    # A quote that never closes swallows the file into one field: refused, naming the line.
    path = tmp_path / "b.csv"
    path.write_text('ZZBH,KZ_JYFW\n1,"' + "x" * ((1 << 20) + 10) + '"\n', "utf-8")
    with pytest.raises(IngestError, match="line 2: malformed CSV"):
        list(read_rows(path))


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=1, max_value=9), st.lists(st.sampled_from([",", ";", "\t"]),
                                                       min_size=1, max_size=1))
def test_csv_header_row_skips_any_number_of_title_lines(skip: int, sep: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "b.csv"
        titles = "".join(f"标题{i}\n" for i in range(skip))
        path.write_text(titles + sep[0].join(["ZZBH", "CZZT"]) + "\nA,甲\n".replace(",", sep[0]),
                        "utf-8")
        df = read_all(path, ReadOptions(header_row=skip + 1))
        assert df[["ZZBH", "CZZT"]].values.tolist() == [["A", "甲"]]
        assert df[LINE].tolist() == [skip + 2]
