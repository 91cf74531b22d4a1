"""Cell normalization: dates in the forms clerks type (and Excel serials), NFKC text and codes,
column helpers, and the value rule (hidden characters, formulas, plausible dates)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.ingest.normalize import (
    EARLIEST_DATE,
    EARLIEST_ISSUE,
    EXCEL_EPOCH,
    FORMAT_CHARACTERS,
    NO_END,
    date_bounds,
    excel_serial,
    format_date,
    hidden_character,
    is_formula,
    is_no_end,
    normalize_code,
    normalize_code_series,
    normalize_codes,
    normalize_date_series,
    normalize_dates,
    normalize_text,
    normalize_text_series,
    normalize_texts,
    parse_date,
)

FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.mark.parametrize(
    "text",
    [
        "2021-03-05", "2021-3-5", "2021/3/5", "2021/03/05", "20210305", "2021年3月5日",
        "2021年03月05日", "２０２１年３月５日", "２０２１－０３－０５", "２０２１／３／５",
        "２０２１０３０５", "  2021-03-05\t",
    ],
)
def test_parse_date_accepts_each_form(text: str) -> None:
    assert parse_date(text) == date(2021, 3, 5)


@pytest.mark.parametrize(
    "text",
    [
        "", "长期", "2021.3.5", "21-3-5", "2021-3", "2021-03-05 00:00:00", "2021/3-5", "202135",
        "2021年3月5", "2021-003-05", "05/03/2021", "2021_03_05", "٢٠٢١-٠٣-٠٥",
    ],
)
def test_parse_date_refuses_other_forms(text: str) -> None:
    with pytest.raises(ValueError, match="not a date in an accepted form") as info:
        parse_date(text)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize("text", ["2021-02-30", "2023-02-29", "2021-13-01", "20210431",
                                  "0000-01-01", "2021年4月31日"])
def test_parse_date_refuses_impossible_dates(text: str) -> None:
    with pytest.raises(ValueError, match="is not a real date"):
        parse_date(text)


def test_parse_date_accepts_a_leap_day() -> None:
    assert parse_date("2024-02-29") == date(2024, 2, 29)


def test_format_date_pads_every_part() -> None:
    assert format_date(date(2021, 3, 5)) == "20210305"
    assert format_date(date(5, 1, 2)) == "00050102"


def test_no_end_words() -> None:
    assert NO_END == "长期"
    for word in ("长期", "永久", "长期有效", " 长期 ", "\u3000永久"):
        assert is_no_end(word), word
    for word in ("", "长", "长期无效", "2099-12-31", "长 期"):
        assert not is_no_end(word), word


def test_normalize_text_and_code() -> None:
    assert normalize_text("\u3000ＡＢＣ（１）；ｘ\t") == "ABC(1);x"
    assert normalize_text("示范市东城区") == "示范市东城区"
    assert normalize_code(" ９１３３０１００ma2h3k4l4w ") == "91330100MA2H3K4L4W"
    assert normalize_code("11010519491231002x") == "11010519491231002X"


@st.composite
def written_dates(draw: st.DrawFn) -> tuple[date, str]:
    d = draw(st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31)))
    forms = [
        f"{d:%Y-%m-%d}", f"{d.year}-{d.month}-{d.day}", f"{d.year}/{d.month}/{d.day}",
        f"{d.year:04d}/{d.month:02d}/{d.day:02d}", f"{d.year:04d}{d.month:02d}{d.day:02d}",
        f"{d.year}年{d.month}月{d.day}日", f"{d.year}年{d.month:02d}月{d.day:02d}日",
    ]
    text = draw(st.sampled_from(forms))
    if draw(st.booleans()):
        text = text.translate(FULL_WIDTH_DIGITS)
    return d, text


@given(written_dates())
def test_every_accepted_form_parses_back_to_its_date(case: tuple[date, str]) -> None:
    d, text = case
    assert parse_date(text) == d
    assert format_date(parse_date(text)) == f"{d.year:04d}{d.month:02d}{d.day:02d}"


# Cells as departments type them: CJK, full-width forms, spaces, combining marks, NUL.
_cell_text = st.text(
    alphabet=st.one_of(
        st.sampled_from("示范市（），；：　ＡＢＣ１２３abc XYZ\t\x00\u0301\u00a0é①㈱ｶﾞ"),
        st.characters(codec="utf-8"),
    ),
    max_size=12,
)


@given(st.lists(_cell_text, max_size=8))
def test_bulk_normalization_equals_nfkc_of_each_cell(cells: list[str]) -> None:
    expected = [unicodedata.normalize("NFKC", c).strip() for c in cells]
    assert normalize_texts(cells) == expected
    assert [normalize_text(c) for c in cells] == expected


def test_normalize_texts_handles_missing_values_and_empty_lists() -> None:
    assert normalize_texts([]) == []
    assert normalize_texts(["（Ａ）", None, float("nan")]) == ["(A)", "", ""]


def test_normalize_dates_column() -> None:
    cells = ["2021-3-5", "长期", "", "x", "永久", "2021-02-30", "２０２１年３月５日", "2021-3-5"]
    assert normalize_dates(cells, no_end=True) == [
        "20210305", NO_END, "", None, NO_END, None, "20210305", "20210305"]
    assert normalize_dates(cells) == [
        "20210305", None, "", None, None, None, "20210305", "20210305"]


def test_series_helpers_keep_the_index_and_blank_missing_values() -> None:
    s = pd.Series(["  ａｂ ", None, "长期"], index=[7, 8, 9], dtype=str)
    assert normalize_text_series(s).to_dict() == {7: "ab", 8: "", 9: "长期"}
    assert normalize_code_series(s).to_dict() == {7: "AB", 8: "", 9: "长期"}
    assert normalize_date_series(s, no_end=True).to_dict() == {7: None, 8: "", 9: NO_END}
    # A column that is not text (built by hand, not by the reader) is read through str().
    assert normalize_text_series(pd.Series([12, None], dtype=object)).tolist() == ["12", ""]


# -- every accepted form and Excel serials parse back ----------------------------------------------


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


# --- the value rule --------------------------------------------------------------------------


def test_format_characters_are_exactly_unicode_category_cf() -> None:
    """The hard-coded class holds every Cf character and, beyond them, only code points this
    Python's Unicode does not assign yet (Cf in a later version)."""
    pattern = re.compile(f"[{FORMAT_CHARACTERS}]")
    listed = {c for c in map(chr, range(0x110000)) if pattern.fullmatch(c)}
    cf = {c for c in map(chr, range(0x110000)) if unicodedata.category(c) == "Cf"}
    assert cf <= listed
    assert {unicodedata.category(c) for c in listed - cf} <= {"Cn"}


