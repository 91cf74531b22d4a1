"""CSV, TSV and text exports: the separator sniffed from the header, rows streamed in chunks.

Commas, tabs or semicolons; the encoding from :mod:`registry.ingest.encoding`; quoted cells
may hold separators and line breaks, and a row's ``LINE`` is the physical line it starts on.
Broken quoting (``"abc"def`` or a quote never closed) fails the file where the parser meets it,
and so does a header with no data row below it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import pandas as pd

from registry.errors import IngestError
from registry.i18n import _
from registry.ingest.encoding import detect_encoding
from registry.ingest.frames import (
    Problem,
    ReadOptions,
    check_header,
    cut_long_cells,
    frame,
)
from registry.ingest.limits import Limits

__all__ = ["SEPARATORS", "read_delimited", "sniff_separator"]

SEPARATORS = (",", "\t", ";")
"""Separators recognised in a header line."""


def sniff_separator(header_line: str, *, file: str | None = None) -> str:
    """The separator of a header line: the one of , TAB ; occurring most outside quotes.

    A header with a single column has none of them and reads as comma-separated. A tie
    between two separators is refused rather than guessed.
    """
    counts = dict.fromkeys(SEPARATORS, 0)
    quoted = False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts.values())
    if best == 0:
        return ","
    winners = [sep for sep, n in counts.items() if n == best]
    if len(winners) > 1:
        shown = [f"{n} {sep!r}" for sep, n in counts.items() if n == best]
        raise IngestError(_("cannot tell the separator: the header has {counts}; save the "
                            "file again as 'CSV UTF-8' (comma-separated) from Excel",
                            counts=", ".join(shown)), file=file)
    return winners[0]


def _header_text(path: Path, encoding: str, skip: int) -> str:
    """The header record of the file as text, after ``skip`` title lines (several lines if a
    header cell is quoted over a line break)."""
    with path.open(encoding=encoding, newline="") as f:
        for _line in range(skip):
            f.readline()
        text = ""
        while True:
            line = f.readline()
            text += line
            if not line or text.count('"') % 2 == 0:
                return text


def read_delimited(path: Path, chunk_rows: int, options: ReadOptions) -> Iterator[pd.DataFrame]:
    # Encoding, separator and header are settled here, before the caller gets an iterator,
    # so those errors surface at the call and never after some rows were handed out.
    file = str(path)
    limits = options.limits
    limits.check("file_bytes", path.stat().st_size, file=file)
    encoding = detect_encoding(path)
    skip = options.header_row - 1
    header_text = _header_text(path, encoding, skip)
    separator = sniff_separator(header_text, file=file)
    try:
        cells = next(csv.reader([header_text], delimiter=separator, strict=True), [])
    except csv.Error as exc:
        raise IngestError(_("line {line} (header): malformed CSV ({error}); a quoted cell "
                            "must be closed and followed by a separator or the end of the "
                            "line", line=skip + 1, error=exc), file=file) from exc
    header = check_header(cells, file, header_at=_("the header line (line {line})",
                                                   line=skip + 1),
                          limits=limits)
    source = {"format": "csv", "encoding": encoding, "separator": separator,
              "header_line": skip + 1}
    return _stream(path, encoding, separator, header, chunk_rows, skip, limits, source)


def _stream(
    path: Path, encoding: str, separator: str, header: list[str], chunk_rows: int, skip: int,
    limits: Limits, source: dict[str, Any],
) -> Iterator[pd.DataFrame]:
    file = str(path)
    width = len(header)
    size = path.stat().st_size
    max_cell, max_rows = limits.max_cell_chars, limits.max_rows
    # The csv module refuses fields over its own (process-wide) limit; make it the hard limit
    # of Limits.max_field_chars so that cells between the two become row-level problems.
    if csv.field_size_limit() < limits.max_field_chars:
        csv.field_size_limit(limits.max_field_chars)
    with path.open(encoding=encoding, newline="") as f:
        raw = cast(BinaryIO, f.buffer)  # bytes read so far, for progress (text tell() is off)
        for _line in range(skip):
            f.readline()
        # strict: a quote that is never closed would otherwise swallow the rest of the file
        # into one cell without a word.
        reader = csv.reader(f, delimiter=separator, quotechar='"', doublequote=True, strict=True)
        next(reader)  # the header, already checked
        rows: list[list[str]] = []
        lines: list[int] = []
        extras: dict[int, tuple[str, ...]] = {}
        problems: dict[int, tuple[Problem, ...]] = {}
        yielded = False
        total = 0
        while True:
            start = reader.line_num + 1 + skip
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise IngestError(
                    _("line {line}: malformed CSV ({error}); a quoted cell must be closed "
                      "and followed by a separator or the end of the line", line=start,
                      error=exc),
                    file=file,
                ) from exc
            if len(cells) != width:
                if not any(cells):
                    continue
                if len(cells) < width:
                    cells.extend([""] * (width - len(cells)))
                else:
                    over = cells[width:]
                    del cells[width:]
                    while over and not over[-1]:
                        over.pop()
                    if over:
                        extras[len(rows)] = tuple(over)
            elif not any(cells):
                continue
            if max(map(len, cells)) > max_cell:
                problems[len(rows)] = cut_long_cells(cells, header, max_cell)
            total += 1
            if total > max_rows:
                limits.check("rows", total, file=file)
            rows.append(cells)
            lines.append(start)
            if len(rows) >= chunk_rows:
                yield frame(header, rows, lines, extras, problems,
                            progress=(raw.tell(), size), source=source)
                yielded = True
                rows, lines, extras, problems = [], [], {}, {}
        if not rows and not yielded:
            # A header and nothing below it is an export gone wrong, not an empty batch.
            raise IngestError(_("no data rows below the header (line {line}): nothing to "
                                "register; export the file again with its rows",
                                line=skip + 1), file=file)
        if rows:
            yield frame(header, rows, lines, extras, problems, progress=(size, size),
                        source=source)

