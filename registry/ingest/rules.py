"""Deciding each row of a department batch: accepted, filtered or rejected, and why.

The provincial platform wants every valid, non-classified license still in force. A row is

1. **rejected** when it is invalid, whatever else is true of it: a required element is empty,
   the holder code fails its check digit (GB 32100 / GB 11643), a date is not a real date, the
   validity starts after it ends, a value is outside the schema, or its 证照编号 repeats an
   earlier row of the same file. Every validation reason of the row is reported;
2. **filtered** when it is valid but not to be aggregated: expired before ``today``, or
   classified (涉密). Both reasons are reported when both apply;
3. **accepted** otherwise, with no reasons.

Column names are matched to element codes first (:func:`header_map`), then :func:`evaluate`
works on whole columns with pandas; only the rows that fail a rule cost Python per row.

>>> from datetime import date
>>> from pathlib import Path
>>> from registry.ingest.reader import read_rows
>>> from registry.license_types import load_license_types
>>> lt = load_license_types()["11100000MB0143028R001"]
>>> chunk = next(read_rows(Path("fixtures/batches/business-licenses.csv")))
>>> hmap = header_map(list(chunk.columns), lt)
>>> out = evaluate(chunk, lt, hmap, today=date(2026, 11, 27), seen_numbers=set())
>>> summarize(out)["rejected"], out.loc[0, ["OUTCOME", "ZZMC", "CZZTDMLXDM"]].tolist()
(7, ['accepted', '营业执照', '001'])
"""

from __future__ import annotations

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

from registry.codes import (
    HOLDER_ID_CARD,
    HOLDER_TYPE_NAMES,
    HOLDER_USCC,
    USCC_ALPHABET,
    id_card_check,
    uscc_check,
)
from registry.errors import ConfigError, IngestError
from registry.ingest.normalize import (
    DATE_FORMS,
    NO_END,
    format_date,
    normalize_code,
    normalize_dates,
    normalize_texts,
    parse_date,
    text_cells,
)
from registry.ingest.reader import EXTRA, LINE, RESERVED_COLUMNS
from registry.license_types import Element, LicenseType, base_schema

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
    "HOLDER_TYPE",
    "MISSING_ELEMENT",
    "OUTCOME",
    "OUTCOMES",
    "RAW",
    "REASONS",
    "REASON_CODES",
    "REJECTED",
    "VALIDATION_REASONS",
    "HeaderMap",
    "evaluate",
    "header_map",
    "id_card_valid_mask",
    "summarize",
    "uscc_valid_mask",
]

# Output columns (besides LINE and one column per element code).
OUTCOME = "OUTCOME"
"""Column: :data:`ACCEPTED`, :data:`FILTERED` or :data:`REJECTED`."""
REASONS = "REASONS"
"""Column: list of ``{"code", "element", "message"}`` dicts, empty for an accepted row."""
RAW = "RAW"
"""Column: dict original header → cell, verbatim (overflow cells under ``"(column N)"``)."""
HOLDER_TYPE = "CZZTDMLXDM"
"""Column: the holder code type (001 USCC, 111 ID number) the row's holder code was read as."""

ACCEPTED = "accepted"
FILTERED = "filtered"
REJECTED = "rejected"
OUTCOMES = (ACCEPTED, FILTERED, REJECTED)

# Reason codes: validation (the row is rejected) ...
EXTRA_CELLS = "EXTRA_CELLS"
"""The row has non-empty cells beyond the header's last column (a stray separator)."""
MISSING_ELEMENT = "MISSING_ELEMENT"
"""A required element is empty or has no column."""
BAD_HOLDER_CODE = "BAD_HOLDER_CODE"
"""持证主体代码 is malformed or fails its GB 32100 / GB 11643 check character."""
BAD_DATE = "BAD_DATE"
"""A date is in no accepted form or is not a real date."""
DATE_ORDER = "DATE_ORDER"
"""有效期起始日期 is after 有效期截止日期."""
BAD_VALUE = "BAD_VALUE"
"""A value is outside its schema (not in the enum, too long) or the 涉密 flag is unreadable."""
DUPLICATE_IN_FILE = "DUPLICATE_IN_FILE"
"""证照编号 repeats an earlier row of the same file."""
# ... and filtering (the row is valid but not aggregated).
EXPIRED = "EXPIRED"
"""有效期截止日期 is before the evaluation date."""
CLASSIFIED = "CLASSIFIED"
"""The row is marked 涉密."""

VALIDATION_REASONS = (
    EXTRA_CELLS, MISSING_ELEMENT, BAD_HOLDER_CODE, BAD_DATE, DATE_ORDER, BAD_VALUE,
    DUPLICATE_IN_FILE,
)
FILTER_REASONS = (EXPIRED, CLASSIFIED)
REASON_CODES = VALIDATION_REASONS + FILTER_REASONS
"""Every reason code, in the order reasons are listed within a row."""

