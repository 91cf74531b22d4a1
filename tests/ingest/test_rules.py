"""Header mapping and the row rules: validation, then filtering, then acceptance; the rules
issue 4 added (GB 11714 segment, known codes, declared holder type, date order, formulas,
reader problems) and rows under a department's own column names."""

from __future__ import annotations

import dataclasses
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from registry.batch.reports import row_outcomes
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import License, SourceRow
from registry.errors import IngestError
from registry.i18n import language
from registry.ingest.frames import EXTRA, LINE, PROBLEMS, problem
from registry.ingest.messages import reason_message
from registry.ingest.normalize import hidden_character, is_formula
from registry.ingest.reader import read_rows
from registry.ingest.rules import (
    ACCEPTED,
    BAD_DATE,
    BAD_HOLDER_CODE,
    BAD_VALUE,
    CLASSIFIED,
    DATE_ORDER,
    DUPLICATE_IN_FILE,
    EXPIRED,
    EXTRA_CELLS,
    FILTERED,
    HOLDER_TYPE,
    KNOWN_EXCEPTION,
    MISSING_ELEMENT,
    OUTCOME,
    RAW,
    REASON_CODES,
    REASONS,
    REJECTED,
    evaluate,
    header_map,
    id_card_valid_mask,
    org_segment_valid_mask,
    summarize,
    uscc_valid_mask,
)
from registry.license.codes import (
    USCC_ALPHABET,
    id_card_check,
    id_card_is_valid,
    org_code_check,
    org_code_is_valid,
    uscc_check,
    uscc_is_valid,
)
from registry.license.types import LicenseType, catalogue
from tests.conftest import REPO
from tests.support.batches import count, ingest, row, write_csv

BATCHES = REPO / "fixtures" / "batches"
TYPES = catalogue()
BUSINESS = TYPES["11100000MB0143028R001"]
FOOD = TYPES["11100000MB0143028R002"]
PHYSICIAN = TYPES["11100000MB15645531001"]
TODAY = date(2026, 11, 27)
BIZ, DOCTOR = BUSINESS, PHYSICIAN  # as the holder-code and date tests below call them
PILOT = "91350203M0001QAY9B"  # a real early pilot USCC that fails GB 32100 (STANDARDS.md §4.1)

GOOD_BUSINESS = {
    "证照编号": "330102000000001",
    "持证主体": "示范市恒信科技有限公司",
    "持证主体代码": "91330100MA2H3K4L4W",
    "颁证日期": "2021/3/5",
    "有效期起始日期": "2021-03-05",
    "有效期截止日期": "长期",
    "类型": "有限责任公司（自然人独资）",
    "法定代表人": "张伟",
    "注册资本": "100万元人民币",
    "成立日期": "2021年3月5日",
    "住所": "示范市东城区学院路1号",
    "经营范围": "软件开发",
    "涉密": "否",
}
GOOD_PHYSICIAN = {
    "证照编号": "110330100000001",
    "持证主体": "王芳",
    "持证主体代码": "110105195001010039",
    "性别": "男",
    "出生日期": "1950-01-01",
    "医师级别": "执业医师",
    "执业类别": "临床",
    "执业范围": "内科专业",
    "执业地点": "示范市第一人民医院",
    "颁证日期": "2020-05-06",
    "有效期起始日期": "2020-05-06",
    "有效期截止日期": "长期",
    "涉密": "否",
}


def frame(rows: list[dict[str, str]], *, first_line: int = 2) -> pd.DataFrame:
    """Rows as read_rows would give them (every cell text, LINE, EXTRA)."""
    columns = list(rows[0])
    df = pd.DataFrame([[r[c] for c in columns] for r in rows], columns=columns, dtype=str)
    df[LINE] = range(first_line, first_line + len(rows))
    df[EXTRA] = pd.Series([()] * len(rows), dtype=object)
    return df


