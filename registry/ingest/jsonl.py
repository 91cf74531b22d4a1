"""Reading JSON batches: a JSON array of objects (``.json``) or JSON Lines (``.jsonl``).

Each object is a row; its keys are the columns. Keys need not be the same in every object:
the columns of a chunk are every key seen so far (the first 1,000 objects are looked at
before the first chunk, so the header check sees the keys a file uses), a key an object lacks
is ``""``. Values become text: strings as they are, ``null`` as ``""``, numbers as written,
``true``/``false``. Both are streamed, so a file of any length is read in bounded memory.

``LINE`` is the 1-based position in the array (reports show the array index ``[n-1]``) or the
physical line of a JSON Lines file. A JSON Lines line that is not JSON, an item that is not an
object, or a value that is itself an object or array is a row-level problem (the row is
rejected and its original text kept); a JSON array whose syntax breaks is a file-level error
naming the line and column, raised when the reader reaches it.

>>> from registry.ingest.reader import read_rows
>>> chunk = next(read_rows(Path("fixtures/formats/business-licenses.jsonl")))  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from registry.errors import IngestError
from registry.i18n import N_, _
from registry.ingest.encoding import detect_encoding
from registry.ingest.frames import (
    Problem,
    ReadOptions,
    cut_long_cells,
    frame,
    problem,
)
from registry.ingest.messages import text as message

__all__ = ["BAD_JSON", "NESTED_VALUE", "NOT_AN_OBJECT", "read_json", "read_jsonl", "value_text"]

BAD_JSON = "BAD_JSON"
"""Reason code: a JSON Lines line is not valid JSON."""
NOT_AN_OBJECT = "NOT_AN_OBJECT"
"""Reason code: an array item or a line is JSON but not an object."""
NESTED_VALUE = "NESTED_VALUE"
"""Reason code: a value is an object or an array, not text."""

LOOKAHEAD = 1_000
_BLOCK = 1 << 16
_MAX_ITEM_CHARS = 64 << 20


def value_text(value: Any) -> str:
    """A JSON value as the text of a cell (objects and arrays as compact JSON)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


Item = tuple[int, Any, str | None]
"""(LINE, parsed value or None, the original text when it could not be parsed)."""


def _rows(items: Iterator[Item], options: ReadOptions, chunk_rows: int, file: str,
          size: int, where: str, position: Callable[[], int]) -> Iterator[pd.DataFrame]:
    limits = options.limits
    columns: list[str] = []
    seen: set[str] = set()
    buffer: list[Item] = []
    ahead = iter(items)
    for item in ahead:  # look ahead so the first chunk names the keys the file uses
        buffer.append(item)
        if isinstance(item[1], dict):
            for k in item[1]:
                if k not in seen:
                    seen.add(k)
                    columns.append(k)
        if len(buffer) >= max(LOOKAHEAD, chunk_rows):
            break
    limits.check("columns", len(columns), file=file)

    def all_items() -> Iterator[Item]:
        yield from buffer
        yield from ahead

    rows: list[list[str]] = []
    lines: list[int] = []
    extras: dict[int, tuple[str, ...]] = {}
    problems: dict[int, tuple[Problem, ...]] = {}
    yielded = False
    for count, (line, value, original) in enumerate(all_items(), start=1):
        found: list[Problem] = []
        label = (message(N_("item {n}"), n=line - 1) if where == "item"
                 else message(N_("line {n}"), n=line))
        if original is not None:
            cells = [""] * len(columns)
            extras[len(rows)] = (original[:limits.max_cell_chars],)
            found.append(problem(BAD_JSON, None, message(N_("{label} is not JSON ({error})"),
                                                         label=label, error=value)))
        elif not isinstance(value, dict):
            cells = [""] * len(columns)
            extras[len(rows)] = (value_text(value)[:limits.max_cell_chars],)
            found.append(problem(NOT_AN_OBJECT, None,
                                 message(N_("{label} is {kind}, not an object of column → "
                                            "value"), label=label, kind=type(value).__name__)))
        else:
            for k in value:
                if k not in seen:
                    seen.add(k)
                    columns.append(k)
                    limits.check("columns", len(columns), file=file)
                    for r in rows:
                        r.append("")
            cells = [value_text(value.get(c)) for c in columns]
            for c in columns:
                if isinstance(value.get(c), dict | list):
                    found.append(problem(NESTED_VALUE, c,
                                         message(N_("{label}: {key!r} holds an object or array, "
                                                    "not text"), label=label, key=c)))
            if cells and max(map(len, cells)) > limits.max_cell_chars:
                found.extend(cut_long_cells(cells, columns, limits.max_cell_chars))
        if found:
            problems[len(rows)] = tuple(found)
        if count > limits.max_rows:
            limits.check("rows", count, file=file)
        rows.append(cells)
        lines.append(line)
        if len(rows) >= chunk_rows:
            yield frame(list(columns), rows, lines, extras, problems, progress=(position(), size),
                        source={"format": "json" if where == "item" else "jsonl"})
            yielded = True
            rows, lines, extras, problems = [], [], {}, {}
    if rows or not yielded:
        yield frame(list(columns), rows, lines, extras, problems, progress=(size, size),
                    source={"format": "json" if where == "item" else "jsonl"})