CLASSIFIED_ELEMENT = "SFSM"
"""Code of the classified flag column; it is not a GB/T 36903 element and is not output."""
CLASSIFIED_TITLE = "涉密"
_CLASSIFIED_ALIASES = ("是否涉密",)
CLASSIFIED_YES = frozenset({"是", "y", "yes", "1", "true"})
"""涉密 values (after NFKC, strip, lower-case) that mark a row classified."""
CLASSIFIED_NO = frozenset({"", "否", "n", "no", "0", "false"})
"""涉密 values that mark it not classified; anything else is refused, never taken as "no"."""

_NAME, _NUMBER, _HOLDER_CODE, _START, _END = "ZZMC", "ZZBH", "CZZTDM", "ZZYXQQSRQ", "ZZYXQJZRQ"

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


def header_map(columns: Sequence[str], lt: LicenseType) -> HeaderMap:
    """Match header cells to ``lt``'s elements by code or Chinese title (after NFKC, strip,
    upper-case), plus the 涉密 flag. The reader's own columns (LINE, EXTRA) are skipped.

    Two columns naming the same element raise :class:`~registry.errors.IngestError`.
    """
    index: dict[str, tuple[str, bool]] = {}

    def add(name: str, code: str, derived: bool) -> None:
        key = normalize_code(name)
        if key in index and index[key][0] != code:
            raise ConfigError(
                f"license type {lt.code}: {name!r} names both {index[key][0]} and {code}"
            )
        index[key] = (code, derived)

    for e in lt.elements:
        for name in (e.code, e.title, *_aliases(lt, e.code)):
            add(name, e.code, e.derived)
    for name in (CLASSIFIED_ELEMENT, CLASSIFIED_TITLE, *_CLASSIFIED_ALIASES):
        add(name, CLASSIFIED_ELEMENT, False)

    mapped: dict[str, str] = {}
    unknown: list[str] = []
    ignored: list[str] = []
    for column in columns:
        if column in RESERVED_COLUMNS:
            continue
        hit = index.get(normalize_code(column))
        if hit is None:
            unknown.append(column)
        elif hit[1]:
            ignored.append(column)
        else:
            code = hit[0]
            for other, other_code in mapped.items():
                if other_code == code:
                    raise IngestError(
                        f"columns {other!r} and {column!r} both give {_label_of(lt, code)}"
                    )
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
    )


def _label_of(lt: LicenseType, code: str) -> str:
    if code == CLASSIFIED_ELEMENT:
        return f"{CLASSIFIED_TITLE} ({CLASSIFIED_ELEMENT})"
    return _label(lt.element(code))


def _label(e: Element) -> str:
    return f"{e.title} ({e.code})"


# --- holder code checks over whole columns -------------------------------------------------
# The same arithmetic as registry.codes (GB 32100, GB 11643), on a uint8 matrix of the codes
# that have the right width; tests/test_rules.py checks both agree on arbitrary codes.

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
    """``registry.codes.uscc_is_valid`` over a list, vectorised."""
    ok = np.zeros(len(codes), dtype=np.bool_)
    m, positions = _matrix(codes, 18)
    v = _USCC_VALUE[m]
    shaped = (v >= 0).all(axis=1) & (v[:, 2:8] < 10).all(axis=1)
    check = (31 - (v[:, :17] @ _USCC_WEIGHTS) % 31) % 31
    ok[positions] = shaped & (check == v[:, 17])
    return ok


def id_card_valid_mask(codes: list[str]) -> Mask:
    """``registry.codes.id_card_is_valid`` over a list, vectorised (check and birth date)."""
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
    HOLDER_USCC: uscc_valid_mask,
    HOLDER_ID_CARD: id_card_valid_mask,
}
_HOLDER_STANDARD = {HOLDER_USCC: "GB 32100", HOLDER_ID_CARD: "GB 11643"}


def _holder_problem(code: str, holder_type: str) -> str:
    """Why ``code`` is not a valid holder code of ``holder_type`` (the code is known bad)."""
    name, std = HOLDER_TYPE_NAMES[holder_type], _HOLDER_STANDARD[holder_type]
    if holder_type == HOLDER_USCC:
        body = code[:17]
        if len(code) == 18 and all(c in USCC_ALPHABET for c in body) and body[2:8].isdigit():
            return f"fails the {std} check digit (expected {uscc_check(body)})"
    else:
        body = code[:17]
        if len(code) == 18 and body.isascii() and body.isdigit():
            expected = id_card_check(body)
            if code[17] != expected:
                return f"fails the {std} check digit (expected {expected})"
            return f"has an impossible birth date {code[6:14]} ({std})"
    return f"is not an 18-character {name} ({std}; {len(code)} characters given)"