def run(*changes: dict[str, Any], lt: LicenseType = BUSINESS, today: date = TODAY,
        seen: set[str] | None = None, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    """Evaluate one row per ``changes`` dict, each a change to the good row of ``lt``."""
    good = GOOD_PHYSICIAN if lt is PHYSICIAN else GOOD_BUSINESS
    rows = []
    for i, change in enumerate(changes):
        row = {**good, "证照编号": f"{good['证照编号'][:-3]}{i:03d}", **change}
        rows.append({k: v for k, v in row.items() if k not in drop})
    df = frame(rows)
    return evaluate(df, lt, header_map(list(df.columns), lt), today=today,
                    seen_numbers=set() if seen is None else seen)


def reasons(out: pd.DataFrame, i: int = 0) -> list[tuple[str, str | None]]:
    return [(r["code"], r["element"]) for r in out[REASONS].iloc[i]]


def messages(out: pd.DataFrame, i: int = 0) -> list[str]:
    return [r["message"] for r in out[REASONS].iloc[i]]


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


def judge(rows: list[dict[str, str]], lt: Any = BIZ, *, problems: dict[int, Any] | None = None,
          known: frozenset[str] = frozenset(), **kw: Any) -> pd.DataFrame:
    """Evaluate whole rows (cells by title, missing ones empty) with optional reader problems
    and known codes; ``kw`` goes to header_map (a mapping, ignored columns)."""
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


# --- header_map ----------------------------------------------------------------------------


def test_header_map_by_chinese_title() -> None:
    hmap = header_map([*GOOD_BUSINESS, LINE, EXTRA], BUSINESS)
    assert dict(hmap.mapping) == {
        "证照编号": "ZZBH", "持证主体": "CZZT", "持证主体代码": "CZZTDM", "颁证日期": "ZZBFRQ",
        "有效期起始日期": "ZZYXQQSRQ", "有效期截止日期": "ZZYXQJZRQ", "类型": "KZ_LX",
        "法定代表人": "KZ_FDDBR", "注册资本": "KZ_ZCZB", "成立日期": "KZ_CLRQ", "住所": "KZ_ZS",
        "经营范围": "KZ_JYFW", "涉密": "SFSM",
    }
    assert hmap.unknown == hmap.ignored == hmap.missing == ()
    assert hmap.type_code == BUSINESS.code
    assert hmap.column_of("CZZTDM") == "持证主体代码"
    assert hmap.column_of("ZZMC") is None


def test_header_map_by_code_in_any_case_and_width() -> None:
    hmap = header_map(["ZZBH", " czzt ", "ＣＺＺＴＤＭ", "kz_xb", "SFSM"], PHYSICIAN)
    assert dict(hmap.mapping) == {"ZZBH": "ZZBH", " czzt ": "CZZT", "ＣＺＺＴＤＭ": "CZZTDM",
                                  "kz_xb": "KZ_XB", "SFSM": "SFSM"}


def test_header_map_matches_titles_after_nfkc() -> None:
    # The schema title is 法定代表人（负责人） with full-width brackets.
    hmap = header_map(["法定代表人(负责人)", "是否涉密"], FOOD)
    assert dict(hmap.mapping) == {"法定代表人(负责人)": "KZ_FDDBR", "是否涉密": "SFSM"}


def test_header_map_unknown_ignored_and_missing() -> None:
    columns = ["证照编号", "持证主体代码", "备注", "证照标识", "ZZLXDM", "证照颁发机构", "颁证日期",
               "有效期起始日期", "有效期截止日期", "类型", "法定代表人", "注册资本", "成立日期",
               "经营范围"]
    hmap = header_map(columns, BUSINESS)
    assert hmap.unknown == ("备注",)
    assert hmap.ignored == ("证照标识", "ZZLXDM", "证照颁发机构")
    assert hmap.missing == ("CZZT", "KZ_ZS")  # ZZMC is never missing: it defaults


def test_header_map_refuses_two_columns_for_one_element() -> None:
    with pytest.raises(IngestError, match=r"'ZZBH' and '证照编号' both give 证照编号 \(ZZBH\)"):
        header_map(["ZZBH", "证照编号"], BUSINESS)


def test_header_map_reads_aliases_declared_in_the_schema() -> None:
    schema = {**BUSINESS.schema, "properties": {
        **BUSINESS.schema["properties"],
        "KZ_FDDBR": {**BUSINESS.schema["properties"]["KZ_FDDBR"], "x-aliases": ["法人代表"]},
    }}
    lt = dataclasses.replace(BUSINESS, schema=schema)
    assert dict(header_map(["法人代表"], lt).mapping) == {"法人代表": "KZ_FDDBR"}
    assert header_map(["法人代表"], BUSINESS).unknown == ("法人代表",)


# --- acceptance and normalized values ------------------------------------------------------


def test_a_good_row_is_accepted_with_normalized_values() -> None:
    out = run({"持证主体代码": " 91330100ma2h3k4l4w ", "持证主体": " 示范市恒信科技有限公司　"})
    row = out.iloc[0]
    assert row[OUTCOME] == ACCEPTED
    assert row[REASONS] == ()
    assert row["ZZMC"] == "营业执照"  # no 证照名称 column: the type's name
    assert row["CZZTDM"] == "91330100MA2H3K4L4W"
    assert row["CZZT"] == "示范市恒信科技有限公司"
    assert (row["ZZBFRQ"], row["ZZYXQQSRQ"], row["KZ_CLRQ"]) == ("20210305",) * 3
    assert row["ZZYXQJZRQ"] == "长期"
    assert row[HOLDER_TYPE] == "001"
    assert row[LINE] == 2
    assert row[RAW]["持证主体代码"] == " 91330100ma2h3k4l4w "  # verbatim
    assert set(row[RAW]) == set(GOOD_BUSINESS)
    derived = {"ZZLXDM", "ZZBS", "ZZBFJG", "ZZBFJGDM", "CZZTDMLX"}
    assert derived.isdisjoint(out.columns)
    assert list(out.columns[:4]) == [LINE, OUTCOME, REASONS, RAW]


def test_no_end_words_become_changqi_and_never_expire() -> None:
    out = run({"有效期截止日期": "永久"}, {"有效期截止日期": "长期有效"}, today=date(2999, 1, 1))
    assert out["ZZYXQJZRQ"].tolist() == ["长期", "长期"]
    assert out[OUTCOME].tolist() == [ACCEPTED, ACCEPTED]


def test_output_keeps_order_and_index() -> None:
    df = frame([{**GOOD_BUSINESS, "证照编号": f"N{i}"} for i in range(4)]).set_axis([9, 3, 7, 1])
    out = evaluate(df, BUSINESS, header_map(list(df.columns), BUSINESS), today=TODAY,
                   seen_numbers=set())
    assert out.index.tolist() == [9, 3, 7, 1]
    assert out["ZZBH"].tolist() == ["N0", "N1", "N2", "N3"]


# --- validation ----------------------------------------------------------------------------


def test_missing_element() -> None:
    out = run({"持证主体": ""}, {"法定代表人": "　"})
    assert reasons(out, 0) == [(MISSING_ELEMENT, "CZZT")]
    assert messages(out, 0) == ["持证主体 (CZZT) is empty"]
    assert reasons(out, 1) == [(MISSING_ELEMENT, "KZ_FDDBR")]
    assert out[OUTCOME].tolist() == [REJECTED, REJECTED]


def test_missing_column_rejects_every_row_naming_the_element() -> None:
    out = run({}, drop=("住所",))
    assert reasons(out) == [(MISSING_ELEMENT, "KZ_ZS")]
    assert messages(out) == ["住所 (KZ_ZS) is missing: the file has no column for it"]


def test_optional_elements_may_be_empty() -> None:
    out = run({"日常监督管理机构": ""}, lt=FOOD)  # KZ_RCJDGLJG is optional
    assert "KZ_RCJDGLJG" not in [e for _, e in reasons(out)]


def test_bad_uscc_check_digit() -> None:
    out = run({"持证主体代码": "91330100MA2H3K4L4X"})
    assert out.loc[0, OUTCOME] == REJECTED
    assert reasons(out) == [(BAD_HOLDER_CODE, "CZZTDM")]
    assert messages(out) == [
        "持证主体代码 (CZZTDM) '91330100MA2H3K4L4X' fails the GB 32100 check digit (expected W)"]


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("91330100MA2H3K4L4", "is not an 18-character 统一社会信用代码 (GB 32100; 17 characters"),
        ("91330100MA2H3K4LOW", "is not an 18-character 统一社会信用代码"),  # O is not in GB 32100
        ("913301A0MA2H3K4L4W", "is not an 18-character 统一社会信用代码"),  # area code not digits
    ],
)
def test_malformed_uscc(code: str, problem: str) -> None:
    out = run({"持证主体代码": code})
    assert reasons(out) == [(BAD_HOLDER_CODE, "CZZTDM")]
    assert problem in messages(out)[0]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("110105195001010038",
         "持证主体代码 (CZZTDM) '110105195001010038' fails the GB 11643 check digit (expected 9)"),
        ("110105195002300038",
         "持证主体代码 (CZZTDM) '110105195002300038' has an impossible birth date 19500230 "
         "(GB 11643)"),
        ("11010519500101003",
         "持证主体代码 (CZZTDM) '11010519500101003' is not an 18-character 公民身份号码 "
         "(GB 11643; 17 characters given)"),
    ],
)
def test_bad_id_number(code: str, message: str) -> None:
    if len(code) == 18 and code[6:14] == "19500230":
        assert id_card_check(code[:17]) == code[17]  # the check digit itself is right
    out = run({"持证主体代码": code}, lt=PHYSICIAN)
    assert reasons(out) == [(BAD_HOLDER_CODE, "CZZTDM")]
    assert messages(out) == [message]


