"""License types: documents, the entries people write, catalogues (registry/license/types.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from registry.errors import ConfigError
from registry.license.codes import uscc_is_valid
from registry.license.types import (
    CSV_COLUMNS,
    catalogue,
    document_of,
    entry_of,
    parse_type,
    read_catalogue,
)

SIX = {"营业执照", "食品经营许可证", "医师执业证书", "建筑施工企业安全生产许可证",
       "道路运输经营许可证", "药品经营许可证"}


def test_the_example_catalogue_holds_six_common_types_each_saying_where_it_came_from() -> None:
    types = catalogue()
    assert {t.name for t in types.values()} == SIX
    for t in types.values():
        assert uscc_is_valid(t.authority_code) and t.code.startswith(t.authority_code)
        assert t.schema.get("description"), f"{t.name}: say where its face fields came from"
        assert t.face_fields and all(f.code.startswith("KZ_") for f in t.face_fields)


@pytest.mark.parametrize("code", sorted(catalogue()))
def test_an_entry_and_its_document_say_the_same(code: str) -> None:
    lt = catalogue()[code]
    again = parse_type(document_of(entry_of(lt), where="test"), where="test")
    assert again.schema == lt.schema and again.sha256 == lt.sha256


def _entry(**change: Any) -> dict[str, Any]:
    entry = entry_of(catalogue()["11100000MB17031387001"])
    entry.update(change)
    return entry


@pytest.mark.parametrize(("change", "message"), [
    ({"authority": {"name": "x", "code": "11100000MB17031388"}, "code": "11100000MB17031388001"},
     "defining authority's USCC 11100000MB17031388 fails its GB 32100 check"),
    ({"code": "11100000MB1703138700X"}, "must be the defining authority's USCC followed by"),
    ({"level": "乡"}, "issuing level '乡' is not one of 国家、省、市、县"),
    ({"holder_types": ["002"]}, r"holder types must be 001 \(USCC\) and/or 111"),
    ({"validity": {"max_years": 0}}, "max_years must be a whole number of years"),
    ({"pdf_text": ["(?P<KZ_NOPE>.+)"]}, "names no element of the type: KZ_NOPE"),
    ({"fields": [{"code": "ZZBH", "title": "x"}]}, "code 'ZZBH' must be KZ_"),
])
def test_a_bad_type_is_refused_naming_what_is_wrong(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_type(document_of(_entry(**change), where="药品.toml"), where="药品.toml")


def test_a_csv_catalogue_has_one_row_per_face_field(tmp_path: Path) -> None:
    path = tmp_path / "目录.csv"
    head = ",".join(CSV_COLUMNS)
    path.write_text(
        f"{head}\n"
        "11100000MB17031387002,第二类医疗器械经营备案凭证,国家药品监督管理局,11100000MB17031387,"
        "市,001,KZ_JYFS,经营方式,是,否\n"
        "11100000MB17031387002,第二类医疗器械经营备案凭证,国家药品监督管理局,11100000MB17031387,"
        "市,001,KZ_BARQ,备案日期,是,是\n", encoding="utf-8")
    [lt] = read_catalogue(path).values()
    assert [f.title for f in lt.face_fields] == ["经营方式", "备案日期"]
    assert lt.element("KZ_BARQ").is_date and lt.level == "市"
    path.write_text("type_code,type_name\nx,y\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"目录\.csv: a CSV catalogue needs the columns .*"
                                          r"\(missing: authority_name"):
        read_catalogue(path)
