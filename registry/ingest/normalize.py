"""Normalizing department cells: text, codes and dates.

Departments type dates and codes by hand, in full-width characters, with stray spaces. Every
cell goes through NFKC (full-width ``２０２１`` becomes ``2021``, ``（`` becomes ``(``) and strip;
codes are also upper-cased; dates are accepted in the four forms clerks use, plus the Excel
date serial a spreadsheet exports for an unformatted date cell, and written ``yyyyMMdd`` as
GB/T 36903 interfaces do. The ``*_series`` helpers do the same over a pandas
column, fast enough for ~10^5 rows per second.

>>> parse_date("２０２１年３月５日")
datetime.date(2021, 3, 5)
>>> format_date(parse_date("2021/3/5"))
'20210305'
>>> normalize_code(" ９１３３０１００ma2h3k4l4w ")
'91330100MA2H3K4L4W'
>>> is_no_end("长期有效")
True
>>> parse_date("45356")   # an Excel date serial
datetime.date(2024, 3, 5)

**The value rule** (one rule for every element; the README's clerk section says the same):

- *Codes and numbers* (持证主体代码, 证照编号: what the registry compares) are NFKC-normalized,
  their digits of any script made ASCII (Arabic-Indic ``٣`` becomes ``3``: NFKC leaves it),
  their invisible format characters (Unicode category Cf: zero-width space U+200B, word joiner
  U+2060, BOM U+FEFF, soft hyphen U+00AD, bidi controls) **removed** (Unicode's NFKC_Casefold
  removes such default-ignorable characters, so identifiers compare without them) and
  upper-cased: a number with a zero-width space *is* the number without it, and repeats it.
  A control character (Cc: U+0000-U+001F, U+007F-U+009F) in a code is refused.
- *Text* (names, addresses, every other element) is NFKC-normalized and stripped; a control
  character other than tab and line breaks, or a format character other than the joiners
  U+200C/U+200D (needed by some scripts and emoji), is **refused** (:func:`hidden_character`):
  it would be sealed unseen, or drive a terminal.
- *Formulas*: a value starting with ``=``, ``+``, ``-`` or ``@`` (after NFKC and stripping, so
  also after spaces, tabs or line breaks) is a spreadsheet formula and refused
  (:func:`is_formula`, OWASP CSV injection), except a plain signed number (``-5``, ``+1.5``) and
  a placeholder of dashes (``-``, ``--``): no element is numeric, so these are text a clerk
  means. Exports neutralize every such cell with a leading ``'`` (``registry.batch.reports``).
- *Dates* must be plausible (:func:`date_bounds`): 颁证日期 not before 1949-10-01 nor after
  today; any other date not before 1900-01-01 nor more than 100 years after today (长期 says
  "no end").

>>> normalize_code("JY1\u200b23٤")
'JY1234'
>>> hidden_character("A\\x1b[31m"), is_formula("+cmd|' /C calc'!A0"), is_formula("-12.5")
('\\x1b', True, False)
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from typing import Any

import pandas as pd

__all__ = [
    "DATE_FORMS",
    "EARLIEST_DATE",
    "EARLIEST_ISSUE",
    "EXCEL_EPOCH",
    "FORMAT_CHARACTERS",
    "LATEST_YEARS",
    "NO_END",
    "NO_END_WORDS",
    "date_bounds",
    "excel_serial",
    "format_date",
    "hidden_character",
    "is_formula",
    "is_no_end",
    "normalize_code",
    "normalize_code_series",
    "normalize_codes",
    "normalize_date_series",
    "normalize_dates",
    "normalize_text",
    "normalize_text_series",
    "normalize_texts",
    "parse_date",
    "text_cells",
]

NO_END = "长期"
"""The value of 有效期截止日期 (ZZYXQJZRQ) for a license with no end date."""

NO_END_WORDS = frozenset({"长期", "永久", "长期有效"})
"""What departments write for "no end date"; all normalize to :data:`NO_END`."""

DATE_FORMS = ("2021-03-05", "2021/3/5", "20210305", "2021年3月5日", "44260")
"""The accepted ways of writing a date, one example each (full-width digits allowed); the
last is an Excel date serial (five digits: 1927-05-18 to 2173-10-14)."""

EXCEL_EPOCH = date(1899, 12, 30)
"""Day 0 of Excel's 1900 date system (serial 1 is 1900-01-01 because Excel counts a
1900-02-29 that never was; every serial from 61 on, so every five-digit one, is right)."""

# After NFKC every accepted form is ASCII digits plus one kind of separator. Month and day may
# drop their leading zero except in the compact form, where the widths are what delimit them.
_DATE_RE = re.compile(
    r"(?P<y1>[0-9]{4})-(?P<m1>[0-9]{1,2})-(?P<d1>[0-9]{1,2})"
    r"|(?P<y2>[0-9]{4})/(?P<m2>[0-9]{1,2})/(?P<d2>[0-9]{1,2})"
    r"|(?P<y3>[0-9]{4})(?P<m3>[0-9]{2})(?P<d3>[0-9]{2})"
    r"|(?P<y4>[0-9]{4})年(?P<m4>[0-9]{1,2})月(?P<d4>[0-9]{1,2})日"
    r"|(?P<serial>[1-9][0-9]{4})"
)


EARLIEST_ISSUE = date(1949, 10, 1)
"""No 颁证日期 before the founding of the People's Republic."""
EARLIEST_DATE = date(1900, 1, 1)
"""No other date (validity, 成立日期, 出生日期) before this."""
LATEST_YEARS = 100
"""No date more than this many years after today (a longer validity is written 长期)."""

