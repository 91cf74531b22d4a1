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

Limits enforced while parsing (:class:`~registry.ingest.limits.Limits`): a JSON Lines line
nested deeper than ``max_json_depth`` levels is rejected before it is parsed; in an array, an
item nested deeper than the parser holds (Python's recursion limit, far above that bound)
fails the file at that item, one within it is rejected as a row. A number is kept as written,
never converted, and one longer than ``max_number_chars`` rejects its row (CPython's own
4,300-digit guard never runs). A key given twice in one object (RFC 8259: names SHOULD be
unique; Python keeps the last silently) and a lone surrogate escape (``"\\ud800"``, no text)
reject the row, naming the key.

>>> from registry.ingest.reader import read_rows
>>> chunk = next(read_rows(Path("fixtures/formats/business-licenses.jsonl")))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np
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
from registry.ingest.limits import Limits
from registry.ingest.messages import Text
from registry.ingest.messages import text as message

__all__ = ["BAD_JSON", "DUPLICATE_KEY", "NESTED_VALUE", "NOT_AN_OBJECT", "read_json",
           "read_jsonl", "value_text"]

BAD_JSON = "BAD_JSON"
"""Reason code: a JSON Lines line is not valid JSON."""
NOT_AN_OBJECT = "NOT_AN_OBJECT"
"""Reason code: an array item or a line is JSON but not an object."""
NESTED_VALUE = "NESTED_VALUE"
"""Reason code: a value is an object or an array, not text (also one nested too deep)."""
DUPLICATE_KEY = "DUPLICATE_KEY"
"""Reason code: an object gives the same key twice."""

LOOKAHEAD = 1_000
_BLOCK = 1 << 16


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
"""(LINE, parsed value or why it could not be parsed, the original text when it could not)."""


class _Marked(dict[str, Any]):
    """An object that gave some keys more than once (the last value kept, as json does) or
    has keys holding a lone surrogate (shown with U+FFFD instead)."""

    repeated: list[str]
    bad_keys: list[str]


class _LongNumber(str):
    """A number longer than Limits.max_number_chars, cut to its first characters."""

    length: int


def _decoder(limits: Limits) -> json.JSONDecoder:
    """A decoder that keeps numbers as written (no int() of 5,000 digits) and marks objects
    with repeated keys and numbers over the limit, so that only their row is rejected."""
    def number(token: str) -> str:
        if len(token) <= limits.max_number_chars:
            return token
        cut = _LongNumber(token[:20] + "…")
        cut.length = len(token)
        return cut

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        bad = _SURROGATE.search("".join(obj)) is not None
        if len(obj) == len(items) and not bad:
            return obj
        keys = [_SURROGATE.sub("\ufffd", k) for k, _v in items]
        marked = _Marked(zip(keys, (v for _k, v in items), strict=True))
        marked.repeated = sorted({k for k in keys if keys.count(k) > 1})
        marked.bad_keys = [k for k in marked if bad and "\ufffd" in k]
        return marked

    return json.JSONDecoder(parse_int=number, parse_float=number, object_pairs_hook=pairs)


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_SURROGATE = re.compile("[\ud800-\udfff]")


def _depth(text: str) -> int:
    """How deep the brackets of a JSON text nest (outside strings), counted without parsing."""
    if text.count("[") + text.count("{") <= 1:
        return text.count("[") + text.count("{")
    b = np.frombuffer(_STRING.sub("", text).encode("utf-8", "surrogatepass"), np.uint8)
    step = np.isin(b, (91, 123)).astype(np.int64) - np.isin(b, (93, 125))
    return int(np.cumsum(step).max(initial=0))


def _nested_depth(value: Any) -> int:
    """How deep a parsed value nests (a scalar 0), walked without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        node, depth = todo.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            todo.extend((v, depth + 1) for v in (node.values() if isinstance(node, dict)
                                                  else node))
    return deepest


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
            deep = _nested_depth(value) > limits.max_json_depth
            extras[len(rows)] = ("" if deep else value_text(value)[:limits.max_cell_chars],)
            found.append(problem(NOT_AN_OBJECT, None,
                                 message(N_("{label} is {kind}, not an object of column → "
                                            "value"), label=label, kind=type(value).__name__)))
        else:
            if isinstance(value, _Marked):
                found.extend(_surrogate(label, k) for k in value.bad_keys)
                if value.repeated:
                    found.append(problem(DUPLICATE_KEY, value.repeated[0], message(
                        N_("{label}: the key {keys} is given more than once in the object; "
                           "which value is meant cannot be told, give each key once"),
                        label=label, keys=value.repeated)))
            for k in value:
                if k not in seen:
                    seen.add(k)
                    columns.append(k)
                    limits.check("columns", len(columns), file=file)
                    for r in rows:
                        r.append("")
            cells = [v if type(v) is str else _cell(label, c, v, limits, found)
                     for c, v in zip(columns, map(value.get, columns), strict=True)]
            if _SURROGATE.search("".join(cells)):  # one search a row; UTF-8 cannot hold them
                for i, cell in enumerate(cells):
                    if _SURROGATE.search(cell):
                        found.append(_surrogate(label, columns[i]))
                        cells[i] = _SURROGATE.sub("\ufffd", cell)
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
    if not rows and not yielded:
        raise IngestError(_("no objects in the file: nothing to register; export the file "
                            "again with its rows"), file=file)
    if rows:
        yield frame(list(columns), rows, lines, extras, problems, progress=(size, size),
                    source={"format": "json" if where == "item" else "jsonl"})


def _cell(label: Text, column: str, value: Any, limits: Limits, found: list[Problem]) -> str:
    """A value that is not plain text as the text of its cell, with the problems it has added
    to ``found``."""
    if isinstance(value, dict | list):
        if _nested_depth(value) + 1 > limits.max_json_depth:  # + 1: the row's own object
            found.append(problem(NESTED_VALUE, column, message(
                N_("{label}: {key!r} is nested more than {limit} levels deep "
                   "(Limits.max_json_depth)"), label=label, key=column,
                limit=limits.max_json_depth)))
            return ""
        found.append(problem(NESTED_VALUE, column, message(
            N_("{label}: {key!r} holds an object or array, not text"), label=label,
            key=column)))
    elif isinstance(value, _LongNumber):
        found.append(problem(BAD_JSON, column, message(
            N_("{label}: {key!r} is a number of {length} characters; at most {limit} are "
               "accepted (Limits.max_number_chars): write a long code as a string"),
            label=label, key=column, length=value.length, limit=limits.max_number_chars)))
    return value_text(value)


def _surrogate(label: Text, column: str) -> Problem:
    return problem(BAD_JSON, column, message(
        N_("{label}: {key!r} holds a lone surrogate escape (\\ud800 to \\udfff), which is "
           "no character; correct the exporting system"), label=label, key=column))


def _lines(f: TextIO, limit: int) -> Iterator[tuple[str, bool]]:
    """The lines of ``f`` and whether each was longer than ``limit`` characters (then only its
    first ``limit`` are kept; the rest is read in pieces of ``limit`` and dropped)."""
    while text := f.readline(limit):
        cut = len(text) == limit and not text.endswith("\n")
        rest = text
        while cut and rest and not rest.endswith("\n"):
            rest = f.readline(limit)
        yield text, cut


def read_jsonl(path: Path, chunk_rows: int, options: ReadOptions) -> Iterator[pd.DataFrame]:
    """Stream a JSON Lines file (one object per line; blank lines skipped)."""
    file = str(path)
    options.limits.check("file_bytes", path.stat().st_size, file=file)
    encoding = detect_encoding(path)
    opened: list[TextIO] = []
    decoder, depth = _decoder(options.limits), options.limits.max_json_depth

    def items() -> Iterator[Item]:
        with path.open(encoding=encoding) as f:
            opened.append(f)
            for line, (text, cut) in enumerate(_lines(f, options.limits.max_item_chars),
                                               start=1):
                if cut:
                    yield line, message(N_("longer than {limit} characters "
                                           "(Limits.max_item_chars)"),
                                        limit=options.limits.max_item_chars), text
                    continue
                if not text.strip():
                    continue
                if _depth(text) > depth:
                    yield line, message(N_("nested more than {limit} levels deep "
                                           "(Limits.max_json_depth)"), limit=depth), \
                        text.rstrip("\r\n")
                    continue
                try:
                    yield line, decoder.decode(text), None
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
    return _rows(_array_items(path, encoding, file, opened, options.limits), options,
                 chunk_rows, file, path.stat().st_size, "item",
                 lambda: opened[0].buffer.tell() if opened and not opened[0].closed else 0)


def _array_items(path: Path, encoding: str, file: str, opened: list[TextIO], limits: Limits
                 ) -> Iterator[Item]:
    decoder = _decoder(limits)
    with path.open(encoding=encoding) as f:
        opened.append(f)
        state: dict[str, Any] = {"buf": f.read(_BLOCK).lstrip("\ufeff"), "dropped_lines": 0,
                                 "dropped_columns": 0, "eof": False}
        pos = str(state["buf"]).index("[") + 1

        def refill(at: int) -> None:
            """Drop what was parsed before ``at`` and read on: as much again as is left (an
            item cut by the buffer is parsed again from its start, so a long one is tried at
            doubling sizes, never block by block: that would be quadratic)."""
            buf = str(state["buf"])
            more = f.read(max(_BLOCK, len(buf) - at))
            state["eof"] = not more
            state["dropped_lines"] = int(state["dropped_lines"]) + buf.count("\n", 0, at)
            newline = buf.rfind("\n", 0, at)  # the buffer's first line goes on a dropped one
            state["dropped_columns"] = (at - newline - 1 if newline >= 0
                                        else int(state["dropped_columns"]) + at)
            state["buf"] = buf[at:] + more

        def fail(message: str, at: int) -> IngestError:
            buf = str(state["buf"])
            line = int(state["dropped_lines"]) + buf.count("\n", 0, at) + 1
            newline = buf.rfind("\n", 0, at)
            column = at - newline + (int(state["dropped_columns"]) if newline < 0 else 0)
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
            except RecursionError:
                raise fail(_("item [{index}] is nested more than {limit} levels deep "
                             "(Limits.max_json_depth)", index=index,
                             limit=limits.max_json_depth), pos) from None
            except json.JSONDecodeError as exc:
                # Maybe only cut by the block boundary: read on (an item has a size limit).
                if not state["eof"] and len(buf) - pos < limits.max_item_chars:
                    refill(pos)
                    pos = 0
                    continue
                if not state["eof"]:
                    raise fail(_("item [{index}] is longer than {limit} characters "
                                 "(Limits.max_item_chars)", index=index,
                                 limit=limits.max_item_chars), pos) from exc
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


