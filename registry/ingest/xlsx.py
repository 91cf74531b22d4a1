"""Reading an Excel workbook (``.xlsx``) into chunks of text cells, one sheet row per row.

The sheet :attr:`ReadOptions.sheet` names is read; without one, the only sheet holding data
(several are refused with their names, never read in part). The header is on
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
uncompressed size, compression ratio, member names) and every part inflated once, 1 MiB at a
time, against its directory entry; a file that is not a readable workbook is an
:class:`~registry.errors.IngestError` naming it. Rows are read as the sheet XML holds them,
never padded to the dimension the sheet declares (see :func:`_sheet_rows`).

>>> from registry.ingest.frames import ReadOptions
>>> from registry.ingest.reader import read_rows
>>> chunks = read_rows(Path("fixtures/formats/business-licenses.xlsx"),
...                    options=ReadOptions(header_row=3))   # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from registry.errors import IngestError, RegistryError
from registry.i18n import N_, _
from registry.ingest.archive import check_zip, read_member
from registry.ingest.frames import (
    Problem,
    ReadOptions,
    check_header,
    cut_long_cells,
    frame,
    problem,
)
from registry.ingest.limits import Limits
from registry.ingest.messages import Text, listed
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


EXCEL_MAX_ROWS = 1_048_576
"""Rows of an Excel sheet; a row numbered beyond it is a damaged (or forged) sheet."""


def read_xlsx(path: Path, chunk_rows: int, options: ReadOptions) -> Iterator[pd.DataFrame]:
    """Stream a workbook sheet as chunks (the contract of :func:`~registry.ingest.read_rows`)."""
    file = str(path)
    limits = options.limits
    limits.check("file_bytes", path.stat().st_size, file=file)
    try:
        with zipfile.ZipFile(path) as zf:
            for info in check_zip(zf, file=file, limits=limits):
                try:
                    read_member(zf, info, keep=False)  # real sizes, before openpyxl reads any
                except zipfile.BadZipFile as exc:
                    raise IngestError(_("not a readable Excel workbook: part {part!r} is "
                                        "damaged ({error}); save the workbook again in Excel",
                                        part=info.filename, error=exc), file=file) from exc
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
        sheet = _choose_sheet(wb, options.sheet, file, limits)
        h = options.header_row
        rows = _sheet_rows(wb[sheet], sheet, file, limits)
        header_cells: dict[int, Any] = {}
        for number, cells in rows:
            if number >= h:
                if number == h:
                    header_cells = cells
                else:
                    rows = itertools.chain([(number, cells)], rows)
                break
        texts = _texts(header_cells, 1)
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


def _choose_sheet(wb: Any, asked: str | None, file: str, limits: Limits) -> str:
    """The sheet asked for; else the only sheet holding data. Several sheets with data are
    refused with their names: reading one of them would silently ignore the others."""
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet  # lazily, as load_workbook

    names: list[str] = wb.sheetnames
    if asked is not None:
        if asked not in names:
            raise IngestError(_("no sheet named {sheet!r}; the workbook has {sheets}",
                                sheet=asked, sheets=", ".join(repr(n) for n in names)),
                              file=file)
        if not isinstance(wb[asked], ReadOnlyWorksheet):
            raise IngestError(_("sheet {sheet!r} is a chart, not a table of rows", sheet=asked),
                              file=file)
        return asked
    tables = [n for n in names if isinstance(wb[n], ReadOnlyWorksheet)]
    if len(tables) == 1:  # nothing to choose: read it (once), data or not
        return tables[0]
    with_data = [n for n in tables
                 if any(any(_texts(cells, 1)) for _, cells in _sheet_rows(wb[n], n, file, limits))]
    if len(with_data) > 1:
        raise IngestError(_("the workbook has data on {count} sheets ({sheets}) and no sheet "
                            "was chosen; use --sheet NAME (or \"sheet\" in the mapping file) "
                            "to say which one to read", count=len(with_data),
                            sheets=listed([repr(n) for n in with_data])), file=file)
    if not tables:
        raise IngestError(_("the workbook has no sheet of rows"), file=file)
    return with_data[0] if with_data else tables[0]


def _sheet_rows(ws: Any, sheet: str, file: str, limits: Limits
                ) -> Iterator[tuple[int, dict[int, Any]]]:
    """(sheet row, {column: cell}) of the rows the sheet XML holds, in order, sparse.

    openpyxl's ``iter_rows`` pads every missing row and cell up to the sheet's declared
    dimension, which the file itself states: a 5 KB sheet claiming ``A1:XFD1048576`` made it
    build 17 billion empty cells. This reads the XML's rows as they are, so the work is bounded
    by the sheet's real (already size-checked) XML; a cell beyond ``Limits.max_columns`` is a
    :class:`~registry.errors.LimitError` naming it, a row numbered out of order or past
    Excel's 1,048,576 a damaged sheet.
    """
    # openpyxl's own sheet parser and cells, lazily like load_workbook
    from openpyxl.cell.read_only import ReadOnlyCell
    from openpyxl.worksheet._reader import WorkSheetParser

    wb = ws.parent
    last = 0
    try:
        with ws._get_source() as src:  # the sheet part, unpadded (openpyxl internals)
            parser = WorkSheetParser(src, ws._shared_strings,
                                     data_only=wb.data_only, epoch=wb.epoch,
                                     date_formats=wb._date_formats,
                                     timedelta_formats=wb._timedelta_formats)
            for number, cells in parser.parse():
                if not last < number <= EXCEL_MAX_ROWS:
                    raise ValueError(f"row number {number} after row {last}")
                last = number
                row: dict[int, Any] = {}
                for c in cells:
                    column = int(c["column"])
                    if column > limits.max_columns:
                        limits.check("columns", column,
                                     file=f"{file}: {sheet}!{column_letter(column)}{number}")
                    row[column] = ReadOnlyCell(ws, **c)
                yield number, row
    except RegistryError:
        raise
    except Exception as exc:  # a damaged sheet part: any parser error means the same
        raise IngestError(_("sheet {sheet!r} row {row}: the workbook is damaged ({error})",
                            sheet=sheet, row=last + 1, error=f"{type(exc).__name__}: {exc}"),
                          file=file) from exc


def _texts(cells: dict[int, Any], start: int) -> list[str]:
    """The row's texts from column ``start`` to its last cell."""
    return [cell_text(cells[k].value)[0] if k in cells else ""
            for k in range(start, max(cells, default=0) + 1)]


