"""Deciding each row of a department batch: accepted, filtered or rejected, and why.

The provincial platform wants every valid, non-classified license still in force. A row is

1. **rejected** when it is invalid, whatever else is true of it: the reader could not read it
   (``PROBLEMS``), a required element is empty, the holder code fails its checks (GB 32100 and
   its GB 11714 organization-code segment, GB 11643) or contradicts a declared holder code
   type, a date is not a real date, the issue date is in the future, the dates are out of
   order (颁证日期 ≤ 有效期起始日期 ≤ 有效期截止日期, 成立日期 ≤ 颁证日期), a value is outside
   the schema, holds a hidden (control or format) character or is a spreadsheet formula, a
   date is implausible (the value rule of :mod:`registry.ingest.normalize`), or its 证照编号
   repeats an earlier row of the same file. Every validation reason of the row is reported;
2. **filtered** when it is valid but not to be aggregated: expired before ``today``, or
   classified (涉密). Both reasons are reported when both apply;
3. **accepted** otherwise, with no reasons, except a flag: a holder code that fails its check
   but is on the known-legitimate list (``known_codes``: early pilot codes really issued) is
   accepted with a ``KNOWN_EXCEPTION`` reason, never dropped.

Column names are matched to element codes first (:func:`header_map`), then :func:`evaluate`
works on whole columns with pandas; only the rows that fail a rule cost Python per row.

>>> from datetime import date
>>> from pathlib import Path
>>> from registry.ingest.reader import read_rows
>>> from registry.license.types import catalogue
>>> lt = catalogue()["11100000MB0143028R001"]
>>> chunk = next(read_rows(Path("fixtures/batches/business-licenses.csv")))
>>> hmap = header_map(list(chunk.columns), lt)
>>> out = evaluate(chunk, lt, hmap, today=date(2026, 11, 27), seen_numbers=set())
>>> summarize(out)["rejected"], out.loc[0, ["OUTCOME", "ZZMC", "CZZTDMLXDM"]].tolist()
(7, ['accepted', '营业执照', '001'])
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import repeat
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from registry.errors import ConfigError, IngestError
from registry.i18n import N_, _
from registry.ingest.frames import CELL_TOO_LONG, EXTRA, LINE, PROBLEMS, RESERVED_COLUMNS
from registry.ingest.messages import Text, reason, text
from registry.ingest.normalize import (
    DATE_FORMS,
    NO_END,
    date_bounds,
    format_date,
    hidden_character,
    is_formula,
    normalize_code,
    normalize_codes,
    normalize_dates,
    normalize_texts,
    parse_date,
    text_cells,
)
from registry.license.codes import (
    HOLDER_ID_CARD,
    HOLDER_TYPE_NAMES,
    HOLDER_USCC,
    USCC_ALPHABET,
    id_card_check,
    org_code_check,
    uscc_check,
)
from registry.license.model import JudgedRow
from registry.license.types import Element, LicenseType, base_schema

__all__ = [
    "ACCEPTED",
    "BAD_DATE",
    "BAD_HOLDER_CODE",
    "BAD_VALUE",
    "CLASSIFIED",
    "CLASSIFIED_ELEMENT",
    "CLASSIFIED_NO",
    "CLASSIFIED_TITLE",
    "CLASSIFIED_YES",
    "DATE_ORDER",
    "DUPLICATE_IN_FILE",
    "EXPIRED",
    "EXTRA_CELLS",
    "FILTERED",
    "FILTER_REASONS",
    "FLAG_REASONS",
    "FORMULA",
    "FUTURE_DATE",
    "HOLDER_TYPE",
    "KNOWN_EXCEPTION",
    "MISSING_ELEMENT",
    "NOTE_CODES",
    "OUTCOME",
    "OUTCOMES",
    "RAW",
    "READ_REASONS",
    "REASONS",
    "REASON_CODES",
    "REASON_TITLES",
    "REJECTED",
    "VALIDATION_REASONS",
    "HeaderMap",
    "evaluate",
    "header_map",
    "id_card_valid_mask",
    "judged",
    "org_segment_valid_mask",
    "summarize",
    "uscc_valid_mask",
]

# Output columns (besides LINE and one column per element code).
OUTCOME = "OUTCOME"
"""Column: :data:`ACCEPTED`, :data:`FILTERED` or :data:`REJECTED`."""
REASONS = "REASONS"
"""Column: tuple of ``{"code", "element", "message"}`` dicts; ``()`` for an accepted row
(unless it carries a :data:`KNOWN_EXCEPTION` flag)."""
RAW = "RAW"
"""Column: dict original header → cell, verbatim (overflow cells under ``"(column N)"``)."""
HOLDER_TYPE = "CZZTDMLXDM"
"""Column: the holder code type (001 USCC, 111 ID number) the row's holder code was read as."""

ACCEPTED = "accepted"
FILTERED = "filtered"
REJECTED = "rejected"
OUTCOMES = (ACCEPTED, FILTERED, REJECTED)

