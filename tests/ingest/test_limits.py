"""The limits on an upload (registry.ingest.limits) as a reader applies them: rows, file size,
cell length (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.errors import LimitError
from registry.ingest.frames import PROBLEMS, ReadOptions
from registry.ingest.limits import Limits
from registry.ingest.reader import read_rows
from tests.support.ingest import read_all


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