def test_id_number_with_lower_case_x_is_valid() -> None:
    out = run({"持证主体代码": "11010519491231002x"}, lt=PHYSICIAN)
    assert out.loc[0, OUTCOME] == ACCEPTED
    assert out.loc[0, "CZZTDM"] == "11010519491231002X"
    assert out.loc[0, HOLDER_TYPE] == "111"


def test_uscc_is_not_an_id_number() -> None:
    out = run({"持证主体代码": "91330100MA2H3K4L4W"}, lt=PHYSICIAN)
    assert reasons(out) == [(BAD_HOLDER_CODE, "CZZTDM")]


def test_a_type_admitting_two_holder_types_reads_each_code_as_the_one_it_passes() -> None:
    lt = dataclasses.replace(BUSINESS, holder_types=("001", "111"))
    out = run({"持证主体代码": "91330100MA2H3K4L4W"}, {"持证主体代码": "110105195001010039"},
              {"持证主体代码": "110105195001010038"}, lt=lt)
    assert out[HOLDER_TYPE].tolist() == ["001", "111", None]
    assert out[OUTCOME].tolist() == [ACCEPTED, ACCEPTED, REJECTED]
    assert messages(out, 2) == [
        "持证主体代码 (CZZTDM) '110105195001010038' is neither a 统一社会信用代码 (GB 32100) "
        "nor a 公民身份号码 (GB 11643)"]


def test_bad_dates_name_the_element_and_the_text() -> None:
    out = run({"颁证日期": "2023-02-29"}, {"成立日期": "2021.3.5"}, {"有效期截止日期": "不详"})
    assert reasons(out, 0) == [(BAD_DATE, "ZZBFRQ")]
    assert messages(out, 0) == [
        "颁证日期 (ZZBFRQ) '2023-02-29' is not a real date (day is out of range for month)"]
    assert reasons(out, 1) == [(BAD_DATE, "KZ_CLRQ")]
    assert messages(out, 1)[0].startswith("成立日期 (KZ_CLRQ) '2021.3.5' is not a date in an "
                                          "accepted form (2021-03-05, 2021/3/5")
    assert "or 长期 for no end" in messages(out, 2)[0]
    assert out["ZZBFRQ"].tolist()[0] is None
    assert out[OUTCOME].tolist() == [REJECTED] * 3


def test_changqi_is_only_an_end_date() -> None:
    out = run({"有效期起始日期": "长期"})
    assert reasons(out) == [(BAD_DATE, "ZZYXQQSRQ")]


def test_start_after_end() -> None:
    out = run({"有效期起始日期": "2022-03-15", "有效期截止日期": "2012-03-14"},
              {"有效期起始日期": "2022-03-15", "有效期截止日期": "2022-03-15"})
    assert reasons(out, 0) == [(DATE_ORDER, "ZZYXQQSRQ")]
    assert messages(out, 0) == [
        "有效期起始日期 (ZZYXQQSRQ) 20220315 is after 有效期截止日期 (ZZYXQJZRQ) 20120314"]
    assert out.loc[1, OUTCOME] == FILTERED  # one-day validity, long past: valid but expired