# Reason codes: what the reader found (the row is rejected; see registry.ingest.reader) ...
READ_REASONS = (
    "UNREADABLE_FILE", "ACTIVE_CONTENT", "WRONG_TYPE", "DUPLICATE_FILE", "UNSUPPORTED_MEMBER",
    "BAD_JSON", "NOT_AN_OBJECT", "NESTED_VALUE", "DUPLICATE_KEY", "NUMBER_PRECISION",
    CELL_TOO_LONG,
)
"""Row problems the readers report (PDF and archive members, JSON, workbooks, long cells)."""
# ... validation (the row is rejected) ...
EXTRA_CELLS = "EXTRA_CELLS"
"""The row has non-empty cells beyond the header's last column (a stray separator)."""
MISSING_ELEMENT = "MISSING_ELEMENT"
"""A required element is empty or has no column."""
BAD_HOLDER_CODE = "BAD_HOLDER_CODE"
"""持证主体代码 is malformed or fails its GB 32100 / GB 11643 check character."""
BAD_DATE = "BAD_DATE"
"""A date is in no accepted form, is not a real date or is implausible (before 1949-10-01 for
颁证日期, before 1900 or over 100 years ahead for the others)."""
FUTURE_DATE = "FUTURE_DATE"
"""颁证日期 is after the evaluation date."""
DATE_ORDER = "DATE_ORDER"
"""Dates out of order: 颁证日期 after 有效期起始日期 (unless the type allows it), 有效期起始日期
after 有效期截止日期, or 成立日期 after 颁证日期."""
BAD_VALUE = "BAD_VALUE"
"""A value is outside its schema (not in the enum, too long), holds a control or invisible
format character, or the 涉密 flag is unreadable."""
FORMULA = "FORMULA"
"""A value starts with ``=``, ``+``, ``-`` or ``@`` (a signed number or a dash excepted): a
spreadsheet formula, not the value it computes."""
DUPLICATE_IN_FILE = "DUPLICATE_IN_FILE"
"""证照编号 repeats an earlier row of the same file."""
# ... a flag (the row is accepted all the same) ...
KNOWN_EXCEPTION = "KNOWN_EXCEPTION"
"""The holder code fails its check but is on the known-legitimate list: accepted, flagged."""
# ... and filtering (the row is valid but not aggregated).
EXPIRED = "EXPIRED"
"""有效期截止日期 is before the evaluation date."""
CLASSIFIED = "CLASSIFIED"
"""The row is marked 涉密."""

VALIDATION_REASONS = (
    *READ_REASONS, EXTRA_CELLS, MISSING_ELEMENT, BAD_HOLDER_CODE, BAD_DATE, FUTURE_DATE,
    DATE_ORDER, BAD_VALUE, FORMULA, DUPLICATE_IN_FILE,
)
FLAG_REASONS = (KNOWN_EXCEPTION,)
FILTER_REASONS = (EXPIRED, CLASSIFIED)
REASON_CODES = VALIDATION_REASONS + FILTER_REASONS + FLAG_REASONS
"""Every reason code, in the order reasons are listed within a row."""
NOTE_CODES = ("UNCHANGED", "CHANGED")
"""Notes on accepted rows, added when they are issued (registry.license.issue)."""

REASON_TITLES: Mapping[str, str] = MappingProxyType({
    "UNREADABLE_FILE": N_("unreadable file"),
    "ACTIVE_CONTENT": N_("PDF with active content"),
    "WRONG_TYPE": N_("license of another type"),
    "DUPLICATE_FILE": N_("same file twice in the archive"),
    "UNSUPPORTED_MEMBER": N_("not a license file"),
    "BAD_JSON": N_("not valid JSON"),
    "NOT_AN_OBJECT": N_("not a JSON object"),
    "NESTED_VALUE": N_("nested value"),
    "DUPLICATE_KEY": N_("key given twice"),
    "NUMBER_PRECISION": N_("number too long for a spreadsheet"),
    CELL_TOO_LONG: N_("cell too long"),
    EXTRA_CELLS: N_("more cells than columns"),
    MISSING_ELEMENT: N_("required item missing"),
    BAD_HOLDER_CODE: N_("holder code invalid"),
    BAD_DATE: N_("invalid date"),
    FUTURE_DATE: N_("date in the future"),
    DATE_ORDER: N_("dates out of order"),
    BAD_VALUE: N_("value not allowed"),
    FORMULA: N_("spreadsheet formula"),
    DUPLICATE_IN_FILE: N_("duplicate license number"),
    KNOWN_EXCEPTION: N_("known exception to the check digit"),
    EXPIRED: N_("expired"),
    CLASSIFIED: N_("classified"),
    "UNCHANGED": N_("unchanged re-submission"),
    "CHANGED": N_("new version"),
})
"""Each reason code's short name for people (marked here, translated where shown:
``_(REASON_TITLES[code])``); reports and the bulletin show it beside the code."""

CLASSIFIED_ELEMENT = "SFSM"
"""Code of the classified flag column; it is not a GB/T 36903 element and is not output."""
CLASSIFIED_TITLE = "涉密"
_CLASSIFIED_ALIASES = ("是否涉密",)
CLASSIFIED_YES = frozenset({"是", "y", "yes", "1", "true"})
"""涉密 values (after NFKC, strip, lower-case) that mark a row classified."""
CLASSIFIED_NO = frozenset({"", "否", "n", "no", "0", "false"})
"""涉密 values that mark it not classified; anything else is refused, never taken as "no"."""

_NAME, _NUMBER, _HOLDER_CODE, _START, _END = "ZZMC", "ZZBH", "CZZTDM", "ZZYXQQSRQ", "ZZYXQJZRQ"
_ISSUED, _TYPE_CODE, _TYPE_NAME = "ZZBFRQ", "CZZTDMLXDM", "CZZTDMLX"
_FOUNDED_TITLE = "成立日期"
# What a department may write in a 持证主体代码类型 column, after NFKC, strip and upper-case.
_DECLARED_TYPES = {HOLDER_USCC: HOLDER_USCC, HOLDER_ID_CARD: HOLDER_ID_CARD,
                   "统一社会信用代码": HOLDER_USCC, "公民身份号码": HOLDER_ID_CARD,
                   "居民身份证": HOLDER_ID_CARD, "身份证": HOLDER_ID_CARD,
                   "身份证号码": HOLDER_ID_CARD}