def _holder_message(label: str, code: str, holder_types: Sequence[str]) -> str:
    if len(holder_types) == 1:
        return f"{label} {code!r} {_holder_problem(code, holder_types[0])}"
    names = " nor ".join(
        f"a {HOLDER_TYPE_NAMES[t]} ({_HOLDER_STANDARD[t]})" for t in holder_types
    )
    return f"{label} {code!r} is neither {names}"


# --- evaluate ------------------------------------------------------------------------------
# Values live in numpy object arrays and masks in numpy bool arrays; reasons are built only
# for the rows a rule flags, in a sparse dict row position → reasons.


class _Reasons:
    """Reasons of a chunk's rows, sparse: most rows have none."""

    def __init__(self) -> None:
        self.by_row: dict[int, list[Reason]] = {}

    def flag(self, mask: Mask, code: str, element: str | None,
             message: Callable[[int], str]) -> None:
        for i in np.flatnonzero(mask).tolist():
            self.by_row.setdefault(i, []).append(
                {"code": code, "element": element, "message": message(i)})

    def lists(self, n: int) -> list[list[Reason]]:
        """One list per row, empty for rows without reasons."""
        out: list[list[Reason]] = [[] for _ in range(n)]
        for i, found in self.by_row.items():
            out[i] = found
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