FORMAT_CHARACTERS = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f")
"""Unicode category Cf (format characters) as the ranges of a regex character class
(tests/ingest/test_normalize.py checks them against :mod:`unicodedata`): a regex scans a
whole column in C."""
_FORMAT = re.compile(f"[{FORMAT_CHARACTERS}]")
_CODE_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f]")
# In text, the joiners U+200C/U+200D are allowed; tab, LF and CR too.
_TEXT_FORMAT = FORMAT_CHARACTERS.replace("\u200b-\u200f", "\u200b\u200e\u200f")
_TEXT_HIDDEN = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_TEXT_FORMAT}]")
_NON_ASCII_DIGIT = re.compile(r"[^\x00-\x7f]")
_NOT_FORMULA = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)*|-+")


def hidden_character(value: str, *, code: bool = False) -> str | None:
    """The first character of ``value`` the value rule refuses (a control or format character
    in text; a control character in a code, whose format characters :func:`normalize_code`
    removed), or None."""
    m = (_CODE_HIDDEN if code else _TEXT_HIDDEN).search(value)
    return None if m is None else m.group()


def is_formula(value: str) -> bool:
    """Whether a normalized value is a spreadsheet formula (starts with ``= + - @``), a plain
    signed number or a run of dashes excepted."""
    return value[:1] in ("=", "+", "-", "@") and _NOT_FORMULA.fullmatch(value) is None


def date_bounds(code: str, today: date) -> tuple[date, date]:
    """The earliest and latest plausible value of date element ``code``."""
    if code == "ZZBFRQ":
        return EARLIEST_ISSUE, today
    try:
        latest = today.replace(year=today.year + LATEST_YEARS)
    except ValueError:  # 29 February
        latest = today.replace(year=today.year + LATEST_YEARS, day=28)
    return EARLIEST_DATE, latest


def normalize_text(s: str) -> str:
    """NFKC then strip: full-width letters, digits and punctuation become their ASCII forms."""
    return unicodedata.normalize("NFKC", s).strip()


def normalize_code(s: str) -> str:
    """:func:`normalize_text`, digits of any script made ASCII, format characters removed,
    then upper-case, for identifiers (USCC, ID numbers, 证照编号, element codes)."""
    return normalize_codes([s])[0]


def _ascii_digit(m: re.Match[str]) -> str:
    c = m.group()
    return str(unicodedata.decimal(c)) if c.isdecimal() else c


def normalize_codes(cells: list[Any]) -> list[str]:
    """:func:`normalize_code` over a list of cells, in bulk (one scan when all is ASCII)."""
    out = normalize_texts(cells)
    if not all(map(str.isascii, out)):
        out = [c if c.isascii() else
               _NON_ASCII_DIGIT.sub(_ascii_digit, _FORMAT.sub("", c)).strip() for c in out]
    return list(map(str.upper, out))


def parse_date(text: str) -> date:
    """Parse one of :data:`DATE_FORMS`; raise ``ValueError`` naming the text otherwise.

    Impossible dates (``2021-02-30``) are refused, never rolled over to the next month.
    """
    m = _DATE_RE.fullmatch(normalize_text(text))
    if m is None:
        raise ValueError(
            f"{text!r} is not a date in an accepted form ({', '.join(DATE_FORMS)})"
        )
    if m.group("serial") is not None:
        return EXCEL_EPOCH + timedelta(days=int(m.group("serial")))
    y, mo, d = (g for g in m.groups() if g is not None)
    try:
        return date(int(y), int(mo), int(d))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a real date ({exc})") from exc


def excel_serial(d: date) -> str:
    """The Excel date serial of ``d`` (the inverse of :func:`parse_date` on that form)."""
    return str((d - EXCEL_EPOCH).days)