Reason = dict[str, Any]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class HeaderMap:
    """How a file's header columns map onto one license type's elements."""

    type_code: str
    """The license type the map was made for."""
    mapping: Mapping[str, str]
    """Original column name → element code (``SFSM`` for the 涉密 flag), in file order."""
    unknown: tuple[str, ...]
    """Columns that name no element; kept in ``RAW`` only."""
    ignored: tuple[str, ...]
    """Columns naming derived elements (证照标识, 颁发机构 …): the registry fills those in."""
    missing: tuple[str, ...]
    """Required element codes no column provides (证照名称 is never missing: it defaults)."""
    holder_type_column: str | None = None
    """A column declaring the holder code type (持证主体代码类型代码 or 持证主体代码类型):
    derived, so not an element input, but checked against the type the code is read as."""

    def column_of(self, code: str) -> str | None:
        """The original column holding element ``code``, or None."""
        for column, mapped in self.mapping.items():
            if mapped == code:
                return column
        return None


def _schema_spec(lt: LicenseType, code: str) -> dict[str, Any]:
    """The JSON Schema property of element ``code`` (face fields, then base elements)."""
    spec = lt.schema.get("properties", {}).get(code) or base_schema()["properties"].get(code)
    return dict(spec or {})


def _aliases(lt: LicenseType, code: str) -> list[str]:
    # Extra header spellings may be declared in a schema as "x-aliases"; none are yet.
    return [str(a) for a in _schema_spec(lt, code).get("x-aliases", ())]


def header_map(columns: Sequence[str], lt: LicenseType, *,
               mapping: Mapping[str, str] | None = None,
               ignore: Sequence[str] = ()) -> HeaderMap:
    """Match header cells to ``lt``'s elements by code or Chinese title (after NFKC, strip,
    upper-case), plus the 涉密 flag. The reader's own columns (LINE, EXTRA) are skipped.

    ``mapping`` (a department's column name → element code, :mod:`registry.ingest.mapping`)
    is consulted first; ``ignore`` lists columns to keep in the raw rows without reporting
    them as unknown. Two columns naming the same element raise
    :class:`~registry.errors.IngestError`.
    """
    index: dict[str, tuple[str, bool]] = {}
    derived = {e.code for e in lt.elements if e.derived}
    mapped_by_file = {normalize_code(k): v for k, v in (mapping or {}).items()}
    ignored_names = {normalize_code(c) for c in ignore}

    def add(name: str, code: str, derived: bool) -> None:
        key = normalize_code(name)
        if key in index and index[key][0] != code:
            raise ConfigError(_("license type {type_code}: {name!r} names both {first} and "
                                "{second}", type_code=lt.code, name=name, first=index[key][0],
                                second=code))
        index[key] = (code, derived)

    for e in lt.elements:
        for name in (e.code, e.title, *_aliases(lt, e.code)):
            add(name, e.code, e.derived)
    for name in (CLASSIFIED_ELEMENT, CLASSIFIED_TITLE, *_CLASSIFIED_ALIASES):
        add(name, CLASSIFIED_ELEMENT, False)

    mapped: dict[str, str] = {}
    unknown: list[str] = []
    ignored: list[str] = []
    holder_type_column: str | None = None
    for column in columns:
        if column in RESERVED_COLUMNS:
            continue
        key = normalize_code(column)
        hit = index.get(key)
        if key in mapped_by_file:
            code = mapped_by_file[key]
            hit = (code, code in derived)
        if hit is not None and hit[0] in (_TYPE_CODE, _TYPE_NAME) and (
                holder_type_column is None or hit[0] == _TYPE_CODE):
            holder_type_column = column
        if hit is None:
            if key in ignored_names:
                ignored.append(column)
            else:
                unknown.append(column)
        elif hit[1]:
            ignored.append(column)
        else:
            code = hit[0]
            for other, other_code in mapped.items():
                if other_code == code:
                    raise IngestError(_("columns {first!r} and {second!r} both give {title} "
                                        "({element}); delete one of them, or map it to "
                                        "another element with --mapping", first=other,
                                        second=column,
                                        **_label_of(lt, code)))
            mapped[column] = code
    missing = tuple(
        e.code
        for e in lt.elements
        if e.required and not e.derived and e.code != _NAME and e.code not in mapped.values()
    )
    return HeaderMap(
        type_code=lt.code,
        mapping=MappingProxyType(mapped),
        unknown=tuple(unknown),
        ignored=tuple(ignored),
        missing=missing,
        holder_type_column=holder_type_column,
    )


def _label_of(lt: LicenseType, code: str) -> dict[str, str]:
    return _classified_label() if code == CLASSIFIED_ELEMENT else _label(lt.element(code))


def _label(e: Element) -> dict[str, str]:
    """The fields naming element ``e`` in a message: its title and its code."""
    return {"title": e.title, "element": e.code}


def _classified_label() -> dict[str, str]:
    return {"title": CLASSIFIED_TITLE, "element": CLASSIFIED_ELEMENT}


# --- holder code checks over whole columns -------------------------------------------------
# The same arithmetic as registry.license.codes (GB 32100, GB 11643), on a uint8 matrix of the codes
# that have the right width; tests/ingest/test_rules.py checks both agree on arbitrary codes.

_USCC_VALUE = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(USCC_ALPHABET):
    _USCC_VALUE[ord(_c)] = _i
_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)

_ID_VALUE = np.full(256, -1, dtype=np.int64)
for _i in range(10):
    _ID_VALUE[ord("0") + _i] = _i