@pytest.mark.parametrize("typed", [
    "330102\u200b000000001",  # zero-width space
    "3301020000\u206000001",  # word joiner
    "\ufeff330102000000001",  # a byte-order mark
    "330102\u00ad000000001",  # soft hyphen
    "330102\u202e000000001",  # a bidi override
    *("330102000000001".translate(str.maketrans("0123456789", digits)) for digits in (
        "٠١٢٣٤٥٦٧٨٩",  # Arabic-Indic (NFKC leaves them)
        "۰۱۲۳۴۵۶۷۸۹",  # Extended Arabic-Indic (Persian)
        "०१२३४५६७८९",  # Devanagari
        "０１２３４５６７８９")),  # full-width (NFKC makes them ASCII)
])
def test_codes_and_numbers_compare_without_invisible_characters_in_any_script(
        typed: str) -> None:
    assert normalize_code(typed) == "330102000000001"
    assert normalize_codes([typed, "jy1"]) == ["330102000000001", "JY1"]


@given(st.lists(st.text(max_size=12), max_size=6))
@settings(max_examples=60, deadline=2000)
def test_normalized_codes_hold_no_format_character_nor_foreign_digit(cells: list[str]) -> None:
    out = normalize_codes(cells)
    assert out == [normalize_code(c) for c in cells]
    for code in out:
        assert not any(unicodedata.category(c) == "Cf" for c in code)
        assert all(c.isascii() for c in code if c.isdecimal())


@pytest.mark.parametrize(("value", "code", "found"), [
    ("示范市\x00有限公司", False, "\x00"),
    ("\x1b[2J\x1b[31m示范市", False, "\x1b"),
    ("示范\x9b31m", False, "\x9b"),  # C1 CSI
    ("张\u202e三", False, "\u202e"),
    ("张\u200b三", False, "\u200b"),
    ("经营范围：\n一、零售\t二、批发", False, None),  # line breaks and tabs are text
    ("👩\u200d💻 工作室", False, None),  # the joiners are text
    ("JY1\t23", True, "\t"),  # but no control character in a code
    ("JY123", True, None),
])
def test_hidden_characters(value: str, code: bool, found: str | None) -> None:
    assert hidden_character(value, code=code) == found


@pytest.mark.parametrize(("value", "formula"), [
    ("=1+1", True), ("+cmd|' /C calc'!A0", True), ("-2+3+cmd|' /C calc'!A0", True),
    ("@SUM(1+1)", True), ("-A1", True), ("+86 571 8888 8888", True),
    ("-", False), ("--", False), ("-100", False), ("+1.5", False), ("-1,000.50", False),
    ("a=b", False), ("100万元", False), ("", False),
])
def test_formula_triggers(value: str, formula: bool) -> None:
    assert is_formula(value) is formula


def test_date_bounds_per_element() -> None:
    today = date(2026, 11, 27)
    assert date_bounds("ZZBFRQ", today) == (EARLIEST_ISSUE, today) == (date(1949, 10, 1), today)
    assert date_bounds("ZZYXQJZRQ", today) == (EARLIEST_DATE, date(2126, 11, 27))
    assert date_bounds("KZ_CSRQ", date(2000, 2, 29)) == (date(1900, 1, 1), date(2100, 2, 28))
