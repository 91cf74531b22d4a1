"""JSON arrays and JSON Lines (registry.ingest.jsonl): streamed across blocks, keys that
appear late, syntax errors that name the place, a bad line kept as text (no database)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from registry.batch.reports import row_outcomes
from registry.batch.run import ingest_file
from registry.city.demo import MARKET
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import Batch
from registry.errors import IngestError
from registry.ingest.frames import EXTRA, LINE, PROBLEMS, ReadOptions
from registry.ingest.jsonl import value_text
from registry.ingest.limits import Limits
from registry.ingest.reader import read_rows
from tests.conftest import NOW, TODAY
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


def _problems(df: pd.DataFrame) -> list[list[tuple[str, str | None]]]:
    """Each row's reader problems as (code, column)."""
    return [[(p["code"], p["column"]) for p in found] for found in df[PROBLEMS]]


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("text", [
    f"[{DEEP}]",                                     # at top level: an item 100,000 deep
    f'[{{"ZZBH": "1"}}, {{"ZZBH": {DEEP}}}]',         # in a value
])
def test_json_array_nested_past_the_parser_fails_naming_the_item_and_the_bound(
        tmp_path: Path, text: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(text, "utf-8")
    with pytest.raises(IngestError, match=r"item \[\d\] is nested more than 20 levels deep "
                                          r"\(Limits.max_json_depth\)"):
        list(read_rows(path))


def test_jsonl_line_nested_deeper_than_the_bound_is_rejected_unparsed(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    lines = ['{"ZZBH": "1"}', '{"ZZBH": ' + "[" * 21 + "]" * 21 + "}",
             '{"ZZBH": ' + "[" * 19 + "]" * 19 + "}", '{"ZZBH": "[[[[[[[[[[[[[[[[[[[[[["}',
             DEEP, '{"ZZBH": "5"}']
    path.write_text("\n".join(lines) + "\n", "utf-8")
    df = read_all(path)
    assert df["ZZBH"].tolist() == ["1", "", "[" * 19 + "]" * 19, "[" * 22, "", "5"]
    assert _problems(df) == [[], [("BAD_JSON", None)], [("NESTED_VALUE", "ZZBH")], [],
                             [("BAD_JSON", None)], []]
    assert "nested more than 20 levels deep" in df[PROBLEMS].iloc[1][0]["message"]
    assert df[EXTRA].iloc[4] == (DEEP[:32_767],)  # the original text kept, cut to a cell


def test_json_item_deeper_than_the_bound_but_parsable_is_rejected_as_a_row(
        tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('[{"ZZBH": ' + "[" * 3 + "]" * 3 + '}, {"ZZBH": "2"}]', "utf-8")
    df = read_all(path, OPTS_DEPTH_2)
    assert df["ZZBH"].tolist() == ["", "2"]
    assert df[PROBLEMS].iloc[0][0]["message"] == ("item 0: 'ZZBH' is nested more than 2 "
                                                  "levels deep (Limits.max_json_depth)")


OPTS_DEPTH_2 = ReadOptions(limits=Limits(max_json_depth=2))


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_long_numbers_reject_their_row_and_numbers_stay_as_written(tmp_path: Path,
                                                                   suffix: str) -> None:
    items = ['{"ZZBH": "1", "KZ_ZCZB": 1e5}', '{"ZZBH": "2", "KZ_ZCZB": ' + "9" * 5000 + "}",
             '{"ZZBH": "3", "KZ_ZCZB": 3.14159265358979323846264338}',
             '{"ZZBH": "4", "KZ_ZCZB": -' + "1" * 99 + "}", '{"ZZBH": "5", "KZ_ZCZB": -'
             + "1" * 100 + "}"]
    path = tmp_path / f"b{suffix}"
    path.write_text("[" + ",\n".join(items) + "]" if suffix == ".json" else "\n".join(items),
                    "utf-8")
    df = read_all(path)
    assert df["KZ_ZCZB"].tolist() == ["1e5", "9" * 20 + "…", "3.14159265358979323846264338",
                                      "-" + "1" * 99, "-" + "1" * 19 + "…"]
    assert _problems(df) == [[], [("BAD_JSON", "KZ_ZCZB")], [], [], [("BAD_JSON", "KZ_ZCZB")]]
    assert "a number of 5000 characters; at most 100" in df[PROBLEMS].iloc[1][0]["message"]


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_a_lone_surrogate_rejects_its_row_only(tmp_path: Path, suffix: str) -> None:
    items = ['{"ZZBH": "1", "CZZT": "甲"}', r'{"ZZBH": "2", "CZZT": "a\ud800b"}',
             r'{"ZZBH": "3", "\udfff": "x", "CZZT": "\ud83d\ude00"}']  # a pair is fine
    path = tmp_path / f"b{suffix}"
    path.write_text("[" + ",\n".join(items) + "]" if suffix == ".json" else "\n".join(items),
                    "utf-8")
    df = read_all(path)
    assert df["CZZT"].tolist() == ["甲", "a\ufffdb", "😀"]
    assert _problems(df) == [[], [("BAD_JSON", "CZZT")], [("BAD_JSON", "\ufffd")]]
    assert "lone surrogate" in df[PROBLEMS].iloc[1][0]["message"]
    # nothing in the chunk is left that UTF-8 (the database, a report) cannot hold
    df.drop(columns=[PROBLEMS]).to_csv(tmp_path / "out.csv", encoding="utf-8")


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_duplicate_keys_reject_the_row_naming_the_key(tmp_path: Path, suffix: str) -> None:
    items = ['{"ZZBH": "1", "CZZT": "甲"}', '{"ZZBH": "2", "CZZT": "乙", "ZZBH": "3"}']
    path = tmp_path / f"b{suffix}"
    path.write_text("[" + ",\n".join(items) + "]" if suffix == ".json" else "\n".join(items),
                    "utf-8")
    df = read_all(path)
    assert _problems(df) == [[], [("DUPLICATE_KEY", "ZZBH")]]
    assert "the key ZZBH is given more than once" in df[PROBLEMS].iloc[1][0]["message"]


@pytest.mark.parametrize(("name", "text"), [("b.json", "[ ]"), ("b.jsonl", "\n\n")])
def test_no_objects_is_no_data_rows(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    with pytest.raises(IngestError, match="no objects in the file"):
        list(read_rows(path))


def test_lone_surrogate_among_good_rows_is_judged_row_by_row(world: Engine, settings: Settings,
                                                             tmp_path: Path) -> None:
    """On SQLite and PostgreSQL: the bad row is stored rejected, the others accepted."""
    path = tmp_path / "b.jsonl"
    shutil.copy(M.HERE / "bad" / "lone-surrogate.jsonl", path)
    report = ingest_file(world, settings, path, department_uscc=MARKET.uscc, type_code=M.BIZ,
                         uploader="clerk", at=NOW, today=TODAY, workers=1)
    assert (report.accepted, report.rejected) == (2, 1)
    with session_scope(world) as session:
        rows = row_outcomes(session, report.batch_id)
        assert session.get_one(Batch, report.batch_id).status == "done"
    assert [(r["line"], r["outcome"]) for r in rows] == [(1, "accepted"), (2, "rejected"),
                                                         (3, "accepted")]
    assert rows[1]["reasons"][0]["code"] == "BAD_JSON"


def test_jsonl_line_longer_than_the_bound_is_rejected_and_not_held(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    long = '{"ZZBH": "' + "甲" * 250 + '"}'
    path.write_text('{"ZZBH": "1"}\n' + long + '\n{"ZZBH": "3"}\n' + long, "utf-8")
    df = read_all(path, ReadOptions(limits=Limits(max_item_chars=100)))
    assert df["ZZBH"].tolist() == ["1", "", "3", ""]
    assert df[LINE].tolist() == [1, 2, 3, 4]
    assert _problems(df) == [[], [("BAD_JSON", None)], [], [("BAD_JSON", None)]]
    assert df[PROBLEMS].iloc[1][0]["message"] == ("line 2 is not JSON (longer than 100 "
                                                  "characters (Limits.max_item_chars))")
    assert df[EXTRA].iloc[1] == (long[:100],)


def test_json_item_over_many_blocks_is_read_and_one_over_the_bound_fails(
        tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('[{"ZZBH": "1", "JYFW": "' + "y" * 300_000 + '"}, {"ZZBH": "2"}]', "utf-8")
    path.with_name("c.json").write_text('[{"ZZBH": "0"}, {"ZZBH": "' + "y" * 300_000 + '"}, '
                                        '{"ZZBH": "2"}]', "utf-8")
    df = read_all(path)  # parsed again at doubling sizes, not once per 64 KiB block
    assert df["ZZBH"].tolist() == ["1", "2"]
    assert _problems(df) == [[("CELL_TOO_LONG", "JYFW")], []]
    with pytest.raises(IngestError, match=r"line 1, column 17: item \[1\] is longer than "
                                          r"100000 characters \(Limits.max_item_chars\)"):
        read_all(path.with_name("c.json"), ReadOptions(limits=Limits(max_item_chars=100_000)))