_ID_VALUE[ord("X")] = 10
_ID_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
_ID_CHECK_VALUE = np.array([1, 0, 10, 9, 8, 7, 6, 5, 4, 3, 2], dtype=np.int64)  # "10X98765432"
_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _matrix(codes: list[str], width: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]:
    """Byte matrix of the codes that are ``width`` ASCII characters, and their positions."""
    lengths = np.fromiter(map(len, codes), dtype=np.int64, count=len(codes))
    joined = "".join(codes)
    if (lengths == width).all() and joined.isascii():  # the usual case: no per-code Python
        positions = np.arange(len(codes))
    else:
        where = (lengths == width) & np.fromiter(map(str.isascii, codes), dtype=np.bool_,
                                                 count=len(codes))
        positions = np.flatnonzero(where)
        joined = "".join(codes[i] for i in positions.tolist())
    data = joined.encode("ascii")
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, width).astype(np.int64), positions


def uscc_valid_mask(codes: list[str]) -> Mask:
    """``registry.license.codes.uscc_is_valid`` over a list, vectorised."""
    ok = np.zeros(len(codes), dtype=np.bool_)
    m, positions = _matrix(codes, 18)
    v = _USCC_VALUE[m]
    shaped = (v >= 0).all(axis=1) & (v[:, 2:8] < 10).all(axis=1)
    check = (31 - (v[:, :17] @ _USCC_WEIGHTS) % 31) % 31
    ok[positions] = shaped & (check == v[:, 17])
    return ok


_A36_VALUE = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
    _A36_VALUE[ord(_c)] = _i
_ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
# GB 11714 check character by 11 - (sum mod 11): 10 is X, 11 is 0, others their digit.
_ORG_CHECK = np.array([ord(c) for c in "0123456789X0"], dtype=np.int64)


def org_segment_valid_mask(codes: list[str]) -> Mask:
    """Whether positions 9–17 of each 18-character code are a GB 11714 organization code
    with a correct check character (``registry.license.codes.org_code_is_valid`` of
    ``code[8:17]``)."""
    ok = np.zeros(len(codes), dtype=np.bool_)
    m, positions = _matrix(codes, 18)
    body = _A36_VALUE[m[:, 8:16]]
    r = 11 - (body @ _ORG_WEIGHTS) % 11
    ok[positions] = (body >= 0).all(axis=1) & (_ORG_CHECK[r] == m[:, 16])
    return ok


def _uscc_holder_mask(codes: list[str]) -> Mask:
    return uscc_valid_mask(codes) & org_segment_valid_mask(codes)


def id_card_valid_mask(codes: list[str]) -> Mask:
    """``registry.license.codes.id_card_is_valid`` over a list, vectorised (check and birth
    date)."""
    ok = np.zeros(len(codes), dtype=np.bool_)
    m, positions = _matrix(codes, 18)
    v = _ID_VALUE[m]
    shaped = ((v[:, :17] >= 0) & (v[:, :17] < 10)).all(axis=1) & (v[:, 17] >= 0)
    check = _ID_CHECK_VALUE[(v[:, :17] @ _ID_WEIGHTS) % 11]
    year = v[:, 6] * 1000 + v[:, 7] * 100 + v[:, 8] * 10 + v[:, 9]
    month = v[:, 10] * 10 + v[:, 11]
    day = v[:, 12] * 10 + v[:, 13]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = _MONTH_DAYS[np.clip(month, 1, 12) - 1] + ((month == 2) & leap)
    real = (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= days)
    ok[positions] = shaped & (check == v[:, 17]) & real
    return ok


_HOLDER_CHECKS: dict[str, Callable[[list[str]], Mask]] = {
    HOLDER_USCC: _uscc_holder_mask,
    HOLDER_ID_CARD: id_card_valid_mask,
}
_HOLDER_STANDARD = {HOLDER_USCC: "GB 32100", HOLDER_ID_CARD: "GB 11643"}


def _holder_message(e: Element, code: str, holder_types: Sequence[str]) -> Text:
    """Why ``code`` is not a valid holder code of any of ``holder_types`` (it is known bad)."""
    where = {"title": e.title, "element": e.code, "value": code}
    if len(holder_types) == 2:
        first, second = holder_types
        return text(N_("{title} ({element}) {value!r} is neither a {kind} ({standard}) nor a "
                       "{other_kind} ({other_standard})"), **where,
                    kind=HOLDER_TYPE_NAMES[first], standard=_HOLDER_STANDARD[first],
                    other_kind=HOLDER_TYPE_NAMES[second], other_standard=_HOLDER_STANDARD[second])
    if len(holder_types) != 1:
        return text(N_("{title} ({element}) {value!r} is none of: {kinds}"), **where,
                    kinds=[f"{HOLDER_TYPE_NAMES[t]} ({_HOLDER_STANDARD[t]})"
                           for t in holder_types])
    holder_type = holder_types[0]
    name, std = HOLDER_TYPE_NAMES[holder_type], _HOLDER_STANDARD[holder_type]
    body = code[:17]
    if holder_type == HOLDER_USCC:
        if len(code) == 18 and all(c in USCC_ALPHABET for c in body) and body[2:8].isdigit():
            if uscc_check(body) != code[17]:
                return text(N_("{title} ({element}) {value!r} fails the {standard} check digit "
                               "(expected {expected})"), **where, standard=std,
                            expected=uscc_check(body))
            org = code[8:17]
            return text(N_("{title} ({element}) {value!r} has an organization-code segment "
                           "(positions 9-17) {segment!r} that fails the GB 11714 check "
                           "(expected {expected})"), **where, segment=org,
                        expected=org_code_check(org[:8]))
    elif len(code) == 18 and body.isascii() and body.isdigit():
        expected = id_card_check(body)
        if code[17] != expected:
            return text(N_("{title} ({element}) {value!r} fails the {standard} check digit "
                           "(expected {expected})"), **where, standard=std, expected=expected)
        return text(N_("{title} ({element}) {value!r} has an impossible birth date {birth} "
                       "({standard})"), **where, birth=code[6:14], standard=std)
    return text(N_("{title} ({element}) {value!r} is not an 18-character {kind} ({standard}; "
                   "{length} characters given)"), **where, kind=name, standard=std,
                length=len(code))


