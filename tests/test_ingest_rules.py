"""The rules issue 4 added: GB 11714 segment, known codes, declared holder type, date order,
formulas, reader problems, mappings; and the date parser's round trip over every form."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.errors import MappingError
from registry.ingest.frames import EXTRA, LINE, PROBLEMS, problem
from registry.ingest.mapping import load_mapping, parse_mapping
from registry.ingest.normalize import EXCEL_EPOCH, excel_serial, parse_date
from registry.ingest.rules import (
    ACCEPTED,
    FILTERED,
    KNOWN_EXCEPTION,
    OUTCOME,
    RAW,
    REASONS,
    REJECTED,
    evaluate,
    header_map,
    org_segment_valid_mask,
)
from registry.license.codes import USCC_ALPHABET, org_code_check, org_code_is_valid, uscc_check
from registry.license.types import load_license_types
from tests.conftest import FIXTURES

TYPES = load_license_types()
BIZ, FOOD, DOCTOR = (TYPES[c] for c in ("11100000MB0143028R001", "11100000MB0143028R002",
                                        "11100000MB15645531001"))
TODAY = date(2026, 11, 27)
PILOT = "91350203M0001QAY9B"  # a real early pilot USCC that fails GB 32100 (STANDARDS.md §4.1)


def good_uscc(n: int) -> str:
    org = f"MA{n:06d}"
    body = f"91330102{org}{org_code_check(org)}"
    return body + uscc_check(body)


def biz(**changes: str) -> dict[str, str]:
    return {"证照编号": "330102000000001", "持证主体": "示范市甲有限公司",
            "持证主体代码": good_uscc(1), "颁证日期": "2024-01-05", "有效期起始日期": "2020-03-01",
            "有效期截止日期": "长期", "类型": "有限责任公司", "法定代表人": "张三",
            "注册资本": "100万元", "成立日期": "2020-03-01", "住所": "示范市一路1号",
            "经营范围": "日用百货销售", **changes}


def doctor(**changes: str) -> dict[str, str]:
    return {"证照编号": "1", "持证主体": "王芳", "持证主体代码": "110105195001010039", "性别": "男",
            "出生日期": "1950-01-01", "医师级别": "执业医师", "执业类别": "临床",
            "执业范围": "内科专业", "执业地点": "示范市医院", "颁证日期": "2020-05-06",
            "有效期起始日期": "2020-05-06", "有效期截止日期": "长期", **changes}


def run(rows: list[dict[str, str]], lt: Any = BIZ, *, problems: dict[int, Any] | None = None,
        known: frozenset[str] = frozenset(), **kw: Any) -> pd.DataFrame:
    columns = list(rows[0])
    df = pd.DataFrame([[r.get(c, "") for c in columns] for r in rows], columns=columns, dtype=str)
    df[LINE] = range(2, 2 + len(rows))
    df[EXTRA] = pd.Series([()] * len(rows), dtype=object)
    if problems:
        df[PROBLEMS] = pd.Series([problems.get(i, ()) for i in range(len(rows))], dtype=object)
    return evaluate(df, lt, header_map(columns, lt, **kw), today=TODAY, seen_numbers=set(),
                    known_codes=known)


def codes(out: pd.DataFrame, i: int = 0) -> list[tuple[str, str | None]]:
    return [(r["code"], r["element"]) for r in out[REASONS].iloc[i]]


# --- holder codes ---------------------------------------------------------------------------


@given(st.lists(st.text(alphabet=USCC_ALPHABET + "IOSVZx", min_size=16, max_size=19),
                max_size=50))
def test_org_segment_mask_agrees_with_gb_11714(codes_: list[str]) -> None:
    mask = org_segment_valid_mask(codes_).tolist()
    assert mask == [len(c) == 18 and org_code_is_valid(c[8:17]) for c in codes_]


def test_uscc_with_a_bad_organization_segment_is_rejected_naming_gb_11714() -> None:
    org8 = "MA000001"
    wrong = next(c for c in "0123456789" if c != org_code_check(org8))
    body = "91330102" + org8 + wrong
    code = body + uscc_check(body)
    out = run([biz(持证主体代码=code)])
    assert codes(out) == [("BAD_HOLDER_CODE", "CZZTDM")]
    message = out[REASONS].iloc[0][0]["message"]
    assert f"organization-code segment (positions 9-17) '{org8 + wrong}'" in message
    assert f"GB 11714 check (expected {org_code_check(org8)})" in message


def test_known_code_is_accepted_and_flagged_not_dropped() -> None:
    out = run([biz(持证主体代码=PILOT), biz(证照编号="2", 持证主体代码=PILOT.lower(),
                                       有效期截止日期="2025-01-01", 有效期起始日期="2020-01-01")],
              known=frozenset({PILOT}))
    assert out[OUTCOME].tolist() == [ACCEPTED, FILTERED]
    assert codes(out, 0) == [(KNOWN_EXCEPTION, "CZZTDM")]
    assert codes(out, 1) == [("EXPIRED", "ZZYXQJZRQ"), (KNOWN_EXCEPTION, "CZZTDM")]
    assert "on the known-legitimate list: accepted and flagged" in out[REASONS].iloc[0][0][
        "message"]
    assert out["CZZTDMLXDM"].tolist() == ["001", "001"]


def test_unknown_failing_code_is_still_rejected() -> None:
    out = run([biz(持证主体代码=PILOT)], known=frozenset({"SOMETHING ELSE"}))
    assert out[OUTCOME].tolist() == [REJECTED]
    assert codes(out) == [("BAD_HOLDER_CODE", "CZZTDM")]


@pytest.mark.parametrize(("declared", "outcome"), [
    ("001", ACCEPTED), ("统一社会信用代码", ACCEPTED), ("", ACCEPTED), ("111", REJECTED),
    ("公民身份号码", REJECTED), ("身份证", REJECTED), ("abc", REJECTED),
])
def test_declared_holder_type_must_match_the_code(declared: str, outcome: str) -> None:
    out = run([{**biz(), "持证主体代码类型代码": declared}])
    assert out[OUTCOME].tolist() == [outcome]
    if outcome == REJECTED:
        assert codes(out) == [("BAD_HOLDER_CODE", "CZZTDM")]
        assert f"持证主体代码类型代码 says {declared!r}" in out[REASONS].iloc[0][0]["message"]


def test_id_number_declared_as_uscc_is_rejected() -> None:
    out = run([{**doctor(), "持证主体代码类型": "统一社会信用代码"}], DOCTOR)
    assert codes(out) == [("BAD_HOLDER_CODE", "CZZTDM")]
    assert "is a 公民身份号码 (统一社会信用代码 expected)" in out[REASONS].iloc[0][0]["message"]


# --- dates ----------------------------------------------------------------------------------


def test_issue_date_in_the_future_is_rejected() -> None:
    out = run([biz(颁证日期="2026-11-28"), biz(证照编号="2", 颁证日期="2026-11-27")])
    assert codes(out, 0) == [("FUTURE_DATE", "ZZBFRQ")]
    assert out[REASONS].iloc[0][0]["message"] == (
        "颁证日期 (ZZBFRQ) 20261128 is after today (20261127)")
    assert out[OUTCOME].iloc[1] == ACCEPTED


def test_start_before_issue_is_allowed_only_where_the_type_says_so() -> None:
    assert run([biz(颁证日期="2024-01-05", 有效期起始日期="2020-03-01")])[OUTCOME].tolist() == [
        ACCEPTED]  # 营业执照: validity runs from 成立日期
    out = run([doctor(颁证日期="2020-05-06", 有效期起始日期="2020-05-01")], DOCTOR)
    assert codes(out) == [("DATE_ORDER", "ZZYXQQSRQ")]
    assert out[REASONS].iloc[0][0]["message"] == (
        "颁证日期 (ZZBFRQ) 20200506 is after 有效期起始日期 (ZZYXQQSRQ) 20200501")


def test_founded_after_issue_is_rejected() -> None:
    out = run([biz(成立日期="2024-02-01")])
    assert codes(out) == [("DATE_ORDER", "KZ_CLRQ")]


@given(st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31)),
       st.sampled_from(["iso", "slash", "compact", "chinese", "padded"]), st.booleans())
def test_any_date_in_any_accepted_form_parses_back(d: date, form: str, wide: bool) -> None:
    text = {"iso": f"{d.year:04d}-{d.month}-{d.day}", "slash": f"{d.year:04d}/{d.month}/{d.day}",
            "compact": f"{d.year:04d}{d.month:02d}{d.day:02d}",
            "chinese": f"{d.year:04d}年{d.month}月{d.day}日",
            "padded": f"{d.year:04d}-{d.month:02d}-{d.day:02d}"}[form]
    if wide:
        text = text.translate(str.maketrans("0123456789-/", "０１２３４５６７８９－／"))
    assert parse_date(text) == d


@given(st.dates(min_value=EXCEL_EPOCH + timedelta(days=10_000),
                max_value=EXCEL_EPOCH + timedelta(days=99_999)))
def test_excel_serials_parse_back(d: date) -> None:
    assert parse_date(excel_serial(d)) == d


def test_serial_outside_five_digits_is_not_a_date() -> None:
    for text in ("9999", "100000", "04529"):
        with pytest.raises(ValueError, match="not a date in an accepted form"):
            parse_date(text)


# --- formulas and reader problems -----------------------------------------------------------


def test_formula_values_are_rejected_even_in_full_width() -> None:
    out = run([biz(持证主体="=1+1"), biz(证照编号="2", 住所="＝SUM(A1)"), biz(证照编号="3",
                                                                      住所="a=b")])
    assert codes(out, 0) == [("FORMULA", "CZZT")]
    assert codes(out, 1) == [("FORMULA", "KZ_ZS")]
    assert out[OUTCOME].iloc[2] == ACCEPTED


def test_reader_problems_replace_every_other_reason() -> None:
    p = (problem("NUMBER_PRECISION", "持证主体代码", "cell C2 lost digits"),)
    out = run([biz(持证主体代码="913301027799816000", 法定代表人=""), biz(证照编号="2")],
              problems={0: p})
    assert codes(out, 0) == [("NUMBER_PRECISION", "CZZTDM")]
    assert out[REASONS].iloc[0][0]["message"] == "cell C2 lost digits"
    assert out[OUTCOME].tolist() == [REJECTED, ACCEPTED]
    assert out[RAW].iloc[0]["持证主体代码"] == "913301027799816000"


def test_accepted_rows_have_an_empty_tuple_of_reasons() -> None:
    assert run([biz()])[REASONS].iloc[0] == ()


# --- mappings -------------------------------------------------------------------------------


def test_mapping_file_loads_and_maps_columns() -> None:
    m = load_mapping(FIXTURES / "mappings" / "market-bureau-xlsx.json", type_code=BIZ.code)
    assert (m.sheet, m.header_row, m.ignore) == ("营业执照", 3, ("序号",))
    hmap = header_map(["序号", "企业名称", "统一社会信用代码", "成立日期", "备注"], BIZ,
                      mapping=m.columns, ignore=m.ignore)
    assert dict(hmap.mapping) == {"企业名称": "CZZT", "统一社会信用代码": "CZZTDM",
                                  "成立日期": "KZ_CLRQ"}
    assert hmap.unknown == ("备注",) and "序号" in hmap.ignored


def test_mapped_rows_evaluate_under_the_department_names() -> None:
    row = biz()
    renamed = {("企业名称" if k == "持证主体" else k): v for k, v in row.items()}
    out = run([renamed], mapping={"企业名称": "CZZT"})
    assert out[OUTCOME].tolist() == [ACCEPTED] and out["CZZT"].iloc[0] == "示范市甲有限公司"
    assert out[RAW].iloc[0]["企业名称"] == "示范市甲有限公司"  # raw keeps the department's name


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
        parse_mapping(doc, type_code=BIZ.code, source="m.json")
    assert str(info.value).startswith("m.json: ")


def test_mapping_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("{columns:", "utf-8")
    with pytest.raises(MappingError, match="not JSON"):
        load_mapping(path, type_code=BIZ.code)
    with pytest.raises(MappingError, match="no such mapping file"):
        load_mapping(tmp_path / "none.json", type_code=BIZ.code)


def test_mapping_schema_is_valid_json_schema() -> None:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(
        json.loads((FIXTURES.parent / "schemas" / "mapping.schema.json").read_text("utf-8")))
    assert FOOD.code  # the food type exists for the type-mismatch case above