def read_jsonl(path: Path, chunk_rows: int, options: ReadOptions) -> Iterator[pd.DataFrame]:
    """Stream a JSON Lines file (one object per line; blank lines skipped)."""
    file = str(path)
    options.limits.check("file_bytes", path.stat().st_size, file=file)
    encoding = detect_encoding(path)
    opened: list[TextIO] = []

    def items() -> Iterator[Item]:
        with path.open(encoding=encoding) as f:
            opened.append(f)
            for line, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    yield line, json.loads(text), None
                except ValueError as exc:
                    yield line, str(exc), text.rstrip("\r\n")

    return _rows(items(), options, chunk_rows, file, path.stat().st_size, "line",
                 lambda: opened[0].buffer.tell() if opened and not opened[0].closed else 0)


def read_json(path: Path, chunk_rows: int, options: ReadOptions) -> Iterator[pd.DataFrame]:
    """Stream a JSON array of objects."""
    file = str(path)
    options.limits.check("file_bytes", path.stat().st_size, file=file)
    encoding = detect_encoding(path)
    with path.open(encoding=encoding) as f:
        start = f.read(_BLOCK).lstrip("\ufeff \t\r\n")
    if not start.startswith("["):
        raise IngestError(_("a JSON batch must be an array of objects ([{{...}}, {{...}}]); "
                            "this one starts with {start!r}", start=start[:20]), file=file)
    opened: list[TextIO] = []
    return _rows(_array_items(path, encoding, file, opened), options, chunk_rows, file,
                 path.stat().st_size, "item",
                 lambda: opened[0].buffer.tell() if opened and not opened[0].closed else 0)


def _array_items(path: Path, encoding: str, file: str, opened: list[TextIO]
                 ) -> Iterator[Item]:
    decoder = json.JSONDecoder()
    with path.open(encoding=encoding) as f:
        opened.append(f)
        state: dict[str, Any] = {"buf": f.read(_BLOCK).lstrip("\ufeff"), "dropped_lines": 0,
                                 "eof": False}
        pos = str(state["buf"]).index("[") + 1

        def refill(at: int) -> None:
            """Drop what was parsed before ``at`` and read the next block."""
            buf = str(state["buf"])
            more = f.read(_BLOCK)
            state["eof"] = not more
            state["dropped_lines"] = int(state["dropped_lines"]) + buf.count("\n", 0, at)
            state["buf"] = buf[at:] + more

        def fail(message: str, at: int) -> IngestError:
            buf = str(state["buf"])
            line = int(state["dropped_lines"]) + buf.count("\n", 0, at) + 1
            column = at - (buf.rfind("\n", 0, at) + 1) + 1
            return IngestError(_("malformed JSON at line {line}, column {column}: {problem}",
                                 line=line, column=column, problem=message), file=file)

        index = 0
        expect_item = True
        while True:
            buf = str(state["buf"])
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos >= len(buf):
                if state["eof"]:
                    raise fail(_("the array is never closed with ']'"), pos)
                refill(pos)
                pos = 0
                continue
            ch = buf[pos]
            if ch == "]":
                return
            if not expect_item:
                if ch != ",":
                    raise fail(_("expected ',' or ']' after item [{index}], found {found!r}",
                                 index=index - 1, found=ch), pos)
                pos += 1
                expect_item = True
                continue
            try:
                value, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError as exc:
                # Maybe only cut by the block boundary: read on (an item has a size limit).
                if not state["eof"] and len(buf) - pos < _MAX_ITEM_CHARS:
                    refill(pos)
                    pos = 0
                    continue
                raise fail(_("item [{index}]: {problem}", index=index, problem=exc.msg),
                           exc.pos) from exc
            if end == len(buf) and not state["eof"]:
                # A number at the very end of the buffer may go on in the next block.
                refill(pos)
                pos = 0
                continue
            index += 1
            yield index, value, None
            pos = end
            expect_item = False


