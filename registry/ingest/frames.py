"""What every reader yields: chunks of text cells, with the line each row came from.

Nothing is converted: ``91330100MA2H3K4L4W`` and ``0571`` stay text, empty cells are ``""``.
Each chunk (a DataFrame, :func:`frame`) has the file's header names as columns, plus

- ``LINE``: the physical line the row starts on (the header is line 1; a quoted cell holding
  a line break makes its row span several lines, and the next row's number says so);
- ``EXTRA``: the non-empty cells beyond the header's width, as a tuple (almost always ``()``),
  so that a row with a stray separator is rejected row by row instead of failing the file;
- ``PROBLEMS`` (only in a chunk where some row has one): what the reader found wrong with a
  row without failing the file, a tuple of ``{"code", "column", "message"}`` (a cell over
  :attr:`~registry.ingest.limits.Limits.max_cell_chars`, a JSON Lines line that is not JSON,
  a PDF that cannot be opened …); the rules reject such a row with those reasons.

Rows shorter than the header are padded with ``""``. Blank lines and rows whose cells are all
empty (spreadsheet leftovers such as ``,,,,``) carry nothing and are skipped; their lines still
count. Only a file that cannot be read at all raises :class:`~registry.errors.IngestError`,
before any row is yielded where it can be known then (encoding, header), else where the reader
meets it. Each chunk's ``attrs["progress"]`` is ``(done, total)`` in the reader's own unit
(bytes, rows or members), for progress bars; ``attrs["source"]`` says what the file turned
out to be (format, encoding, sheet …).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from registry.errors import IngestError
from registry.i18n import N_, _
from registry.ingest.limits import DEFAULT_LIMITS, Limits
from registry.ingest.messages import Text, english, text
from registry.license.types import LicenseType

__all__ = [
    "CELL_TOO_LONG",
    "EXTRA",
    "LINE",
    "PROBLEMS",
    "RESERVED_COLUMNS",
    "Problem",
    "ReadOptions",
    "Reader",
    "check_header",
    "cut_long_cells",
    "frame",
    "problem",
]

LINE = "LINE"
"""Column: 1-based physical line number where the row starts (the header is line 1)."""
EXTRA = "EXTRA"
"""Column: tuple of the non-empty cells found beyond the header's last column."""
PROBLEMS = "PROBLEMS"
"""Column (present only when needed): tuple of :data:`Problem` dicts the reader found in a row."""
RESERVED_COLUMNS = frozenset({LINE, EXTRA, PROBLEMS})
"""Names the reader adds; a file whose header uses one of them is refused."""

Problem = dict[str, Any]
"""``{"code": reason code, "column": original column or None, "message": English text,
"text": the message to say in the reader's language (registry.ingest.messages)}``."""


