"""Delimited files (registry.ingest.delimited) read through read_rows: the fixture batches,
separators, text cells, line numbers, ragged rows, header checks, malformed CSV, suffixes."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.errors import IngestError
from registry.ingest.delimited import sniff_separator
from registry.ingest.frames import EXTRA, LINE, ReadOptions
from registry.ingest.reader import read_rows
from tests.conftest import REPO
from tests.support import ingest as ingest_support

BATCHES = REPO / "fixtures" / "batches"


def write(tmp_path: Path, text: str, *, encoding: str = "utf-8", name: str = "batch.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def read_all(path: Path, **kwargs: int) -> pd.DataFrame:
    return pd.concat(list(read_rows(path, **kwargs)), ignore_index=True)


def load_make_batches() -> ModuleType:
    script = REPO / "fixtures" / "make_batches.py"
    spec = importlib.util.spec_from_file_location("make_batches", script)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- fixtures ------------------------------------------------------------------------------


def test_fixtures_are_what_make_batches_writes(tmp_path: Path) -> None:
    written = load_make_batches().main(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in BATCHES.glob("*.csv"))
    for path in written:
        assert path.read_bytes() == (BATCHES / path.name).read_bytes(), path.name


def test_gbk_fixture_reads_to_the_same_cells_as_the_utf8_one() -> None:
    utf8 = read_all(BATCHES / "business-licenses.csv")
    gbk = read_all(BATCHES / "business-licenses-gbk.csv")
    assert list(gbk.columns[:3]) == ["ZZBH", "CZZT", "CZZTDM"]
    assert len(utf8) == len(gbk) == 40
    assert utf8.to_numpy().tolist() == gbk.to_numpy().tolist()


def test_bom_is_not_part_of_the_first_header() -> None:
    chunk = next(read_rows(BATCHES / "food-permits.csv"))
    assert chunk.columns[0] == "证照名称"


def test_fixture_line_numbers_count_the_quoted_line_break() -> None:
    df = read_all(BATCHES / "business-licenses.csv")
    # Row 7 holds a 经营范围 quoted over two lines: rows 1-7 are on lines 2-8, row 8 on line 10.
    assert df[LINE].tolist() == [*range(2, 9), *range(10, 43)]
    assert "\n" in df.loc[6, "经营范围"]


def test_tab_separated_fixture() -> None:
    df = read_all(BATCHES / "physicians.csv")
    assert list(df.columns[:3]) == ["证照编号", "持证主体", "持证主体代码"]
    assert len(df) == 20


# --- separators and text cells -------------------------------------------------------------


@pytest.mark.parametrize("sep", [",", "\t", ";"])
def test_separator_is_sniffed_from_the_header(tmp_path: Path, sep: str) -> None:
    rows = [["ZZBH", "CZZT", "KZ_ZS"], ["A1", "示范市甲公司", "示范市东城区, 学院路1号"]]
    text = "\n".join(sep.join(f'"{c}"' if "," in c else c for c in r) for r in rows) + "\n"
    df = read_all(write(tmp_path, text))
    assert df.loc[0, ["ZZBH", "CZZT", "KZ_ZS"]].tolist() == rows[1]


def test_separator_counts_only_outside_quotes() -> None:
    assert sniff_separator('"a;b;c",d,e') == ","
    assert sniff_separator("single") == ","


def test_separator_tie_is_refused() -> None:
    with pytest.raises(IngestError, match="cannot tell the separator"):
        sniff_separator("a,b;c")


def test_cells_stay_text(tmp_path: Path) -> None:
    cells = ["91330100MA2H3K4L4W", "110105195001010039", "0571", "00123", "1e5", "NaN", "NULL",
             "", "TRUE", "3.10", " 7 "]
    header = ",".join(f"c{i}" for i in range(len(cells)))
    df = read_all(write(tmp_path, header + "\n" + ",".join(cells) + "\n"))
    assert df.iloc[0, : len(cells)].tolist() == cells
    assert all(isinstance(df[f"c{i}"].dtype, pd.StringDtype) for i in range(len(cells)))
    assert not df.isna().to_numpy().any()


# --- lines, chunks, ragged rows ------------------------------------------------------------


def test_line_numbers_with_quoted_line_breaks_blank_lines_and_crlf(tmp_path: Path) -> None:
    text = (
        'ZZBH,KZ_JYFW\r\n'
        'A1,"餐饮服务；\r\n食品销售"\r\n'   # lines 2-3
        '\r\n'                               # line 4: blank, skipped
        'A2,零售\r\n'                        # line 5
        ',\r\n'                              # line 6: all cells empty, skipped
        'A3,"a\nb\nc"\r\n'                   # lines 7-9
        'A4,x\r\n'                           # line 10
    )
    df = read_all(write(tmp_path, text))
    assert df["ZZBH"].tolist() == ["A1", "A2", "A3", "A4"]
    assert df[LINE].tolist() == [2, 5, 7, 10]
    assert df.loc[0, "KZ_JYFW"] == "餐饮服务；\r\n食品销售"


def test_chunks_and_their_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "ZZBH\n" + "".join(f"A{i}\n" for i in range(5)))
    chunks = list(read_rows(path, chunk_rows=2))
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert [c[LINE].tolist() for c in chunks] == [[2, 3], [4, 5], [6]]
    assert chunks[1].index.tolist() == [0, 1]


@pytest.mark.parametrize("text", ["证照编号,持证主体\n", "证照编号,持证主体\n\n,,\n"])
def test_header_only_file_has_no_data_rows(tmp_path: Path, text: str) -> None:
    rows = read_rows(write(tmp_path, text))  # the header itself is fine
    with pytest.raises(IngestError, match=r"no data rows below the header \(line 1\)"):
        next(rows)


def test_short_rows_are_padded_and_long_rows_keep_their_extra_cells(tmp_path: Path) -> None:
    text = "ZZBH,CZZT,KZ_ZS\nA1\nA2,乙,丙,,\nA3,甲,示范市东城区,学院路1号,\n"
    df = read_all(write(tmp_path, text))
    assert df.loc[0, ["ZZBH", "CZZT", "KZ_ZS"]].tolist() == ["A1", "", ""]
    assert df[EXTRA].tolist() == [(), (), ("学院路1号",)]
    assert df.loc[2, "KZ_ZS"] == "示范市东城区"


def test_trailing_empty_header_cells_are_dropped(tmp_path: Path) -> None:
    df = read_all(write(tmp_path, "ZZBH,CZZT,,\nA1,甲,,\n"))
    assert list(df.columns) == ["ZZBH", "CZZT", LINE, EXTRA]
    assert df[EXTRA].tolist() == [()]


# --- files that cannot be read -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "header line (line 1) is empty"),
        ("\nZZBH\nA1\n", "header line (line 1) is empty"),
        ("ZZBH,CZZT,ZZBH\nA1,甲,A1\n", "duplicate header columns: ZZBH"),
        ("ZZBH,,CZZT\nA1,,甲\n", "header column 2 has no name"),
        ("ZZBH,LINE\nA1,3\n", "reserved column names: LINE"),
    ],
)
def test_header_problems_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(IngestError, match=re.escape(message)) as info:
        read_rows(path)
    assert info.value.file == str(path)


def test_unclosed_quote_names_the_line_it_opened_on(tmp_path: Path) -> None:
    path = write(tmp_path, 'ZZBH,CZZT\nA1,甲\nA2,"乙\nA3,丙\n')
    chunks = read_rows(path)
    with pytest.raises(IngestError, match="line 3: malformed CSV"):
        list(chunks)


def test_text_after_a_closing_quote_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, 'ZZBH,CZZT\nA1,"甲"乙\n')
    with pytest.raises(IngestError, match="line 2: malformed CSV"):
        list(read_rows(path))


def test_unsupported_suffix_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "ZZBH\nA1\n", name="batch.docx")
    with pytest.raises(IngestError, match=r"unsupported file type \.docx; supported: ") as info:
        read_rows(path)
    assert info.value.file == str(path)


def test_suffix_is_case_insensitive(tmp_path: Path) -> None:
    assert len(read_all(write(tmp_path, "ZZBH\nA1\n", name="BATCH.CSV"))) == 1


def test_chunk_rows_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chunk_rows"):
        read_rows(write(tmp_path, "ZZBH\nA1\n"), chunk_rows=0)


def test_header_cell_quoted_over_two_lines(tmp_path: Path) -> None:
    df = read_all(write(tmp_path, 'ZZBH,"持证\n主体"\nA1,甲\n'))
    assert list(df.columns[:2]) == ["ZZBH", "持证\n主体"]
    assert df[LINE].tolist() == [3]


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
        df = ingest_support.read_all(path, ReadOptions(header_row=skip + 1))
        assert df[["ZZBH", "CZZT"]].values.tolist() == [["A", "甲"]]
        assert df[LINE].tolist() == [skip + 2]