def test_duplicate_number_in_the_same_chunk() -> None:
    out = run({"证照编号": "A-1"}, {"证照编号": "A-2"}, {"证照编号": " a-1 "})
    assert out[OUTCOME].tolist() == [ACCEPTED, ACCEPTED, REJECTED]
    assert reasons(out, 2) == [(DUPLICATE_IN_FILE, "ZZBH")]
    assert messages(out, 2) == ["证照编号 (ZZBH) 'A-1' repeats line 2"]


def test_duplicate_number_across_chunks_through_seen_numbers() -> None:
    seen: set[str] = set()
    first = run({"证照编号": "A-1"}, {"证照编号": ""}, seen=seen)
    assert seen == {"A-1"}  # updated in place; empty numbers are not numbers
    second = run({"证照编号": "A-2"}, {"证照编号": "A-1"}, seen=seen)
    assert first.loc[0, OUTCOME] == ACCEPTED
    assert second[OUTCOME].tolist() == [ACCEPTED, REJECTED]
    assert messages(second, 1) == ["证照编号 (ZZBH) 'A-1' repeats an earlier row of this file"]
    assert seen == {"A-1", "A-2"}


def test_schema_values() -> None:
    out = run({"性别": "M"}, {"持证主体": "张" * 201}, lt=PHYSICIAN)
    assert reasons(out, 0) == [(BAD_VALUE, "KZ_XB")]
    assert messages(out, 0) == ["性别 (KZ_XB) 'M' is not one of 男, 女"]
    assert reasons(out, 1) == [(BAD_VALUE, "CZZT")]
    assert messages(out, 1) == ["持证主体 (CZZT) is 201 characters long; at most 200 allowed"]


def test_extra_cells() -> None:
    df = frame([GOOD_BUSINESS])
    df[EXTRA] = pd.Series([("学院路1号",)], dtype=object)
    out = evaluate(df, BUSINESS, header_map(list(df.columns), BUSINESS), today=TODAY,
                   seen_numbers=set())
    assert reasons(out) == [(EXTRA_CELLS, None)]
    assert "14 cells but the header names 13 columns" in messages(out)[0]
    assert out.loc[0, RAW]["(column 14)"] == "学院路1号"


def test_every_validation_reason_of_a_row_is_reported_in_rule_order() -> None:
    out = run({"持证主体": "", "持证主体代码": "91330100MA2H3K4L4X", "颁证日期": "2021-02-30",
               "有效期起始日期": "2030-01-01", "有效期截止日期": "2029-12-31",
               "法定代表人": "", "证照编号": "DUP"},
              {"证照编号": "DUP"})
    assert reasons(out, 0) == [
        (MISSING_ELEMENT, "CZZT"), (MISSING_ELEMENT, "KZ_FDDBR"), (BAD_HOLDER_CODE, "CZZTDM"),
        (BAD_DATE, "ZZBFRQ"), (DATE_ORDER, "ZZYXQQSRQ")]
    assert reasons(out, 1) == [(DUPLICATE_IN_FILE, "ZZBH")]


# --- filtering -----------------------------------------------------------------------------


def test_expired_is_filtered_and_the_end_day_itself_is_still_valid() -> None:
    out = run({"有效期截止日期": "2026-11-26"}, {"有效期截止日期": "2026-11-27"})
    assert out[OUTCOME].tolist() == [FILTERED, ACCEPTED]
    assert reasons(out, 0) == [(EXPIRED, "ZZYXQJZRQ")]
    assert messages(out, 0) == [
        "有效期截止日期 (ZZYXQJZRQ) 20261126 is before 20261127: the license has expired"]


@pytest.mark.parametrize("flag", ["是", "Y", "y", "1", "true", "TRUE", "Yes", " 是 ", "Ｙ"])
def test_classified_is_filtered(flag: str) -> None:
    out = run({"涉密": flag})
    assert out.loc[0, OUTCOME] == FILTERED
    assert reasons(out) == [(CLASSIFIED, "SFSM")]


@pytest.mark.parametrize("flag", ["否", "N", "0", "false", "", "no"])
def test_not_classified(flag: str) -> None:
    assert run({"涉密": flag}).loc[0, OUTCOME] == ACCEPTED


def test_unreadable_classified_flag_is_rejected_not_taken_as_no() -> None:
    out = run({"涉密": "机密"})
    assert reasons(out) == [(BAD_VALUE, "SFSM")]
    assert out.loc[0, OUTCOME] == REJECTED


def test_no_classified_column_means_not_classified() -> None:
    assert run({}, drop=("涉密",)).loc[0, OUTCOME] == ACCEPTED


def test_expired_and_classified_carry_both_reasons() -> None:
    out = run({"有效期截止日期": "2024-05-31", "涉密": "是"})
    assert out.loc[0, OUTCOME] == FILTERED
    assert reasons(out) == [(EXPIRED, "ZZYXQJZRQ"), (CLASSIFIED, "SFSM")]


def test_validation_comes_before_filtering() -> None:
    out = run({"有效期截止日期": "2024-05-31", "持证主体代码": "91330100MA2H3K4L4X"},
              {"涉密": "是", "持证主体": ""})
    assert out[OUTCOME].tolist() == [REJECTED, REJECTED]
    assert reasons(out, 0) == [(BAD_HOLDER_CODE, "CZZTDM")]  # not EXPIRED too
    assert reasons(out, 1) == [(MISSING_ELEMENT, "CZZT")]    # not CLASSIFIED too