def format_date(d: date) -> str:
    """``yyyyMMdd``, zero-padded (``strftime`` does not pad years below 1000 everywhere)."""
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def is_no_end(text: str) -> bool:
    """True when ``text`` says the license never ends (长期, 永久, 长期有效)."""
    return normalize_text(text) in NO_END_WORDS


# NFKC is slow in CPython whenever it has to change something (≈6 µs for a 47-character
# 经营范围 with full-width punctuation), and Chinese free text nearly always has some. Those
# changes are almost all full-width forms (U+FF01-FF5E) and the ideographic space, so a column
# is normalized in bulk: replace those characters by their NFKC forms with str.replace on the
# whole column, then let NFKC's fast quick-check confirm nothing else is left. Replacing a
# character by its own NFKC form keeps the string compatibility-equivalent, so a result the
# quick-check passes is exactly NFKC of the input; NUL between cells never composes or
# reorders with its neighbours, so normalizing the joined column equals normalizing each cell.
_FULL_WIDTH = re.compile("[\u3000\uff01-\uff5e]")
_COMMON_FULL_WIDTH = "（），；：\u3000"
_SEP = "\x00"


def normalize_texts(cells: list[Any]) -> list[str]:
    """:func:`normalize_text` over a list of cells, in bulk (same result, much faster)."""
    try:
        joined = _SEP.join(cells)
    except TypeError:  # a missing value (NaN) in a DataFrame not made by the reader
        return normalize_texts(_as_text(cells))
    if joined.count(_SEP) != max(len(cells) - 1, 0):
        return [normalize_text(c) for c in cells]  # a cell holds NUL itself: go one by one
    if not unicodedata.is_normalized("NFKC", joined):
        # The punctuation Chinese text is full of first (a scan each), then whatever else.
        for ch in _COMMON_FULL_WIDTH:
            joined = joined.replace(ch, unicodedata.normalize("NFKC", ch))
        if not unicodedata.is_normalized("NFKC", joined):
            for ch in set(_FULL_WIDTH.findall(joined)):
                joined = joined.replace(ch, unicodedata.normalize("NFKC", ch))
        if not unicodedata.is_normalized("NFKC", joined):
            return [
                c.strip() if unicodedata.is_normalized("NFKC", c)
                else unicodedata.normalize("NFKC", c).strip()
                for c in joined.split(_SEP)
            ]
    return list(map(str.strip, joined.split(_SEP))) if cells else []


def _as_text(cells: list[Any]) -> list[str]:
    return [v if isinstance(v, str) else "" if pd.isna(v) else str(v) for v in cells]


def text_cells(values: pd.Series) -> list[Any]:
    """The cells of a column as a list. A text column (what the reader produces) is taken as
    it is: the normalizers turn a missing value they meet into ``""``; any other column is
    converted (missing → ``""``, anything else its ``str()``)."""
    if isinstance(values.dtype, pd.StringDtype):
        return values.tolist()
    return _as_text(values.tolist())


def normalize_text_series(values: pd.Series) -> pd.Series:
    """:func:`normalize_text` over a column (object dtype); missing values become ``""``."""
    return pd.Series(normalize_texts(text_cells(values)), index=values.index, dtype=object)


def normalize_code_series(values: pd.Series) -> pd.Series:
    """:func:`normalize_code` over a column (object dtype); missing values become ``""``."""
    return pd.Series(normalize_codes(text_cells(values)), index=values.index, dtype=object)


def _date_or_none(text: str, *, no_end: bool) -> str | None:
    cell = normalize_text(text)
    if cell == "":
        return ""
    if no_end and cell in NO_END_WORDS:
        return NO_END
    try:
        return format_date(parse_date(cell))
    except ValueError:
        return None


def normalize_dates(cells: list[Any], *, no_end: bool = False) -> list[str | None]:
    """Each cell as ``yyyyMMdd``; :data:`NO_END` for a no-end word when ``no_end`` is set;
    ``""`` for an empty cell; ``None`` when the cell is not a date (call :func:`parse_date`
    on it for the reason). A batch holds few distinct dates (a few thousand days), so each
    distinct cell is parsed once."""
    try:
        known = {cell: _date_or_none(cell, no_end=no_end) for cell in set(cells)}
    except TypeError:  # a missing value (NaN) in a DataFrame not made by the reader
        return normalize_dates(_as_text(cells), no_end=no_end)
    return list(map(known.__getitem__, cells))


def normalize_date_series(values: pd.Series, *, no_end: bool = False) -> pd.Series:
    """:func:`normalize_dates` over a column (object dtype); missing values count as empty."""
    return pd.Series(normalize_dates(text_cells(values), no_end=no_end), index=values.index,
                     dtype=object)
