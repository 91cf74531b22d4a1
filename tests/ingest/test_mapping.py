"""Mapping files (registry.ingest.mapping): a department's column names mapped to elements,
mapping errors that say where, and the mapping schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry.errors import MappingError
from registry.ingest.mapping import load_mapping, parse_mapping
from registry.ingest.rules import header_map
from registry.license.types import catalogue
from tests.conftest import FIXTURES

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
