"""Mapping files (registry.ingest.mapping): a department's column names mapped to elements,
mapping errors that say where, the mapping schema, and what a header that lacks a required
column says to do (map_header; the fixtures' messages are in tests/ingest/test_corpus.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry.errors import IngestError, MappingError
from registry.i18n import language
from registry.ingest.frames import RESERVED_COLUMNS, ReadOptions
from registry.ingest.mapping import load_mapping, map_header, parse_mapping
from registry.ingest.reader import read_rows
from registry.ingest.rules import header_map
from registry.license.types import catalogue
from tests.conftest import FIXTURES
from tests.support.ingest import CASES

TYPES = catalogue()
BIZ, FOOD = (TYPES[c] for c in ("11100000MB0143028R001", "11100000MB0143028R002"))


def test_mapping_file_loads_and_maps_columns() -> None:
    m = load_mapping(FIXTURES / "mappings" / "market-bureau-xlsx.json", license_type=BIZ)
    assert (m.sheet, m.header_row, m.ignore) == ("营业执照", 3, ("序号",))
    hmap = header_map(["序号", "企业名称", "统一社会信用代码", "成立日期", "备注"], BIZ,
                      mapping=m.columns, ignore=m.ignore)
    assert dict(hmap.mapping) == {"企业名称": "CZZT", "统一社会信用代码": "CZZTDM",
                                  "成立日期": "KZ_CLRQ"}
    assert hmap.unknown == ("备注",) and "序号" in hmap.ignored


@pytest.mark.parametrize(("doc", "message"), [
    ({}, r"\(top\): 'columns' is a required property"),
    ({"columns": {"a": "czzt"}}, r"columns/a: 'czzt' does not match"),
    ({"columns": {}, "header_row": 0}, r"header_row: 0 is less than the minimum of 1"),
    ({"columns": {}, "sheets": "x"}, r"Additional properties are not allowed"),
    ({"columns": {}, "type": "11100000MB0143028R002"}, r"the mapping is for license type"),
    ({"columns": {"a": "ZZBS"}}, r"columns/a: ZZBS is filled in by the registry"),
    ({"columns": {"a": "KZ_XB"}}, r"columns/a: KZ_XB is not an element of 营业执照"),
    ({"columns": {"a": "CZZT", "b": "CZZT"}}, r"columns/b: CZZT is already given by 'a'"),
])
def test_bad_mappings_say_where(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(MappingError, match=message) as info:
        parse_mapping(doc, license_type=BIZ, source="m.json")
    assert str(info.value).startswith("m.json: ")


def test_mapping_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("{columns:", "utf-8")
    with pytest.raises(MappingError, match="not JSON"):
        load_mapping(path, license_type=BIZ)
    with pytest.raises(MappingError, match="no such mapping file"):
        load_mapping(tmp_path / "none.json", license_type=BIZ)


def test_mapping_schema_is_valid_json_schema() -> None:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(
        json.loads((FIXTURES.parent / "schemas" / "mapping.schema.json").read_text("utf-8")))
    assert FOOD.code  # the food type exists for the type-mismatch case above


def said(path: Path, lang: str) -> str:
    """What reading ``path``'s header as a 营业执照 says in ``lang`` (it must fail)."""
    options = ReadOptions(license_type=BIZ)
    first = next(read_rows(path, chunk_rows=1, options=options))
    columns = [c for c in first.columns if c not in RESERVED_COLUMNS]
    with language(lang), pytest.raises(IngestError) as info:
        map_header(path, columns, BIZ, options, file=path.name)
    return str(info.value)


def test_a_header_lower_in_a_sheet_is_pointed_at(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    path.write_bytes(CASES.workbook([("营业执照", [
        ["营业执照存量数据"], ["导出：登记系统"], CASES.HEADER,
        [CASES.row(1)[h] for h in CASES.HEADER]])]))
    assert ("; sheet '营业执照' row 3 looks like the header (the rows above it are titles): "
            'give --header-row 3 ("header_row": 3 in a mapping file)') in said(path, "en")
    assert ("；工作表“营业执照”第3行像是表头（其上各行为标题）：请加上 --header-row 3"
            in said(path, "zh"))
    assert "--mapping" not in said(path, "en")  # row 3 gives every column: nothing to map
    told = ReadOptions(license_type=BIZ, header_row=3)  # told row 3, it reads without a word
    first = next(read_rows(path, chunk_rows=1, options=told))
    columns = [c for c in first.columns if c not in RESERVED_COLUMNS]
    assert not map_header(path, columns, BIZ, told, file=path.name).missing


def test_no_close_column_gives_a_placeholder_example(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text(CASES.csv_text([CASES.row(1)]).replace("经营范围", "ABC", 1), "utf-8")
    assert said(path, "en").endswith('e.g. {"columns": {"your column name": "KZ_JYFW"}}')
    assert said(path, "zh").endswith('例如 {"columns": {"您的列名": "KZ_JYFW"}}')


def test_two_columns_giving_one_element_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    path.write_text(CASES.csv_text([CASES.row(1)]).replace("住所", "CZZT", 1), "utf-8")
    assert said(path, "en").startswith(
        "twice.csv: columns '持证主体' and 'CZZT' both give 持证主体 (CZZT); delete one of them, "
        "or map it to another element with --mapping")
    assert said(path, "zh").startswith("twice.csv：“持证主体”列和“CZZT”列都对应持证主体（CZZT）；"
                                       "请删除其中一列")


@pytest.mark.parametrize(("name", "content", "english", "chinese"), [
    ("memo.txt", "今天上传营业执照。\n", "unsupported file type .txt: the file is plain text",
     "不支持的文件类型 .txt：该文件是纯文本"),
    ("empty.txt", "", "unsupported file type .txt: the file is plain text",
     "不支持的文件类型 .txt：该文件是纯文本"),
    ("book.csv", None, "unsupported file type .csv: the file is an Excel workbook; rename it to "
     ".xlsx and upload it again", "该文件实际是Excel 工作簿；请将扩展名改为 .xlsx 后重新上传"),
    ("scan.json", "\x89PNG\r\n", "unsupported file type .json: the file is a PNG image; export "
     "the licenses as a table", "该文件实际是PNG 图片；请将证照导出为表格"),
    ("licenses.doc", "证照", "unsupported file type .doc; supported: .csv, .json, .jsonl, .ndjson, "
     ".pdf, .tsv, .txt, .xlsx, .zip", "不支持的文件类型 .doc；支持：.csv"),
])
def test_unsupported_files_say_what_they_are(tmp_path: Path, name: str, content: str | None,
                                             english: str, chinese: str) -> None:
    path = tmp_path / name
    if content is None:
        path.write_bytes(CASES.workbook([("Sheet1", [["a"]])]))
    else:
        path.write_bytes(content.encode("latin-1" if content.startswith("\x89") else "utf-8"))
    for lang, text in (("en", english), ("zh", chinese)):
        with language(lang), pytest.raises(IngestError) as info:
            read_rows(path, options=ReadOptions(license_type=BIZ))
        assert str(info.value).startswith(str(path)) and text in str(info.value)