def problem(code: str, column: str | None, message: Text | str) -> Problem:
    """One row-level problem found while reading (see :data:`PROBLEMS`)."""
    found: Problem = {"code": code, "column": column, "message": english(message)}
    if not isinstance(message, str):
        found["text"] = message
    return found


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file; every field has a default that suits a plain export."""

    sheet: str | None = None
    """Workbook sheet to read (default: the only sheet holding data)."""
    header_row: int = 1
    """1-based line (CSV) or sheet row (workbook) of the header; the rows above it are titles."""
    mapping: Mapping[str, str] = field(default_factory=dict)
    """The department's column or form-field names → element codes (see
    :mod:`registry.ingest.mapping`); PDF readers use it to name the fields they find."""
    ignore: tuple[str, ...] = ()
    """Columns to keep in raw rows without reporting them as unknown (from the mapping)."""
    limits: Limits = DEFAULT_LIMITS
    license_type: LicenseType | None = None
    """The batch's license type, as the registry holds it: PDF readers need its elements and
    text patterns and check a signed record is of it. Not stored with the batch (the registry
    gives it again when the file is read back)."""

    def to_dict(self) -> dict[str, Any]:
        """What a batch stores to read its file again the same way (limits are not stored)."""
        return {"sheet": self.sheet, "header_row": self.header_row, "mapping": dict(self.mapping),
                "ignore": list(self.ignore)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, *, limits: Limits = DEFAULT_LIMITS,
                  license_type: LicenseType | None = None) -> ReadOptions:
        d = d or {}
        return cls(sheet=d.get("sheet"), header_row=int(d.get("header_row") or 1),
                   mapping=dict(d.get("mapping") or {}), ignore=tuple(d.get("ignore") or ()),
                   limits=limits, license_type=license_type)


def check_header(cells: list[str], file: str, *, header_at: str = "the header line (line 1)",
                 cell_name: Callable[[int], str] | None = None,
                 limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """The header's column names, checked: none empty, none repeated, none reserved.

    Trailing empty cells (spreadsheet leftovers) are dropped. Errors name the header by
    ``header_at`` and the cell of 1-based column ``i`` by ``cell_name(i)``.
    """
    cell_name = cell_name or (lambda i: _("header column {i}", i=i))
    if cells:
        # A GB18030 file may start with its own byte-order mark, which decodes to U+FEFF.
        cells[0] = cells[0].removeprefix("\ufeff")
    # Spreadsheets often leave empty cells after the last real column; drop those.
    while cells and not cells[-1].strip():
        cells.pop()
    if not cells:
        raise IngestError(_("{header} is empty; the header must name the columns: give "
                            "--header-row N if it is on line or row N", header=header_at),
                          file=file)
    limits.check("columns", len(cells), file=file)
    for i, name in enumerate(cells, start=1):
        if not name.strip():
            raise IngestError(_("{cell} has no name (a merged or missing header cell?); "
                                "unmerge the header cells and give every column its name",
                                cell=cell_name(i)), file=file)
    dups = sorted({name for name in cells if cells.count(name) > 1})
    if dups:
        raise IngestError(_("duplicate header columns: {columns}; give each column a name of "
                            "its own (or delete the copy)", columns=", ".join(dups)), file=file)
    reserved = sorted(RESERVED_COLUMNS.intersection(cells))
    if reserved:
        raise IngestError(_("header uses reserved column names: {columns}; rename those "
                            "columns (the registry adds columns of these names itself)",
                            columns=", ".join(reserved)), file=file)
    return cells


def frame(header: list[str], rows: list[list[str]], lines: list[int],
          extras: Mapping[int, tuple[str, ...]] | None = None,
          problems: Mapping[int, tuple[Problem, ...]] | None = None, *,
          progress: tuple[int, int] | None = None,
          source: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """A chunk as every reader yields it: text cells, ``LINE``, ``EXTRA`` when ``extras`` is
    given, ``PROBLEMS`` when some row has one; ``attrs["progress"]`` and ``attrs["source"]``
    (what the reader found: format, encoding, sheet …) when given."""
    if rows:
        df = pd.DataFrame(rows, columns=header, dtype=str)
    else:
        df = pd.DataFrame({h: pd.Series([], dtype=str) for h in header})
    df[LINE] = np.asarray(lines, dtype=np.int64)
    if extras is not None:
        extra: list[tuple[str, ...]] = [()] * len(rows)
        for i, cells in extras.items():
            extra[i] = cells
        df[EXTRA] = pd.Series(extra, index=df.index, dtype=object)
    if problems:
        found: list[tuple[Problem, ...]] = [()] * len(rows)
        for i, p in problems.items():
            found[i] = p
        df[PROBLEMS] = pd.Series(found, index=df.index, dtype=object)
    if progress is not None:
        df.attrs["progress"] = progress
    if source is not None:
        df.attrs["source"] = dict(source)
    return df


CELL_TOO_LONG = "CELL_TOO_LONG"
"""Reason code: a cell is longer than :attr:`Limits.max_cell_chars` (the row is rejected)."""


def cut_long_cells(cells: list[str], header: list[str], limit: int) -> tuple[Problem, ...]:
    """Problems for the cells over ``limit``, which are cut to ``limit`` characters in place
    (the stored raw row keeps the first ``limit`` characters, not megabytes)."""
    found = []
    for i, cell in enumerate(cells):
        if len(cell) > limit:
            found.append(problem(CELL_TOO_LONG, header[i] if i < len(header) else None,
                                 text(N_("cell {column!r} is {length} characters long; at "
                                         "most {limit} are accepted (Limits.max_cell_chars)"),
                                      column=header[i], length=len(cell), limit=limit)))
            cells[i] = cell[:limit]
    return tuple(found)


Reader = Callable[[Path, int, ReadOptions], Iterator[pd.DataFrame]]
"""A format's reader: (file, chunk rows, options) → chunks; errors raised before the first
chunk for anything wrong with the file as a whole."""