def test_header_map_of_another_type_is_refused() -> None:
    df = frame([GOOD_BUSINESS])
    with pytest.raises(ValueError, match="header map is for type"):
        evaluate(df, FOOD, header_map(list(df.columns), BUSINESS), today=TODAY,
                 seen_numbers=set())


# --- summarize -----------------------------------------------------------------------------


def test_summarize_counts_outcomes_and_reasons() -> None:
    out = run({}, {"持证主体": "", "颁证日期": "x"}, {"涉密": "是", "有效期起始日期": "2019-01-01",
                                                         "有效期截止日期": "2020-01-01"},
              {"持证主体": ""})
    assert summarize(out) == {
        "rows": 4, "accepted": 1, "filtered": 1, "rejected": 2,
        "reasons": {MISSING_ELEMENT: 2, BAD_DATE: 1, EXPIRED: 1, CLASSIFIED: 1},
    }
    assert list(summarize(out)["reasons"]) == [c for c in REASON_CODES if c in
                                               summarize(out)["reasons"]]


# --- the vectorised check digits agree with registry.license.codes

_NOT_USCC = "IOSVZa-"


@st.composite
def uscc_like(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        body = draw(st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17))
        code = body + uscc_check(body)
        if draw(st.booleans()):  # spoil one character
            i = draw(st.integers(0, 17))
            code = code[:i] + draw(st.sampled_from(USCC_ALPHABET + _NOT_USCC)) + code[i + 1:]
        return code
    return draw(st.text(alphabet=USCC_ALPHABET + _NOT_USCC + "示", min_size=16, max_size=19))


