"""Reading a department file into chunks of text cells, with the line each row came from.

A department sends a CSV exported from whatever it has: UTF-8 with or without a BOM, or GBK
from a Chinese-locale Excel; commas, tabs or semicolons. :func:`read_rows` decides the
encoding from the whole file first (a streamed pass, so a file that turns out to be GB18030
at row 900,000 is not half-read as UTF-8), sniffs the separator from the header, then streams
DataFrames of text cells. Nothing is converted: ``91330100MA2H3K4L4W`` and ``0571`` stay text,
empty cells are ``""``.

Each chunk has the file's header names as columns, plus

- ``LINE``: the physical line the row starts on (the header is line 1; a quoted cell holding
  a line break makes its row span several lines, and the next row's number says so);
- ``EXTRA``: the non-empty cells beyond the header's width, as a tuple (almost always ``()``),
  so that a row with a stray separator is rejected row by row instead of failing the file.

- ``PROBLEMS`` (only in a chunk where some row has one): what the reader found wrong with a
  row without failing the file, a tuple of ``{"code", "column", "message"}`` (a cell over
  :attr:`~registry.ingest.limits.Limits.max_cell_chars`, a JSON Lines line that is not JSON,
  a PDF that cannot be opened …); the rules reject such a row with those reasons.

Rows shorter than the header are padded with ``""``. Blank lines and rows whose cells are all
empty (spreadsheet leftovers such as ``,,,,``) carry nothing and are skipped; their lines still
count. Only a file that cannot be read at all raises :class:`~registry.errors.IngestError`:
undecodable bytes (before any row is yielded), a bad header (before any row is yielded), or
broken quoting (``"abc"def`` or a quote never closed; raised when the parser reaches it).

Other formats have readers of their own with the same contract, chosen by the file's suffix:
``.xlsx`` (:mod:`registry.ingest.xlsx`), ``.json`` and ``.jsonl`` (:mod:`registry.ingest.jsonl`),
``.pdf`` (:mod:`registry.ingest.pdf`), ``.zip`` (:mod:`registry.ingest.archive`). Each chunk's
``attrs["progress"]`` is ``(done, total)`` in the reader's own unit (bytes, rows or members),
for progress bars.

>>> from pathlib import Path
>>> path = Path("fixtures/batches/business-licenses.csv")
>>> detect_encoding(path)
'utf-8'
>>> chunk = next(read_rows(path, chunk_rows=10))
>>> chunk.loc[0, "持证主体代码"], int(chunk.loc[0, LINE])
('91330102MAT9HT456F', 2)
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from registry.errors import IngestError
from registry.ingest.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "CELL_TOO_LONG",
    "ENCODINGS",
    "EXTRA",
    "LINE",
    "PROBLEMS",
    "READERS",
    "RESERVED_COLUMNS",
    "SEPARATORS",
    "Problem",
    "ReadOptions",
    "UndecodableFileError",
    "check_header",
    "cut_long_cells",
    "detect_encoding",
    "frame",
    "problem",
    "read_rows",
    "sniff_separator",
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
"""``{"code": reason code, "column": original column or None, "message": text}``."""


def problem(code: str, column: str | None, message: str) -> Problem:
    """One row-level problem found while reading (see :data:`PROBLEMS`)."""
    return {"code": code, "column": column, "message": message}


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file; every field has a default that suits a plain export."""

    sheet: str | None = None
    """Workbook sheet to read (default: the first)."""
    header_row: int = 1
    """1-based line (CSV) or sheet row (workbook) of the header; the rows above it are titles."""
    mapping: Mapping[str, str] = field(default_factory=dict)
    """The department's column or form-field names → element codes (see
    :mod:`registry.ingest.mapping`); PDF readers use it to name the fields they find."""
    ignore: tuple[str, ...] = ()
    """Columns to keep in raw rows without reporting them as unknown (from the mapping)."""
    type_code: str | None = None
    """License type of the batch: PDF readers need it (extraction rule, signed record check)."""
    limits: Limits = DEFAULT_LIMITS

    def to_dict(self) -> dict[str, Any]:
        """What a batch stores to read its file again the same way (limits are not stored)."""
        return {"sheet": self.sheet, "header_row": self.header_row, "mapping": dict(self.mapping),
                "ignore": list(self.ignore), "type_code": self.type_code}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, *, limits: Limits = DEFAULT_LIMITS
                  ) -> ReadOptions:
        d = d or {}
        return cls(sheet=d.get("sheet"), header_row=int(d.get("header_row") or 1),
                   mapping=dict(d.get("mapping") or {}), ignore=tuple(d.get("ignore") or ()),
                   type_code=d.get("type_code"), limits=limits)

