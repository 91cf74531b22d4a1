"""Cell normalization: dates in the forms clerks type (and Excel serials), NFKC text and codes,
column helpers."""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.ingest.normalize import (
    EXCEL_EPOCH,
    NO_END,
    excel_serial,
    format_date,
    is_no_end,
    normalize_code,
    normalize_code_series,
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
