"""Reading an Excel workbook (``.xlsx``) into chunks of text cells, one sheet row per row.

The first sheet is read unless :attr:`ReadOptions.sheet` names another; the header is on
:attr:`ReadOptions.header_row` (title rows above it are skipped) and may start in any column.
Each row's ``LINE`` is its sheet row, so ``LINE`` 7 of a header in column B is the cells
``B7``, ``C7`` …; errors name the sheet and the cell.

Cells become the text a clerk sees, never a float that lost digits:

- text stays text (``91330100MA2H3K4L4W``, ``33010219900101123X``, ``0571``);
- a date-formatted cell becomes ``2024-01-05``; an unformatted Excel date serial (``45296``)
  stays a number and the date rules read it as a serial;
- a whole number becomes its digits (``100``), zero-padded when the cell's format is
  ``000000``; a number of 16 digits or more has already lost digits in Excel (15 significant
  digits) and its row gets a ``NUMBER_PRECISION`` problem instead of a silently wrong code;
- TRUE / FALSE become ``TRUE`` / ``FALSE``; a formula cell is read as its formula text
  (``=B6*2``), which the rules reject: export values, not formulas.

A workbook is a zip package, so it is checked like any archive first (member count,
uncompressed size, compression ratio, member names); a file that is not a readable workbook
is an :class:`~registry.errors.IngestError` naming it.

>>> from registry.ingest.frames import ReadOptions
>>> from registry.ingest.reader import read_rows
>>> chunks = read_rows(Path("fixtures/formats/business-licenses.xlsx"),
...                    options=ReadOptions(header_row=3))   # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from registry.errors import IngestError
from registry.i18n import N_, _
from registry.ingest.archive import check_zip
from registry.ingest.frames import (
    Problem,
    ReadOptions,
    check_header,
    cut_long_cells,
    frame,
    problem,
)
from registry.ingest.messages import Text
from registry.ingest.messages import text as message

__all__ = ["NUMBER_PRECISION", "cell_text", "column_letter", "read_xlsx"]

NUMBER_PRECISION = "NUMBER_PRECISION"
"""Reason code: a numeric cell of 16+ digits, which Excel cannot hold exactly."""

_ZEROS = re.compile(r"0+")


def column_letter(index: int) -> str:
    """Spreadsheet column letters of a 1-based column index (1 → A, 28 → AB)."""
    letters = ""
    while index > 0:
        index, rem = divmod(index - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


def cell_text(value: Any, number_format: str | None = None) -> tuple[str, Text | None]:
    """The cell as text, and why it cannot be trusted (None when it can)."""
    if value is None:
        return "", None
    if isinstance(value, str):
        return value, None
    if isinstance(value, bool):
        return ("TRUE" if value else "FALSE"), None
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return f"{value.year:04d}-{value.month:02d}-{value.day:02d}", None
        return value.isoformat(sep=" "), None
    if isinstance(value, dt.date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}", None
    if isinstance(value, int | float):
        if isinstance(value, float) and not value.is_integer():
            return f"{value:.15g}", None
        digits = str(int(value))
        if len(digits.lstrip("-")) >= 16:
            return digits, message(N_("holds the number {number}: Excel keeps 15 significant "
                                      "digits, so a code typed as a number has already lost its "
                                      "last digits; format the column as text and type the codes "
                                      "again"), number=f"{value:.15g}")
        fmt = number_format or ""
        if _ZEROS.fullmatch(fmt):
            digits = digits.zfill(len(fmt))  # a "000000" format shows leading zeros
        return digits, None
    return str(value), None


def read_xlsx(path: Path, chunk_rows: int, options: ReadOptions) -> Iterator[pd.DataFrame]:
    """Stream a workbook sheet as chunks (the contract of :func:`~registry.ingest.read_rows`)."""
    file = str(path)
    limits = options.limits
    limits.check("file_bytes", path.stat().st_size, file=file)
    try:
        with zipfile.ZipFile(path) as zf:
            check_zip(zf, file=file, limits=limits)
    except zipfile.BadZipFile as exc:
        raise IngestError(_("not a readable Excel workbook: not an .xlsx package ({error}); "
                            "save it as 'Excel Workbook (.xlsx)'", error=exc), file=file) from exc
    import openpyxl  # 1.1 s to import: only workbooks pay it, not every CSV ingest

    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles and extensions it ignores; they change no value.
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types on broken packages; all mean the same
        raise IngestError(_("not a readable Excel workbook ({error})",
                            error=f"{type(exc).__name__}: {exc}"), file=file) from exc
    try:
        names = wb.sheetnames
        sheet = options.sheet if options.sheet is not None else names[0]
        if sheet not in names:
            raise IngestError(_("no sheet named {sheet!r}; the workbook has {sheets}",
                                sheet=sheet, sheets=", ".join(repr(n) for n in names)),
                              file=file)
        ws = wb[sheet]
        h = options.header_row
        rows = ws.iter_rows(min_row=h)
        header_cells = next(rows, ())
        texts = [cell_text(c.value)[0] for c in header_cells]
        first = next((i for i, t in enumerate(texts) if t.strip()), 0)
        header = check_header(
            texts[first:], file, header_at=_("the header (sheet {sheet!r}, row {row})",
                                             sheet=sheet, row=h),
            cell_name=lambda i: _("header cell {cell}",
                                  cell=f"{sheet}!{column_letter(first + i)}{h}"),
            limits=limits)
    except BaseException:
        wb.close()
        raise
    return _stream(wb, rows, header, first, sheet, h, chunk_rows, options, file)


def _guarded_rows(rows: Iterator[Any], file: str, sheet: str, h: int
                  ) -> Iterator[tuple[int, Any]]:
    """The sheet's rows with their numbers; a sheet whose XML breaks part-way raises an
    IngestError naming the row after the last good one (openpyxl raises anything)."""
    line = h
    while True:
        try:
            cells = next(rows)
        except StopIteration:
            return
        except Exception as exc:  # a damaged sheet part: any parser error means the same
            raise IngestError(_("sheet {sheet!r} row {row}: the workbook is damaged ({error})",
                                sheet=sheet, row=line + 1, error=f"{type(exc).__name__}: {exc}"),
                              file=file) from exc
        line += 1
        yield line, cells


def _stream(wb: Any, rows: Iterator[Any], header: list[str], first: int, sheet: str, h: int,
            chunk_rows: int, options: ReadOptions, file: str) -> Iterator[pd.DataFrame]:
    limits = options.limits
    width = len(header)
    total_rows = wb[sheet].max_row or 0
    source = {"format": "xlsx", "sheet": sheet, "header_line": h, "first_column": first + 1}
    out: list[list[str]] = []
    lines: list[int] = []
    extras: dict[int, tuple[str, ...]] = {}
    problems: dict[int, tuple[Problem, ...]] = {}
    count = 0
    yielded = False
    try:
        for line, cells in _guarded_rows(rows, file, sheet, h):
            texts: list[str] = []
            found: list[Problem] = []
            for k, c in enumerate(cells[first:]):
                text, why = cell_text(c.value, getattr(c, "number_format", None))
                if why is not None:
                    column = header[k] if k < width else None
                    found.append(problem(
                        NUMBER_PRECISION, column,
                        message(N_("cell {cell} {problem}"),
                                cell=f"{sheet}!{column_letter(first + k + 1)}{line}",
                                problem=why)))
                texts.append(text)
            if not any(texts):
                continue
            if len(texts) < width:
                texts.extend([""] * (width - len(texts)))
            elif len(texts) > width:
                over = texts[width:]
                del texts[width:]
                while over and not over[-1]:
                    over.pop()
                if over:
                    extras[len(out)] = tuple(over)
            if max(map(len, texts)) > limits.max_cell_chars:
                found.extend(cut_long_cells(texts, header, limits.max_cell_chars))
            if found:
                problems[len(out)] = tuple(found)
            count += 1
            if count > limits.max_rows:
                limits.check("rows", count, file=file)
            out.append(texts)
            lines.append(line)
            if len(out) >= chunk_rows:
                yield frame(header, out, lines, extras, problems, progress=(line, total_rows),
                            source=source)
                yielded = True
                out, lines, extras, problems = [], [], {}, {}
        if out or not yielded:
            yield frame(header, out, lines, extras, problems, progress=(total_rows, total_rows),
                        source=source)
    finally:
        wb.close()