def _stream(wb: Any, rows: Iterator[tuple[int, dict[int, Any]]], header: list[str], first: int,
            sheet: str, h: int, chunk_rows: int, options: ReadOptions, file: str
            ) -> Iterator[pd.DataFrame]:
    limits = options.limits
    width = len(header)
    total_rows = min(wb[sheet].max_row or 0, EXCEL_MAX_ROWS)  # progress only: declared
    source = {"format": "xlsx", "sheet": sheet, "header_line": h, "first_column": first + 1}
    out: list[list[str]] = []
    lines: list[int] = []
    extras: dict[int, tuple[str, ...]] = {}
    problems: dict[int, tuple[Problem, ...]] = {}
    count = 0
    yielded = False
    try:
        for line, row in rows:
            texts: list[str] = []
            found: list[Problem] = []
            for k, column in enumerate(range(first + 1, max(row, default=first) + 1)):
                c = row.get(column)
                text, why = ("", None) if c is None else cell_text(
                    c.value, getattr(c, "number_format", None))
                if why is not None:
                    found.append(problem(
                        NUMBER_PRECISION, header[k] if k < width else None,
                        message(N_("cell {cell} {problem}"),
                                cell=f"{sheet}!{column_letter(column)}{line}", problem=why)))
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
        if not out and not yielded:
            # A header and nothing below it is an export gone wrong, not an empty batch.
            raise IngestError(_("no data rows below the header (sheet {sheet!r}, row {row}): "
                                "nothing to register; export the file again with its rows",
                                sheet=sheet, row=h), file=file)
        if out:
            yield frame(header, out, lines, extras, problems, progress=(total_rows, total_rows),
                        source=source)
    finally:
        wb.close()