ENCODINGS = ("utf-8", "gb18030")
"""Tried in this order over the whole file. GB18030 is a superset of GBK and GB2312."""
SEPARATORS = (",", "\t", ";")
"""Separators recognised in a header line."""

_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_BLOCK = 1 << 20


class UndecodableFileError(IngestError):
    """The file is neither UTF-8 nor GB18030; ``offset`` is the first byte that is neither."""

    def __init__(self, message: str, *, file: str, offset: int) -> None:
        super().__init__(message, file=file)
        self.offset = offset

    def diagnostics(self) -> str:
        return (
            f"{self}\nSave the file as 'CSV UTF-8' (or as CSV from a Chinese-locale Excel, "
            f"which writes GBK) and upload it again."
        )


def _first_bad_byte(path: Path, encoding: str, block_size: int) -> tuple[int, int] | None:
    """(offset, byte) of the first byte ``encoding`` cannot decode, or None if all decode."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    fed = 0
    with path.open("rb") as f:
        while True:
            block = f.read(block_size)
            final = not block
            # The decoder keeps an incomplete trailing sequence between blocks; an error's
            # position counts from the start of that pending part, not of this block.
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(block, final)
            except UnicodeDecodeError as exc:
                offset = fed - pending + exc.start
                return offset, exc.object[exc.start]
            if final:
                return None
            fed += len(block)


def detect_encoding(path: Path, *, block_size: int = _BLOCK) -> str:
    """``"utf-8-sig"`` (UTF-8 with a BOM), ``"utf-8"`` or ``"gb18030"``, checked on every byte.

    UTF-8 is tried first: GBK text is almost never valid UTF-8, while UTF-8 text is often
    valid GB18030 (as mojibake). Raises :class:`UndecodableFileError` with the offset of the
    first byte neither encoding accepts (the later of the two failure points, since the
    encoding that got further is the one the file was most likely meant to be in).
    """
    failures: dict[str, tuple[int, int]] = {}
    for encoding in ENCODINGS:
        bad = _first_bad_byte(path, encoding, block_size)
        if bad is None:
            if encoding == "utf-8":
                with path.open("rb") as f:
                    return "utf-8-sig" if f.read(len(_UTF8_BOM)) == _UTF8_BOM else "utf-8"
            _refuse_mixed(path, failures["utf-8"], block_size)
            return encoding
        failures[encoding] = bad
    _refuse_mixed(path, failures["utf-8"], block_size)
    encoding, (offset, byte) = max(failures.items(), key=lambda kv: kv[1][0])
    with path.open("rb") as f:
        head = f.read(2)
    hint = (
        "; it starts with a UTF-16 byte-order mark (Excel 'Unicode text'), which is not accepted"
        if head in _UTF16_BOMS
        else ""
    )
    others = ", ".join(f"{e} at {o}" for e, (o, _) in failures.items())
    raise UndecodableFileError(
        f"neither UTF-8 nor GB18030: byte 0x{byte:02X} at byte offset {offset} cannot be "
        f"decoded as {encoding.upper()} (first failures: {others}){hint}",
        file=str(path),
        offset=offset,
    )


MIXED_CJK_THRESHOLD = 4
"""Chinese characters written in valid UTF-8 before the first non-UTF-8 byte that make a file
"mixed" rather than GB18030: GBK text almost never forms even one such character."""

_CJK = re.compile("[\u4e00-\u9fff]")


def _refuse_mixed(path: Path, utf8_failure: tuple[int, int], block_size: int) -> None:
    """Refuse a file whose start is UTF-8 Chinese text but that has GBK bytes later (rows
    pasted from another export): GB18030 would read the whole file, the UTF-8 part as
    mojibake, and that is a silently wrong guess."""
    offset, byte = utf8_failure
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    seen, left = 0, offset
    with path.open("rb") as f:
        while left > 0 and seen < MIXED_CJK_THRESHOLD:
            block = f.read(min(block_size, left))
            if not block:
                break
            left -= len(block)
            seen += len(_CJK.findall(decoder.decode(block, left <= 0)))
    if seen >= MIXED_CJK_THRESHOLD:
        raise UndecodableFileError(
            f"mixed encodings: the file starts as UTF-8 Chinese text, but byte 0x{byte:02X} at "
            f"byte offset {offset} is not UTF-8 (rows from a GBK export pasted in?)",
            file=str(path), offset=offset)


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
        shown = " and ".join(f"{n} {sep!r}" for sep, n in counts.items() if n == best)
        raise IngestError(f"cannot tell the separator: the header has {shown}", file=file)
    return winners[0]


def _header_text(path: Path, encoding: str, skip: int) -> str:
    """The header record of the file as text, after ``skip`` title lines (several lines if a
    header cell is quoted over a line break)."""
    with path.open(encoding=encoding, newline="") as f:
        for _ in range(skip):
            f.readline()
        text = ""
        while True:
            line = f.readline()
            text += line
            if not line or text.count('"') % 2 == 0:
                return text


def check_header(cells: list[str], file: str, *, header_at: str = "the header line (line 1)",
                 cell_name: Callable[[int], str] | None = None,
                 limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """The header's column names, checked: none empty, none repeated, none reserved.

    Trailing empty cells (spreadsheet leftovers) are dropped. Errors name the header by
    ``header_at`` and the cell of 1-based column ``i`` by ``cell_name(i)``.
    """
    cell_name = cell_name or (lambda i: f"header column {i}")
    if cells:
        # A GB18030 file may start with its own byte-order mark, which decodes to U+FEFF.
        cells[0] = cells[0].removeprefix("\ufeff")
    # Spreadsheets often leave empty cells after the last real column; drop those.
    while cells and not cells[-1].strip():
        cells.pop()
    if not cells:
        raise IngestError(f"{header_at} is empty", file=file)
    limits.check("columns", len(cells), file=file)
    for i, name in enumerate(cells, start=1):
        if not name.strip():
            raise IngestError(f"{cell_name(i)} has no name (a merged or missing header cell?)",
                              file=file)
    dups = sorted({name for name in cells if cells.count(name) > 1})
    if dups:
        raise IngestError(f"duplicate header columns: {', '.join(dups)}", file=file)
    reserved = sorted(RESERVED_COLUMNS.intersection(cells))
    if reserved:
        raise IngestError(f"header uses reserved column names: {', '.join(reserved)}", file=file)
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


def _read_delimited(path: Path, chunk_rows: int, options: ReadOptions) -> Iterator[pd.DataFrame]:
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
        raise IngestError(f"line {skip + 1} (header): malformed CSV ({exc})", file=file) from exc
    header = check_header(cells, file, header_at=f"the header line (line {skip + 1})",
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
        for _ in range(skip):
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
                    f"line {start}: malformed CSV ({exc}); a quoted cell must be closed "
                    f"and followed by a separator or the end of the line",
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
                            progress=(f.buffer.tell(), size), source=source)
                yielded = True
                rows, lines, extras, problems = [], [], {}, {}
        if rows or not yielded:
            # A file with a header and no rows still yields one empty chunk, so callers see
            # its columns.
            yield frame(header, rows, lines, extras, problems, progress=(size, size),
                        source=source)


CELL_TOO_LONG = "CELL_TOO_LONG"
"""Reason code: a cell is longer than :attr:`Limits.max_cell_chars` (the row is rejected)."""


def cut_long_cells(cells: list[str], header: list[str], limit: int) -> tuple[Problem, ...]:
    """Problems for the cells over ``limit``, which are cut to ``limit`` characters in place
    (the stored raw row keeps the first ``limit`` characters, not megabytes)."""
    found = []
    for i, cell in enumerate(cells):
        if len(cell) > limit:
            found.append(problem(CELL_TOO_LONG, header[i] if i < len(header) else None,
                                 f"cell {header[i]!r} is {len(cell)} characters long; at most "
                                 f"{limit} are accepted (Limits.max_cell_chars)"))
            cells[i] = cell[:limit]
    return tuple(found)


Reader = Callable[[Path, int, ReadOptions], Iterator[pd.DataFrame]]

READERS: dict[str, Reader] = {
    ".csv": _read_delimited,
    ".tsv": _read_delimited,
    ".txt": _read_delimited,
}
"""File suffix → reader. The other format modules register themselves here on import."""


def read_rows(path: Path, *, chunk_rows: int = 50_000,
              options: ReadOptions | None = None) -> Iterator[pd.DataFrame]:
    """Stream ``path`` as DataFrames of at most ``chunk_rows`` rows (see the module docstring).

    The format is chosen by the file's suffix; an unsupported suffix raises
    :class:`~registry.errors.IngestError` naming the file.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    options = options or ReadOptions()
    if options.header_row < 1:
        raise ValueError(f"header_row must be at least 1, got {options.header_row}")
    path = Path(path)
    _load_format_readers()
    read = READERS.get(path.suffix.lower())
    if read is None:
        known = ", ".join(sorted(READERS))
        raise IngestError(
            f"unsupported file type {path.suffix or '(no suffix)'!r}; accepted: {known}",
            file=str(path),
        )
    return read(path, chunk_rows, options)


def _load_format_readers() -> None:
    # Imported on first use: each registers its suffixes in READERS (and they import this
    # module, so they cannot be imported at its top).
    from registry.ingest import archive, jsonl, pdf, xlsx  # noqa: F401
