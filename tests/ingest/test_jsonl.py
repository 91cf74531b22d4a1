"""JSON arrays and JSON Lines (registry.ingest.jsonl): streamed across blocks, keys that
appear late, syntax errors that name the place, a bad line kept as text (no database)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.errors import IngestError
from registry.ingest.frames import EXTRA, LINE, PROBLEMS
from registry.ingest.jsonl import value_text
from registry.ingest.reader import read_rows
from tests.support.ingest import CASES, read_all

M = CASES


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