def evaluate(
    rows: pd.DataFrame,
    lt: LicenseType,
    hmap: HeaderMap,
    *,
    today: date,
    seen_numbers: set[str],
) -> pd.DataFrame:
    """Decide every row of ``rows`` (a chunk from :func:`~registry.ingest.reader.read_rows`).

    Returns one row per input row, same order and index, with ``LINE``, ``OUTCOME``,
    ``REASONS``, ``RAW``, the normalized value of each non-derived element of ``lt``
    (dates ``yyyyMMdd``, ``长期`` for no end, ``""`` when empty, None when not a date;
    证照名称 defaults to the type's name) and ``CZZTDMLXDM``. ``seen_numbers`` holds the
    证照编号 of earlier chunks of the same file and is updated in place.
    """
    if hmap.type_code != lt.code:
        raise ValueError(f"header map is for type {hmap.type_code}, rows are for {lt.code}")
    unknown_types = [t for t in lt.holder_types if t not in _HOLDER_CHECKS]
    if unknown_types:
        raise ConfigError(f"license type {lt.code}: no check for holder types {unknown_types}")
    if LINE not in rows.columns:
        raise ValueError(f"rows have no {LINE} column: read them with read_rows")
    n = len(rows)
    header = [c for c in rows.columns if c not in RESERVED_COLUMNS]
    cells = {c: text_cells(rows[c]) for c in header}
    column_of = {code: column for column, code in hmap.mapping.items()}
    elements = [e for e in lt.elements if not e.derived]
    blank = [""] * n
    reasons = _Reasons()

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
            values[e.code] = _objects(list(map(str.upper, normalize_texts(source(e.code)))))
        else:
            values[e.code] = _objects(normalize_texts(source(e.code)))
    if _NAME in values:
        values[_NAME][values[_NAME] == ""] = lt.name

    # 1. Validation. Each check adds its reason to the rows it fails, so a row's reasons come
    #    in the order of VALIDATION_REASONS, and within a check in element order.
    extra: list[tuple[str, ...]] = rows[EXTRA].tolist() if EXTRA in rows.columns else [()] * n
    has_extra = _is(extra, bool, n)
    reasons.flag(has_extra, EXTRA_CELLS, None,
                 lambda i: f"the row has {len(header) + len(extra[i])} cells but the header "
                           f"names {len(header)} columns; extra cells {list(extra[i])!r} "
                           f"(an unquoted separator inside a cell?)")

    for e in elements:
        if e.required and e.code != _NAME:
            why = "is empty" if e.code in column_of else "is missing: the file has no column for it"
            reasons.flag(values[e.code] == "", MISSING_ELEMENT, e.code,
                         lambda i, e=e, why=why: f"{_label(e)} {why}")

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
        label = _label(lt.element(_HOLDER_CODE))
        reasons.flag((values[_HOLDER_CODE] != "") & ~valid, BAD_HOLDER_CODE, _HOLDER_CODE,
                     lambda i: _holder_message(label, codes[i], lt.holder_types))

    for e in elements:
        if e.is_date:
            reasons.flag(pd.isna(values[e.code]), BAD_DATE, e.code,
                         lambda i, e=e: _date_message(e, source(e.code)[i]))

    if _START in values and _END in values:
        start, end = values[_START], values[_END]
        after = _days(start) & _days(end)
        after[after] = start[after] > end[after]
        s_label, e_label = _label(lt.element(_START)), _label(lt.element(_END))
        reasons.flag(after, DATE_ORDER, _START,
                     lambda i: f"{s_label} {start[i]} is after {e_label} {end[i]}")

    for e in elements:
        spec, v = _schema_spec(lt, e.code), values[e.code]
        if "enum" in spec and not e.is_date:
            allowed = [str(a) for a in spec["enum"]]
            known = _is(v, set(allowed).__contains__, n)
            reasons.flag((v != "") & ~known, BAD_VALUE, e.code,
                         lambda i, e=e, v=v, allowed=allowed:
                         f"{_label(e)} {v[i]!r} is not one of {', '.join(allowed)}")
        if "maxLength" in spec and not e.is_date:
            limit = int(spec["maxLength"])
            lengths = np.fromiter(map(len, v), dtype=np.int64, count=n)
            reasons.flag(lengths > limit, BAD_VALUE, e.code,
                         lambda i, e=e, limit=limit, lengths=lengths:
                         f"{_label(e)} is {lengths[i]} characters long; at most {limit} allowed")

    classified = np.zeros(n, dtype=np.bool_)
    flag_cells = source(CLASSIFIED_ELEMENT)
    if CLASSIFIED_ELEMENT in column_of:
        flags = [f.lower() for f in normalize_texts(flag_cells)]
        classified = _is(flags, CLASSIFIED_YES.__contains__, n)
        readable = _is(flags, (CLASSIFIED_YES | CLASSIFIED_NO).__contains__, n)
        reasons.flag(~readable, BAD_VALUE, CLASSIFIED_ELEMENT,
                     lambda i: f"{CLASSIFIED_TITLE} ({CLASSIFIED_ELEMENT}) {flag_cells[i]!r} is "
                               f"neither yes (是, Y, 1, true) nor no (否, N, 0, false, empty)")

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
            lambda i: f"{n_label} {numbers[i]!r} repeats "
                      + ("an earlier row of this file" if earlier[i]
                         else f"line {first_line[numbers[i]]}"))
        seen_numbers.update(numbers[present].tolist())

    rejected = reasons.rows(n)

    # 2. Filtering, for valid rows only.
    if _END in values:
        end = values[_END]
        cutoff = format_date(today)
        expired = _days(end) & ~rejected
        expired[expired] = end[expired] < cutoff
        e_label = _label(lt.element(_END))
        reasons.flag(expired, EXPIRED, _END,
                     lambda i: f"{e_label} {end[i]} is before {cutoff}: the license has expired")
    reasons.flag(classified & ~rejected, CLASSIFIED, CLASSIFIED_ELEMENT,
                 lambda i: f"{CLASSIFIED_TITLE} ({CLASSIFIED_ELEMENT}) is {flag_cells[i]!r}: "
                           f"classified licenses are not aggregated")
    filtered = reasons.rows(n) & ~rejected

    # 3. Everything else is accepted.
    outcome = np.where(rejected, REJECTED, np.where(filtered, FILTERED, ACCEPTED))

    raw = list(map(dict, map(zip, repeat(header), zip(*(cells[c] for c in header), strict=True))))
    for i in np.flatnonzero(has_extra).tolist():
        for k, value in enumerate(extra[i], start=len(header) + 1):
            raw[i][f"(column {k})"] = value

    index = rows.index
    out: dict[str, Any] = {
        LINE: rows[LINE].to_numpy(),
        OUTCOME: pd.Series(outcome.astype(object), index=index, dtype=object, copy=False),
        REASONS: pd.Series(_objects(reasons.lists(n)), index=index, dtype=object, copy=False),
        RAW: pd.Series(_objects(raw), index=index, dtype=object, copy=False),
    }
    for e in elements:
        out[e.code] = pd.Series(values[e.code], index=index, dtype=object, copy=False)
    out[HOLDER_TYPE] = pd.Series(holder_type, index=index, dtype=object, copy=False)
    return pd.DataFrame(out, index=index)


def _days(values: npt.NDArray[np.object_]) -> Mask:
    """Where a normalized date column holds a day (not empty, 长期 or unparseable)."""
    return np.asarray(~pd.isna(values) & (values != "") & (values != NO_END), dtype=np.bool_)


def _date_message(e: Element, text: str) -> str:
    try:
        parse_date(text)
    except ValueError as exc:
        problem = str(exc)
    else:  # pragma: no cover - only unparseable cells are reported
        problem = f"{text!r} is not a date"
    if e.code == _END and "accepted form" in problem:
        problem = problem.replace(f"({', '.join(DATE_FORMS)})",
                                  f"({', '.join(DATE_FORMS)}, or {NO_END} for no end)")
    return f"{_label(e)} {problem}"


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
