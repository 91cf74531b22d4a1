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

Rows shorter than the header are padded with ``""``. Blank lines and rows whose cells are all
empty (spreadsheet leftovers such as ``,,,,``) carry nothing and are skipped; their lines still
count. Only a file that cannot be read at all raises :class:`~registry.errors.IngestError`:
undecodable bytes (before any row is yielded), a bad header (before any row is yielded), or
broken quoting (``"abc"def`` or a quote never closed; raised when the parser reaches it).

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
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from registry.errors import IngestError

__all__ = [
    "ENCODINGS",
    "EXTRA",
    "LINE",
    "RESERVED_COLUMNS",
    "SEPARATORS",
    "UndecodableFileError",
    "detect_encoding",
    "read_rows",
    "sniff_separator",
]

LINE = "LINE"
"""Column: 1-based physical line number where the row starts (the header is line 1)."""
EXTRA = "EXTRA"
"""Column: tuple of the non-empty cells found beyond the header's last column."""
RESERVED_COLUMNS = frozenset({LINE, EXTRA})
"""Names the reader adds; a file whose header uses one of them is refused."""

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
            return encoding
        failures[encoding] = bad
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


def _header_text(path: Path, encoding: str) -> str:
    """The first record of the file as text (several lines if a header cell is quoted over
    a line break)."""
    with path.open(encoding=encoding, newline="") as f:
        text = ""
        while True:
            line = f.readline()
            text += line
            if not line or text.count('"') % 2 == 0:
                return text


def _check_header(cells: list[str], file: str) -> list[str]:
    if cells:
        # A GB18030 file may start with its own byte-order mark, which decodes to U+FEFF.
        cells[0] = cells[0].removeprefix("\ufeff")
    # Spreadsheets often leave empty cells after the last real column; drop those.
    while cells and not cells[-1].strip():
        cells.pop()
    if not cells:
        raise IngestError("the header line (line 1) is empty", file=file)
    for i, name in enumerate(cells, start=1):
        if not name.strip():
            raise IngestError(f"header column {i} has no name", file=file)
    dups = sorted({name for name in cells if cells.count(name) > 1})
    if dups:
        raise IngestError(f"duplicate header columns: {', '.join(dups)}", file=file)
    reserved = sorted(RESERVED_COLUMNS.intersection(cells))
    if reserved:
        raise IngestError(f"header uses reserved column names: {', '.join(reserved)}", file=file)
    return cells


def _frame(header: list[str], rows: list[list[str]], lines: list[int],
           extras: dict[int, tuple[str, ...]]) -> pd.DataFrame:
    if rows:
        df = pd.DataFrame(rows, columns=header, dtype=str)
    else:
        df = pd.DataFrame({h: pd.Series([], dtype=str) for h in header})
    df[LINE] = np.asarray(lines, dtype=np.int64)
    extra = [()] * len(rows)
    for i, cells in extras.items():
        extra[i] = cells
    df[EXTRA] = pd.Series(extra, index=df.index, dtype=object)
    return df


def _read_delimited(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    # Encoding, separator and header are settled here, before the caller gets an iterator,
    # so those errors surface at the call and never after some rows were handed out.
    file = str(path)
    encoding = detect_encoding(path)
    header_text = _header_text(path, encoding)
    separator = sniff_separator(header_text, file=file)
    try:
        cells = next(csv.reader([header_text], delimiter=separator, strict=True), [])
    except csv.Error as exc:
        raise IngestError(f"line 1 (header): malformed CSV ({exc})", file=file) from exc
    header = _check_header(cells, file)
    return _stream(path, encoding, separator, header, chunk_rows)


def _stream(
    path: Path, encoding: str, separator: str, header: list[str], chunk_rows: int
) -> Iterator[pd.DataFrame]:
    file = str(path)
    width = len(header)
    with path.open(encoding=encoding, newline="") as f:
        # strict: a quote that is never closed would otherwise swallow the rest of the file
        # into one cell without a word.
        reader = csv.reader(f, delimiter=separator, quotechar='"', doublequote=True, strict=True)
        next(reader)  # the header, already checked
        rows: list[list[str]] = []
        lines: list[int] = []
        extras: dict[int, tuple[str, ...]] = {}
        yielded = False
        while True:
            start = reader.line_num + 1
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
            rows.append(cells)
            lines.append(start)
            if len(rows) >= chunk_rows:
                yield _frame(header, rows, lines, extras)
                yielded = True
                rows, lines, extras = [], [], {}
        if rows or not yielded:
            # A file with a header and no rows still yields one empty chunk, so callers see
            # its columns.
            yield _frame(header, rows, lines, extras)


_READERS: dict[str, Callable[[Path, int], Iterator[pd.DataFrame]]] = {
    ".csv": _read_delimited,
    ".tsv": _read_delimited,
    ".txt": _read_delimited,
}


def read_rows(path: Path, *, chunk_rows: int = 50_000) -> Iterator[pd.DataFrame]:
    """Stream ``path`` as DataFrames of at most ``chunk_rows`` rows (see the module docstring).

    The format is chosen by the file's suffix; an unsupported suffix raises
    :class:`~registry.errors.IngestError` naming the file.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    path = Path(path)
    read = _READERS.get(path.suffix.lower())
    if read is None:
        known = ", ".join(sorted(_READERS))
        raise IngestError(
            f"unsupported file type {path.suffix or '(no suffix)'!r}; accepted: {known}",
            file=str(path),
        )
    return read(path, chunk_rows)