# --- evaluate ------------------------------------------------------------------------------
# Values live in numpy object arrays and masks in numpy bool arrays; reasons are built only
# for the rows a rule flags, in a sparse dict row position → reasons.


class _Reasons:
    """Reasons of a chunk's rows, sparse: most rows have none."""

    def __init__(self) -> None:
        self.by_row: dict[int, list[Reason]] = {}

    def flag(self, mask: Mask, code: str, element: str | None,
             message: Callable[..., Text]) -> None:
        """Add ``code`` to the rows of ``mask``, its text ``message(row index)`` (called here,
        so a lambda may bind loop variables as defaults: ``Callable[..., Text]`` lets mypy
        accept those)."""
        for i in np.flatnonzero(mask).tolist():
            self.by_row.setdefault(i, []).append(reason(code, element, message(i)))

    def tuples(self, n: int, *more: _Reasons) -> list[tuple[Reason, ...]]:
        """One tuple per row (``()`` for rows without reasons), these reasons then ``more``'s."""
        out: list[tuple[Reason, ...]] = [()] * n
        for i, found in self.by_row.items():
            out[i] = tuple(found)
        for other in more:
            for i, found in other.by_row.items():
                out[i] = out[i] + tuple(found)
        return out

    def rows(self, n: int) -> Mask:
        flagged = np.zeros(n, dtype=np.bool_)
        flagged[list(self.by_row)] = True
        return flagged


def _objects(values: Sequence[Any]) -> npt.NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _is(values: Any, predicate: Callable[[Any], bool], n: int) -> Mask:
    return np.fromiter(map(predicate, values), dtype=np.bool_, count=n)


def _joined(values: npt.NDArray[np.object_]) -> str:
    """A column as one string, each value after a space (refused by no check), so that the
    checks below scan a whole column in C and look at single values only when it may hold
    what they look for."""
    return " " + " ".join(values.tolist())


def _formulas(values: npt.NDArray[np.object_], joined: str, n: int) -> Mask:
    """Where a normalized text column holds a formula (:func:`is_formula`)."""
    if not any(f" {c}" in joined for c in "=+-@"):
        return np.zeros(n, dtype=np.bool_)
    return _is(values, is_formula, n)


def _hidden(values: npt.NDArray[np.object_], joined: str, n: int, *, code: bool) -> Mask:
    """Where a normalized column holds a character the value rule refuses (every one of them
    is unprintable, so a printable column needs no regex)."""
    if joined.isprintable() or hidden_character(joined, code=code) is None:
        return np.zeros(n, dtype=np.bool_)
    return _is(values, lambda v: hidden_character(v, code=code) is not None, n)


def _loosely(code: str, holder_type: str) -> bool:
    """Whether a code that fails its check still has the shape of ``holder_type``."""
    if holder_type == HOLDER_ID_CARD:
        return len(code) == 18 and code[:17].isdigit() and code[17] in "0123456789X"
    return len(code) == 18 and all(c in USCC_ALPHABET for c in code)