@st.composite
def id_like(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        born = draw(st.dates(min_value=date(1, 1, 1)))
        body = f"{draw(st.integers(110000, 659999))}{born.year:04d}{born:%m%d}" \
               f"{draw(st.integers(0, 999)):03d}"
        code = body + id_card_check(body)
        if draw(st.booleans()):
            i = draw(st.integers(0, 17))
            code = code[:i] + draw(st.sampled_from("0123456789Xx")) + code[i + 1:]
        return code
    return draw(st.text(alphabet="0123456789X", min_size=17, max_size=19))


@given(st.lists(uscc_like(), max_size=12))
def test_uscc_mask_agrees_with_registry_codes(codes: list[str]) -> None:
    assert uscc_valid_mask(codes).tolist() == [uscc_is_valid(c) for c in codes]


@given(st.lists(id_like(), max_size=12))
def test_id_card_mask_agrees_with_registry_codes(codes: list[str]) -> None:
    assert id_card_valid_mask(codes).tolist() == [id_card_is_valid(c) for c in codes]


def test_masks_refuse_non_ascii_digits() -> None:
    arabic = "110105195001010039".translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert id_card_valid_mask([arabic, "110105195001010039"]).tolist() == [False, True]
    assert uscc_valid_mask(["91٣30100MA2H3K4L4W", "91330100MA2H3K4L4W"]).tolist() == [False, True]


# --- the fixtures, line by line ------------------------------------------------------------

FIXTURES: dict[str, tuple[LicenseType, int, dict[int, tuple[str, list[tuple[str, str]]]]]] = {
    "business-licenses.csv": (BUSINESS, 40, {
        6: (FILTERED, [(EXPIRED, "ZZYXQJZRQ")]),
        11: (FILTERED, [(CLASSIFIED, "SFSM")]),
        15: (REJECTED, [(BAD_HOLDER_CODE, "CZZTDM")]),
        18: (REJECTED, [(BAD_DATE, "ZZBFRQ")]),
        22: (REJECTED, [(DUPLICATE_IN_FILE, "ZZBH")]),
        25: (REJECTED, [(MISSING_ELEMENT, "CZZT")]),
        29: (REJECTED, [(DATE_ORDER, "ZZYXQQSRQ")]),
        32: (REJECTED, [(BAD_HOLDER_CODE, "CZZTDM")]),
        35: (FILTERED, [(EXPIRED, "ZZYXQJZRQ"), (CLASSIFIED, "SFSM")]),
        38: (REJECTED, [(MISSING_ELEMENT, "KZ_FDDBR"), (BAD_DATE, "KZ_CLRQ")]),
    }),
    "food-permits.csv": (FOOD, 20, {
        9: (FILTERED, [(EXPIRED, "ZZYXQJZRQ")]),
        16: (REJECTED, [(MISSING_ELEMENT, "KZ_JYCS")]),
    }),
    "physicians.csv": (PHYSICIAN, 20, {
        13: (REJECTED, [(BAD_HOLDER_CODE, "CZZTDM")]),
    }),
}
FIXTURES["business-licenses-gbk.csv"] = FIXTURES["business-licenses.csv"]


def evaluate_file(name: str, chunk_rows: int) -> pd.DataFrame:
    lt = FIXTURES[name][0]
    seen: set[str] = set()
    outs = []
    for chunk in read_rows(BATCHES / name, chunk_rows=chunk_rows):
        hmap = header_map(list(chunk.columns), lt)
        assert hmap.missing == hmap.unknown == ()
        outs.append(evaluate(chunk, lt, hmap, today=TODAY, seen_numbers=seen))
    return pd.concat(outs)


@pytest.mark.parametrize("chunk_rows", [1, 3, 50_000])
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_outcomes_line_by_line(name: str, chunk_rows: int) -> None:
    _, rows, expected = FIXTURES[name]
    out = evaluate_file(name, chunk_rows)
    assert len(out) == rows
    got = {
        line: (outcome, [(r["code"], r["element"]) for r in found])
        for line, outcome, found in zip(out[LINE], out[OUTCOME], out[REASONS], strict=True)
        if outcome != ACCEPTED
    }
    assert got == expected


def test_fixture_summary() -> None:
    assert summarize(evaluate_file("business-licenses.csv", 50_000)) == {
        "rows": 40, "accepted": 30, "filtered": 3, "rejected": 7,
        "reasons": {MISSING_ELEMENT: 2, BAD_HOLDER_CODE: 2, BAD_DATE: 2, DATE_ORDER: 1,
                    DUPLICATE_IN_FILE: 1, EXPIRED: 2, CLASSIFIED: 2},
    }


def test_fixture_normalization_details() -> None:
    business = evaluate_file("business-licenses.csv", 50_000).set_index(LINE)
    assert business.loc[20, OUTCOME] == ACCEPTED  # code typed in lower case with spaces
    assert business.loc[20, "CZZTDM"] == business.loc[20, RAW]["持证主体代码"].strip().upper()
    assert business.loc[40, "ZZBFRQ"].isdigit()  # full-width 颁证日期
    assert "\n" in business.loc[8, RAW]["经营范围"]  # the row spanning lines 8-9
    food = evaluate_file("food-permits.csv", 50_000).set_index(LINE)
    assert food.loc[5, "ZZMC"] == "食品经营许可证"
    assert food.loc[5, RAW]["证照名称"] == ""
    physicians = evaluate_file("physicians.csv", 50_000).set_index(LINE)
    assert physicians.loc[7, "CZZTDM"].endswith("X")
    assert physicians.loc[7, RAW]["持证主体代码"].endswith("x")


def test_gbk_fixture_evaluates_to_the_same_values() -> None:
    utf8 = evaluate_file("business-licenses.csv", 50_000).drop(columns=[RAW])
    gbk = evaluate_file("business-licenses-gbk.csv", 50_000).drop(columns=[RAW])
    pd.testing.assert_frame_equal(utf8, gbk)


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
    out = judge([biz(持证主体代码=code)])
    assert codes(out) == [("BAD_HOLDER_CODE", "CZZTDM")]
    message = out[REASONS].iloc[0][0]["message"]
    assert f"organization-code segment (positions 9-17) '{org8 + wrong}'" in message
    assert f"GB 11714 check (expected {org_code_check(org8)})" in message


def test_known_code_is_accepted_and_flagged_not_dropped() -> None:
    out = judge([biz(持证主体代码=PILOT), biz(证照编号="2", 持证主体代码=PILOT.lower(),
                                         有效期截止日期="2025-01-01", 有效期起始日期="2020-01-01")],
                known=frozenset({PILOT}))
    assert out[OUTCOME].tolist() == [ACCEPTED, FILTERED]
    assert codes(out, 0) == [(KNOWN_EXCEPTION, "CZZTDM")]
    assert codes(out, 1) == [("EXPIRED", "ZZYXQJZRQ"), (KNOWN_EXCEPTION, "CZZTDM")]
    assert "on the known-legitimate list: accepted and flagged" in out[REASONS].iloc[0][0][
        "message"]
    assert out["CZZTDMLXDM"].tolist() == ["001", "001"]


def test_unknown_failing_code_is_still_rejected() -> None:
    out = judge([biz(持证主体代码=PILOT)], known=frozenset({"SOMETHING ELSE"}))
    assert out[OUTCOME].tolist() == [REJECTED]
    assert codes(out) == [("BAD_HOLDER_CODE", "CZZTDM")]


@pytest.mark.parametrize(("declared", "outcome"), [
    ("001", ACCEPTED), ("统一社会信用代码", ACCEPTED), ("", ACCEPTED), ("111", REJECTED),
    ("公民身份号码", REJECTED), ("身份证", REJECTED), ("abc", REJECTED),
])
def test_declared_holder_type_must_match_the_code(declared: str, outcome: str) -> None:
    out = judge([{**biz(), "持证主体代码类型代码": declared}])
    assert out[OUTCOME].tolist() == [outcome]
    if outcome == REJECTED:
        assert codes(out) == [("BAD_HOLDER_CODE", "CZZTDM")]
        assert f"持证主体代码类型代码 says {declared!r}" in out[REASONS].iloc[0][0]["message"]


def test_id_number_declared_as_uscc_is_rejected() -> None:
    out = judge([{**doctor(), "持证主体代码类型": "统一社会信用代码"}], DOCTOR)
    assert codes(out) == [("BAD_HOLDER_CODE", "CZZTDM")]
    assert "is a 公民身份号码 (统一社会信用代码 expected)" in out[REASONS].iloc[0][0]["message"]


# --- dates ----------------------------------------------------------------------------------


def test_issue_date_in_the_future_is_rejected() -> None:
    out = judge([biz(颁证日期="2026-11-28"), biz(证照编号="2", 颁证日期="2026-11-27")])
    assert codes(out, 0) == [("FUTURE_DATE", "ZZBFRQ")]
    assert out[REASONS].iloc[0][0]["message"] == (
        "颁证日期 (ZZBFRQ) 20261128 is after today (20261127)")
    assert out[OUTCOME].iloc[1] == ACCEPTED


def test_start_before_issue_is_allowed_only_where_the_type_says_so() -> None:
    assert judge([biz(颁证日期="2024-01-05", 有效期起始日期="2020-03-01")])[OUTCOME].tolist() == [
        ACCEPTED]  # 营业执照: validity runs from 成立日期
    out = judge([doctor(颁证日期="2020-05-06", 有效期起始日期="2020-05-01")], DOCTOR)
    assert codes(out) == [("DATE_ORDER", "ZZYXQQSRQ")]
    assert out[REASONS].iloc[0][0]["message"] == (
        "颁证日期 (ZZBFRQ) 20200506 is after 有效期起始日期 (ZZYXQQSRQ) 20200501")


def test_founded_after_issue_is_rejected() -> None:
    out = judge([biz(成立日期="2024-02-01")])
    assert codes(out) == [("DATE_ORDER", "KZ_CLRQ")]


# --- formulas and reader problems -----------------------------------------------------------


def test_formula_values_are_rejected_even_in_full_width() -> None:
    out = judge([biz(持证主体="=1+1"), biz(证照编号="2", 住所="＝SUM(A1)"), biz(证照编号="3",
                                                                        住所="a=b")])
    assert codes(out, 0) == [("FORMULA", "CZZT")]
    assert codes(out, 1) == [("FORMULA", "KZ_ZS")]
    assert out[OUTCOME].iloc[2] == ACCEPTED


@pytest.mark.parametrize("value", [
    "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)", " =1+1", "\t=1+1",
    "\r\n+1+1", "\u3000＋cmd", "－A1",
])
def test_formula_triggers_are_refused_after_whitespace_too(value: str) -> None:
    out = judge([biz(住所=value), biz(证照编号="2", 持证主体=value)])
    assert codes(out, 0) == [("FORMULA", "KZ_ZS")]
    assert codes(out, 1) == [("FORMULA", "CZZT")]
    assert "住所 (KZ_ZS)" in out[REASONS].iloc[0][0]["message"]


def test_a_signed_number_or_a_dash_is_a_value_not_a_formula() -> None:
    out = judge([biz(注册资本="-"), biz(证照编号="2", 注册资本="-100"),
                 biz(证照编号="3", 注册资本="+1.5")])
    assert out[OUTCOME].tolist() == [ACCEPTED] * 3
    assert out["KZ_ZCZB"].tolist() == ["-", "-100", "+1.5"]


@pytest.mark.parametrize(("value", "codepoint"), [
    ("示范市\x00甲有限公司", "U+0000"), ("\x1b[2J\x1b[31m示范市甲有限公司", "U+001B"),
    ("示范市\x9b甲有限公司", "U+009B"), ("示范市\u202e甲有限公司", "U+202E"),
    ("示范市\u200b甲有限公司", "U+200B"),
])
def test_control_and_format_characters_in_text_are_refused(value: str, codepoint: str) -> None:
    out = judge([biz(持证主体=value), biz(证照编号="2")])
    assert codes(out, 0) == [("BAD_VALUE", "CZZT")]
    message = out[REASONS].iloc[0][0]["message"]
    assert codepoint in message and "持证主体 (CZZT)" in message and "retype" in message
    assert not any(c in message for c in "\x00\x1b\x9b\u202e\u200b")  # quoted escaped
    assert out[OUTCOME].iloc[1] == ACCEPTED


@given(st.text(st.characters(codec="utf-8"), min_size=1, max_size=12))
@settings(max_examples=80, deadline=5000)
def test_a_name_is_sealed_only_without_hidden_characters_or_formulas(name: str) -> None:
    out = judge([biz(持证主体=name)])
    sealed = out["CZZT"].iloc[0]
    if out[OUTCOME].iloc[0] == ACCEPTED:
        assert hidden_character(sealed) is None and not is_formula(sealed)
        assert not any(unicodedata.category(c) in ("Cc", "Cf") and c not in "\t\n\r\u200c\u200d"
                       for c in sealed)
    else:
        assert {r["element"] for r in out[REASONS].iloc[0]} <= {"CZZT"}


def test_hidden_character_message_in_chinese_shows_the_character_escaped() -> None:
    out = judge([biz(持证主体="示范市\x00甲有限公司")])
    with language("zh"):
        message = reason_message(out[REASONS].iloc[0][0])
    assert message == ("持证主体（CZZT）'示范市\\x00甲有限公司' 含不可见字符或控制字符 "
                       "U+0000（控制字符）：请删除该字符后重新录入")


def test_line_breaks_and_tabs_inside_text_are_kept() -> None:
    scope = "一、零售\n二、批发\t三、咨询"
    out = judge([biz(经营范围=scope)])
    assert out[OUTCOME].iloc[0] == ACCEPTED and out["KZ_JYFW"].iloc[0] == scope


def test_a_control_character_in_a_code_is_refused() -> None:
    out = judge([biz(证照编号="JY1\x0123")])
    assert codes(out) == [("BAD_VALUE", "ZZBH")]


@pytest.mark.parametrize("hidden", ["\u200b", "\u2060", "\ufeff", "\u00ad"])
def test_invisible_characters_in_numbers_and_codes_are_removed_so_duplicates_are_caught(
        hidden: str) -> None:
    code = good_uscc(1)
    out = judge([biz(证照编号="JY123"), biz(证照编号=f"JY{hidden}123",
                                          持证主体代码=code[:5] + hidden + code[5:])])
    assert out["ZZBH"].tolist() == ["JY123", "JY123"]
    assert codes(out, 1) == [("DUPLICATE_IN_FILE", "ZZBH")]
    assert "repeats line 2" in out[REASONS].iloc[1][0]["message"]


def test_numbers_in_arabic_indic_digits_repeat_the_ascii_ones() -> None:
    arabic = "330102000000001".translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    out = judge([biz(), biz(证照编号=arabic, 持证主体代码=good_uscc(1).translate(
        str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")))])
    assert codes(out, 1) == [("DUPLICATE_IN_FILE", "ZZBH")]
    assert out["CZZTDM"].iloc[1] == good_uscc(1)


@pytest.mark.parametrize(("change", "element", "words"), [
    ({"颁证日期": "0001-01-01"}, "ZZBFRQ", "00010101 is outside the plausible range 19491001 to "
                                          "20261127"),
    ({"颁证日期": "1949-09-30"}, "ZZBFRQ", "19490930 is outside"),
    ({"有效期截止日期": "9999-12-31"}, "ZZYXQJZRQ", "or write 长期 for no end"),
    ({"有效期起始日期": "1899-12-31"}, "ZZYXQQSRQ", "18991231 is outside"),
    ({"成立日期": "0001-01-01", "有效期起始日期": "2020-03-01"}, "KZ_CLRQ", "00010101"),
])
def test_implausible_dates_are_refused_naming_the_element(change: dict[str, str], element: str,
                                                          words: str) -> None:
    out = judge([biz(**change)])
    assert out[OUTCOME].iloc[0] == REJECTED
    found = [r for r in out[REASONS].iloc[0] if r["code"] == BAD_DATE]
    assert [r["element"] for r in found] == [element] and words in found[0]["message"]


def test_dates_at_the_bounds_and_changqi_are_accepted() -> None:
    out = judge([biz(颁证日期="1949-10-01", 成立日期="1949-10-01", 有效期起始日期="1949-10-01"),
                 biz(证照编号="2", 有效期截止日期="2126-11-27"),
                 biz(证照编号="3", 有效期截止日期="长期")])
    assert out[OUTCOME].tolist() == [ACCEPTED] * 3, out[REASONS].tolist()


def test_invisible_characters_make_no_second_license(world: Engine, settings: Settings,
                                                     tmp_path: Path) -> None:
    """On both engines: a number with a zero-width space (or in Arabic-Indic digits) in a later
    batch is the same license, unchanged, never a second one."""
    ingest(world, settings, write_csv(tmp_path / "a.csv", row(1), row(2)))
    first, second = (row(n).split(",", 1) for n in (1, 2))
    arabic = first[0].translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    report = ingest(world, settings, write_csv(
        tmp_path / "b.csv", f"{first[0][:6]}\u200b{first[0][6:]},{first[1]}",
        f"\u2060{second[0]},{second[1]}", f"{arabic},{first[1]}"))
    assert (report.accepted, report.rejected) == (2, 1)
    with session_scope(world) as s:
        outcomes = row_outcomes(s, report.batch_id)
        assert [r["reasons"][0]["code"] for r in outcomes] == ["UNCHANGED", "UNCHANGED",
                                                               "DUPLICATE_IN_FILE"]
        assert s.scalars(select(License.number).order_by(License.number)).all() == [
            first[0], second[0]]
    assert count(world, License) == 2


def test_control_characters_are_refused_and_kept_verbatim_on_both_engines(
        world: Engine, settings: Settings) -> None:
    """NUL and escape sequences reach the database only in the raw rows, kept as they came
    (PostgreSQL's jsonb has no NUL: the raw cells must still be stored)."""
    report = ingest(world, settings, REPO / "fixtures" / "bad" / "control-characters.csv")
    assert (report.accepted, report.rejected) == (1, 3)
    with session_scope(world) as s:
        rows = row_outcomes(s, report.batch_id)
        assert [(r["reasons"][0]["code"], r["reasons"][0]["element"]) for r in rows[:3]] == [
            ("BAD_VALUE", "CZZT"), ("BAD_VALUE", "CZZT"), ("BAD_VALUE", "KZ_FDDBR")]
        raw = [s.get_one(SourceRow, (report.batch_id, line)).raw for line in (2, 3)]
        assert [r["持证主体"] for r in raw] == [
            "示范市第1商贸\x00有限公司", "\x1b[2J\x1b[31m示范市第2商贸有限公司"]


def test_reader_problems_replace_every_other_reason() -> None:
    p = (problem("NUMBER_PRECISION", "持证主体代码", "cell C2 lost digits"),)
    out = judge([biz(持证主体代码="913301027799816000", 法定代表人=""), biz(证照编号="2")],
                problems={0: p})
    assert codes(out, 0) == [("NUMBER_PRECISION", "CZZTDM")]
    assert out[REASONS].iloc[0][0]["message"] == "cell C2 lost digits"
    assert out[OUTCOME].tolist() == [REJECTED, ACCEPTED]
    assert out[RAW].iloc[0]["持证主体代码"] == "913301027799816000"


def test_accepted_rows_have_an_empty_tuple_of_reasons() -> None:
    assert judge([biz()])[REASONS].iloc[0] == ()


# -- rows under a department's own column names ----------------------------------------------------


def test_mapped_rows_evaluate_under_the_department_names() -> None:
    row = biz()
    renamed = {("企业名称" if k == "持证主体" else k): v for k, v in row.items()}
    out = judge([renamed], mapping={"企业名称": "CZZT"})
    assert out[OUTCOME].tolist() == [ACCEPTED] and out["CZZT"].iloc[0] == "示范市甲有限公司"
    assert out[RAW].iloc[0]["企业名称"] == "示范市甲有限公司"  # raw keeps the department's name