def evaluate(
    rows: pd.DataFrame,
    lt: LicenseType,
    hmap: HeaderMap,
    *,
    today: date,
    seen_numbers: set[str],
    known_codes: frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """Decide every row of ``rows`` (a chunk from :func:`~registry.ingest.reader.read_rows`).

    Returns one row per input row, same order and index, with ``LINE``, ``OUTCOME``,
    ``REASONS``, ``RAW``, the normalized value of each non-derived element of ``lt``
    (dates ``yyyyMMdd``, ``长期`` for no end, ``""`` when empty, None when not a date;
    证照名称 defaults to the type's name) and ``CZZTDMLXDM``. ``seen_numbers`` holds the
    证照编号 of earlier chunks of the same file and is updated in place. ``known_codes`` are
    holder codes known to be legitimate although they fail their check (accepted, flagged).
    """
    if hmap.type_code != lt.code:
        raise ValueError(f"header map is for type {hmap.type_code}, rows are for {lt.code}")
    unknown_types = [t for t in lt.holder_types if t not in _HOLDER_CHECKS]
    if unknown_types:
        raise ConfigError(_("license type {type_code}: no check for holder types {types}",
                            type_code=lt.code, types=", ".join(unknown_types)))
    if LINE not in rows.columns:
        raise ValueError(f"rows have no {LINE} column: read them with read_rows")
    n = len(rows)
    header = [c for c in rows.columns if c not in RESERVED_COLUMNS]
    cells = {c: text_cells(rows[c]) for c in header}
    column_of = {code: column for column, code in hmap.mapping.items()}
    elements = [e for e in lt.elements if not e.derived]
    blank = [""] * n
    reasons = _Reasons()
    flags = _Reasons()

    def source(code: str) -> list[str]:
        column = column_of.get(code)
        return blank if column is None else cells[column]

    # Normalize every element column once.
    values: dict[str, npt.NDArray[np.object_]] = {}
    for e in elements:
        if e.is_date:
            values[e.code] = _objects(normalize_dates(source(e.code), no_end=e.code == _END))
        elif e.code in (_HOLDER_CODE, _NUMBER):
            # Codes: 证照编号 letters are not case-sensitive either, so "jy1…" repeats "JY1…".
            values[e.code] = _objects(normalize_codes(source(e.code)))
        else:
            values[e.code] = _objects(normalize_texts(source(e.code)))
    if _NAME in values:
        values[_NAME][values[_NAME] == ""] = lt.name

    # 1. Validation. Each check adds its reason to the rows it fails, so a row's reasons come
    #    in the order of VALIDATION_REASONS, and within a check in element order.
    problems: list[tuple[dict[str, Any], ...]] = (
        rows[PROBLEMS].tolist() if PROBLEMS in rows.columns else [()] * n)
    unreadable = _is(problems, bool, n)
    for i in np.flatnonzero(unreadable).tolist():
        # What the reader could not read: these reasons alone, the checks below would only
        # repeat them as empty or malformed elements.
        reasons.by_row[i] = [
            reason(p["code"], hmap.mapping.get(p["column"] or ""), p.get("text") or p["message"])
            for p in problems[i]]

    extra: list[tuple[str, ...]] = rows[EXTRA].tolist() if EXTRA in rows.columns else [()] * n
    has_extra = _is(extra, bool, n) & ~unreadable
    reasons.flag(has_extra, EXTRA_CELLS, None,
                 lambda i: text(N_("the row has {cells} cells but the header names {columns} "
                                   "columns; extra cells {extra} (an unquoted separator inside "
                                   "a cell?)"), cells=len(header) + len(extra[i]),
                                columns=len(header), extra=repr(list(extra[i]))))

    readable = ~unreadable
    for e in elements:
        if e.required and e.code != _NAME:
            why = (N_("{title} ({element}) is empty") if e.code in column_of
                   else N_("{title} ({element}) is missing: the file has no column for it"))
            reasons.flag((values[e.code] == "") & readable, MISSING_ELEMENT, e.code,
                         lambda i, e=e, why=why: text(why, **_label(e)))

    holder_type = np.full(n, None, dtype=object)
    if _HOLDER_CODE in values:
        codes = values[_HOLDER_CODE].tolist()
        valid = np.zeros(n, dtype=np.bool_)
        for t in lt.holder_types:
            ok = _HOLDER_CHECKS[t](codes) & ~valid
            holder_type[ok] = t
            valid |= ok
        if len(lt.holder_types) == 1:
            holder_type[:] = lt.holder_types[0]
        holder = lt.element(_HOLDER_CODE)
        bad = (values[_HOLDER_CODE] != "") & ~valid & readable
        known = bad & _is(codes, known_codes.__contains__, n) if bad.any() else bad
        for i in np.flatnonzero(known).tolist():
            holder_type[i] = next((t for t in lt.holder_types if _loosely(codes[i], t)),
                                  lt.holder_types[0])
        reasons.flag(bad & ~known, BAD_HOLDER_CODE, _HOLDER_CODE,
                     lambda i: _holder_message(holder, codes[i], lt.holder_types))
        flags.flag(known, KNOWN_EXCEPTION, _HOLDER_CODE,
                   lambda i: text(N_("{problem}, but it is on the known-legitimate list: "
                                     "accepted and flagged"),
                                  problem=_holder_message(holder, codes[i], lt.holder_types)))
        if hmap.holder_type_column is not None:
            declared_cells = cells[hmap.holder_type_column]
            declared = [_DECLARED_TYPES.get(d, d) for d in
                        map(str.upper, normalize_texts(declared_cells))]
            clash = _is([d != "" and d != t for d, t in zip(declared, holder_type.tolist(),
                                                             strict=True)], bool, n)
            clash &= (values[_HOLDER_CODE] != "") & readable & ~bad
            reasons.flag(clash, BAD_HOLDER_CODE, _HOLDER_CODE,
                         lambda i: text(
                             N_("{column} says {declared!r} but {title} ({element}) {value!r} "
                                "is a {kind} ({expected} expected)"),
                             column=hmap.holder_type_column, declared=declared_cells[i],
                             **_label(holder), value=codes[i],
                             kind=HOLDER_TYPE_NAMES.get(str(holder_type[i]), holder_type[i]),
                             expected=HOLDER_TYPE_NAMES.get(str(declared[i]))
                             or text(N_("an unknown type"))))

    for e in elements:
        if e.is_date:
            reasons.flag(pd.isna(values[e.code]) & readable, BAD_DATE, e.code,
                         lambda i, e=e: _date_message(e, source(e.code)[i]))
            earliest, latest = (format_date(d) for d in date_bounds(e.code, today))
            d = values[e.code]
            odd = _days(d)
            odd[odd] = (d[odd] < earliest) | ((d[odd] > latest) & (e.code != _ISSUED))
            reasons.flag(odd, BAD_DATE, e.code,
                         lambda i, e=e, d=d, earliest=earliest, latest=latest:
                         text(N_("{title} ({element}) {date} is outside the plausible range "
                                 "{earliest} to {latest}: check the year"), **_label(e),
                              date=d[i], earliest=earliest, latest=latest)
                         if e.code != _END else
                         text(N_("{title} ({element}) {date} is outside the plausible range "
                                 "{earliest} to {latest}: check the year, or write {no_end} "
                                 "for no end"), **_label(e), date=d[i], earliest=earliest,
                              latest=latest, no_end=NO_END))

    cutoff = format_date(today)
    if _ISSUED in values:
        issued = values[_ISSUED]
        future = _days(issued)
        future[future] = issued[future] > cutoff
        i_label = _label(lt.element(_ISSUED))
        reasons.flag(future, FUTURE_DATE, _ISSUED,
                     lambda i: text(N_("{title} ({element}) {date} is after today ({today})"),
                                    **i_label, date=issued[i], today=cutoff))

    def order(earlier: str, later: str, element: str) -> None:
        """Flag rows where the date ``earlier`` is after the date ``later``."""
        a, b = values[earlier], values[later]
        after = _days(a) & _days(b)
        after[after] = a[after] > b[after]
        a_label, b_label = _label(lt.element(earlier)), _label(lt.element(later))
        reasons.flag(after, DATE_ORDER, element,
                     lambda i: text(N_("{title} ({element}) {date} is after {later_title} "
                                       "({later_element}) {later_date}"), **a_label, date=a[i],
                                    later_title=b_label["title"],
                                    later_element=b_label["element"], later_date=b[i]))

    founded = next((e.code for e in elements if e.is_date and e.title == _FOUNDED_TITLE), None)
    if _ISSUED in values and _START in values and not lt.rules.start_may_precede_issue:
        order(_ISSUED, _START, _START)
    if _START in values and _END in values:
        order(_START, _END, _START)
    if founded is not None and _ISSUED in values:
        order(founded, _ISSUED, founded)
    if _END in values:
        _validity(values, lt, reasons, readable)

    for e in elements:
        spec, v = _schema_spec(lt, e.code), values[e.code]
        if "enum" in spec and not e.is_date:
            allowed = [str(a) for a in spec["enum"]]
            known_value = _is(v, set(allowed).__contains__, n)
            reasons.flag((v != "") & ~known_value, BAD_VALUE, e.code,
                         lambda i, e=e, v=v, allowed=allowed:
                         text(N_("{title} ({element}) {value!r} is not one of {allowed}"),
                              **_label(e), value=v[i], allowed=allowed))
        if "maxLength" in spec and not e.is_date:
            limit = int(spec["maxLength"])
            lengths = np.fromiter(map(len, v), dtype=np.int64, count=n)
            reasons.flag(lengths > limit, BAD_VALUE, e.code,
                         lambda i, e=e, limit=limit, lengths=lengths:
                         text(N_("{title} ({element}) is {length} characters long; at most "
                                 "{limit} allowed"), **_label(e), length=int(lengths[i]),
                              limit=limit))

    joined: dict[str, str] = {}
    for e in elements:
        if not e.is_date:
            v, code = values[e.code], e.code in (_HOLDER_CODE, _NUMBER)
            joined[e.code] = _joined(v)
            reasons.flag(_hidden(v, joined[e.code], n, code=code), BAD_VALUE, e.code,
                         lambda i, e=e, v=v, code=code: _hidden_message(e, v[i], code=code))

    classified = np.zeros(n, dtype=np.bool_)
    flag_cells = source(CLASSIFIED_ELEMENT)
    if CLASSIFIED_ELEMENT in column_of:
        classified_flags = [f.lower() for f in normalize_texts(flag_cells)]
        classified = _is(classified_flags, CLASSIFIED_YES.__contains__, n)
        understood = _is(classified_flags, (CLASSIFIED_YES | CLASSIFIED_NO).__contains__, n)
        reasons.flag(~understood & readable, BAD_VALUE, CLASSIFIED_ELEMENT,
                     lambda i: text(N_("{title} ({element}) {value!r} is neither yes (是, Y, 1, "
                                       "true) nor no (否, N, 0, false, empty)"),
                                    **_classified_label(), value=flag_cells[i]))

    for e in elements:
        if not e.is_date:
            v = values[e.code]
            reasons.flag(_formulas(v, joined[e.code], n), FORMULA, e.code,
                         lambda i, e=e, v=v: text(N_("{title} ({element}) {value!r} is a "
                                                     "spreadsheet formula, not a value: export "
                                                     "the values it shows"),
                                                  **_label(e), value=v[i]))

    if _NUMBER in values:
        numbers = values[_NUMBER]
        present = numbers != ""
        earlier = _is(numbers, seen_numbers.__contains__, n) & present
        in_chunk = pd.Series(numbers, dtype=object)
        repeated = in_chunk.duplicated(keep="first").to_numpy() & present
        first_line: dict[str, int] = {}
        if repeated.any():
            firsts = ~repeated & in_chunk.duplicated(keep=False).to_numpy() & present
            first_line = dict(zip(numbers[firsts].tolist(),
                                  rows[LINE].to_numpy()[firsts].tolist(), strict=True))
        n_label = _label(lt.element(_NUMBER))
        reasons.flag(
            earlier | repeated, DUPLICATE_IN_FILE, _NUMBER,
            lambda i: text(N_("{title} ({element}) {value!r} repeats an earlier row of this "
                              "file"), **n_label, value=numbers[i]) if earlier[i]
            else text(N_("{title} ({element}) {value!r} repeats line {line}"), **n_label,
                      value=numbers[i], line=first_line[str(numbers[i])]))
        seen_numbers.update(numbers[present].tolist())

    rejected = reasons.rows(n)

    # 2. Filtering, for valid rows only.
    if _END in values:
        end = values[_END]
        expired = _days(end) & ~rejected
        expired[expired] = end[expired] < cutoff
        e_label = _label(lt.element(_END))
        reasons.flag(expired, EXPIRED, _END,
                     lambda i: text(N_("{title} ({element}) {date} is before {today}: the "
                                       "license has expired"), **e_label, date=end[i],
                                    today=cutoff))
    reasons.flag(classified & ~rejected, CLASSIFIED, CLASSIFIED_ELEMENT,
                 lambda i: text(N_("{title} ({element}) is {value!r}: classified licenses are "
                                   "not aggregated"), **_classified_label(), value=flag_cells[i]))
    filtered = reasons.rows(n) & ~rejected

    # 3. Everything else is accepted (flags ride along on any outcome).
    outcome = np.where(rejected, REJECTED, np.where(filtered, FILTERED, ACCEPTED))

    raw = list(map(dict, map(zip, repeat(header), zip(*(cells[c] for c in header), strict=True))))
    for i in np.flatnonzero(_is(extra, bool, n)).tolist():
        for k, value in enumerate(extra[i], start=len(header) + 1):
            raw[i][f"(column {k})"] = value

    index = rows.index
    out: dict[str, Any] = {
        LINE: rows[LINE].to_numpy(),
        OUTCOME: pd.Series(outcome.astype(object), index=index, dtype=object, copy=False),
        REASONS: pd.Series(_objects(reasons.tuples(n, flags)), index=index, dtype=object,
                           copy=False),
        RAW: pd.Series(_objects(raw), index=index, dtype=object, copy=False),
    }
    for e in elements:
        out[e.code] = pd.Series(values[e.code], index=index, dtype=object, copy=False)
    out[HOLDER_TYPE] = pd.Series(holder_type, index=index, dtype=object, copy=False)
    return pd.DataFrame(out, index=index)


def judged(evaluated: pd.DataFrame) -> list[JudgedRow]:
    """The rows of an :func:`evaluate` result as :class:`~registry.license.model.JudgedRow`,
    in order; only accepted rows carry their elements (the others are never sealed)."""
    codes = [c for c in evaluated.columns if c not in (LINE, OUTCOME, REASONS, RAW)]
    columns = [evaluated[c].tolist() for c in codes]
    numbers = evaluated[_NUMBER].tolist() if _NUMBER in evaluated.columns else None
    out = []
    for i, (line, outcome, reasons, raw) in enumerate(zip(
            evaluated[LINE].tolist(), evaluated[OUTCOME].tolist(), evaluated[REASONS].tolist(),
            evaluated[RAW].tolist(), strict=True)):
        elements = (dict(zip(codes, (column[i] for column in columns), strict=True))
                    if outcome == ACCEPTED else None)
        out.append(JudgedRow(int(line), outcome, tuple(reasons), raw,
                             (numbers[i] or None) if numbers is not None else None, elements))
    return out


def _validity(values: Mapping[str, npt.NDArray[np.object_]], lt: LicenseType,
              reasons: _Reasons, readable: Mask) -> None:
    """The type's validity rules (``x-validity``): no 长期 where the type has an end, and no
    validity longer than its ``max_years``."""
    end = values[_END]
    e_label = _label(lt.element(_END))
    if not lt.rules.open_ended:
        reasons.flag((end == NO_END) & readable, BAD_VALUE, _END,
                     lambda i: text(N_("{title} ({element}) {no_end} is not allowed: a "
                                       "{type_name} has an end date"), **e_label,
                                    no_end=NO_END, type_name=lt.name))
    limit = lt.rules.max_years
    if limit is not None and _START in values:
        start = values[_START]
        both = _days(start) & _days(end)
        too_long = np.zeros(len(end), dtype=np.bool_)
        # yyyyMMdd as numbers: more than `limit` years apart ⟺ end − start > limit × 10000
        too_long[both] = (end[both].astype(np.int64) - start[both].astype(np.int64)
                          > limit * 10_000)
        s_label = _label(lt.element(_START))
        reasons.flag(too_long, BAD_VALUE, _END,
                     lambda i: text(N_("{start_title} ({start_element}) {start} to {title} "
                                       "({element}) {end} is longer than the {years} years a "
                                       "{type_name} is valid at most"),
                                    start_title=s_label["title"],
                                    start_element=s_label["element"], start=start[i],
                                    **e_label, end=end[i], years=limit, type_name=lt.name))


def _days(values: npt.NDArray[np.object_]) -> Mask:
    """Where a normalized date column holds a day (not empty, 长期 or unparseable)."""
    return np.asarray(~pd.isna(values) & (values != "") & (values != NO_END), dtype=np.bool_)


_DATE_PROBLEMS = {
    "day is out of range for month": N_("day is out of range for month"),
    "month must be in 1..12": N_("month must be in 1..12"),
}
"""What :class:`datetime.date` says of an impossible date, in words a clerk can read."""


def _date_message(e: Element, cell: str) -> Text:
    try:
        parse_date(cell)
    except ValueError as exc:
        impossible = exc.__cause__
    else:  # pragma: no cover - only unparseable cells are reported
        impossible = None
    where = {**_label(e), "value": cell}
    if impossible is None:
        if e.code == _END:
            return text(N_("{title} ({element}) {value!r} is not a date in an accepted form "
                           "({forms}, or {no_end} for no end)"), **where,
                        forms=list(DATE_FORMS), no_end=NO_END)
        return text(N_("{title} ({element}) {value!r} is not a date in an accepted form "
                       "({forms})"), **where, forms=list(DATE_FORMS))
    said = str(impossible)
    problem = text(_DATE_PROBLEMS[said]) if said in _DATE_PROBLEMS else said
    return text(N_("{title} ({element}) {value!r} is not a real date ({problem})"), **where,
                problem=problem)


def _hidden_message(e: Element, value: str, *, code: bool) -> Text:
    c = hidden_character(value, code=code) or ""
    name = unicodedata.name(c, "") or text(N_("control character"))  # Cc have no name
    return text(N_("{title} ({element}) {value!r} holds the invisible or control character "
                   "U+{codepoint} ({name}): retype the value without it"), **_label(e),
                value=value, codepoint=f"{ord(c):04X}", name=name)


def summarize(evaluated: pd.DataFrame) -> dict[str, Any]:
    """Counts of an :func:`evaluate` result: ``rows``, one count per outcome, and
    ``reasons`` (reason code → rows carrying it, in :data:`REASON_CODES` order, non-zero only).
    A row with two reasons counts under both; accepted + filtered + rejected = rows."""
    outcomes = Counter(evaluated[OUTCOME].tolist())
    reasons = Counter(r["code"] for rs in evaluated[REASONS] for r in rs)
    return {
        "rows": len(evaluated),
        **{o: outcomes.get(o, 0) for o in OUTCOMES},
        "reasons": {code: reasons[code] for code in REASON_CODES if reasons[code]},
    }
