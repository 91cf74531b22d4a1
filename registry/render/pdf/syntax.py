"""PDF syntax for the hand-built renditions: strings, dates, objects, streams, the xref table.

Internal to :mod:`registry.render`; ISO 32000-1 section numbers in the comments.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Sequence

__all__ = ["Writer", "literal", "name_ok", "obj", "pdf_date", "stream", "text_string"]

# Backslash first, so the backslashes the other escapes add are not escaped again.
_LITERAL_ESCAPES = ((b"\\", b"\\\\"), (b"(", b"\\("), (b")", b"\\)"), (b"\r", b"\\r"),
                    (b"\n", b"\\n"))


def literal(data: bytes) -> bytes:
    """A literal string (§7.3.4.2) holding exactly ``data``.

    Backslash and parentheses are escaped, and so are CR and LF, which a reader would otherwise
    normalize to LF inside the string.
    """
    for raw, escaped in _LITERAL_ESCAPES:
        if raw in data:
            data = data.replace(raw, escaped)
    return b"(" + data + b")"


def text_string(text: str) -> bytes:
    """A text string (§7.9.2.2): plain when printable ASCII, else UTF-16BE with a BOM.

    UTF-16BE keeps every Unicode character, including those beyond the BMP (𠮷), so a reader
    gets back exactly the Python string that was written.
    """
    if text.isascii() and text.isprintable():
        return literal(text.encode("ascii"))
    return literal(b"\xfe\xff" + text.encode("utf-16-be"))


def name_ok(name: str) -> bool:
    """A name we may write without # escapes (letters, digits, underscore)."""
    return bool(name) and name.isascii() and all(c.isalnum() or c == "_" for c in name)


def pdf_date(when: dt.datetime) -> str:
    """A PDF date (§7.9.4) in UTC: ``D:YYYYMMDDHHmmSSZ``."""
    if when.tzinfo is None:
        raise ValueError("a PDF date needs an aware datetime")
    return when.astimezone(dt.UTC).strftime("D:%Y%m%d%H%M%SZ")


def obj(number: int, body: bytes | str) -> bytes:
    """An indirect object."""
    if isinstance(body, str):
        body = body.encode("ascii")
    return b"%d 0 obj\n%s\nendobj\n" % (number, body)


def stream(number: int, data: bytes, extra: bytes | str = b"", *, compress: bool = True,
           level: int = 6) -> bytes:
    """A stream object; ``extra`` goes into its dictionary."""
    if isinstance(extra, str):
        extra = extra.encode("ascii")
    if compress:
        data = zlib.compress(data, level)
        extra += b" /Filter /FlateDecode"
    return (b"%d 0 obj\n<< /Length %d%s >>\nstream\n" % (number, len(data), extra)) + data + (
        b"\nendstream\nendobj\n"
    )


class Writer:
    """Collects a file's parts and object offsets; writes the classic xref table (§7.5.4)."""

    __slots__ = ("offsets", "parts", "size")

    def __init__(self, header: bytes) -> None:
        self.parts: list[bytes] = [header]
        self.size = len(header)
        self.offsets: dict[int, int] = {}

    def add(self, number: int, data: bytes) -> int:
        """Append object ``number`` (serialized); returns its offset in the file."""
        at = self.size
        self.offsets[number] = at
        self.parts.append(data)
        self.size += len(data)
        return at

    def add_all(self, first: int, objects: Sequence[bytes]) -> None:
        for i, data in enumerate(objects):
            self.add(first + i, data)

    def finish(self, trailer: bytes) -> bytearray:
        """The whole file: objects, xref table, trailer (``trailer`` is the dictionary body)."""
        count = max(self.offsets) + 1
        xref = bytearray(b"xref\n0 %d\n0000000000 65535 f \n" % count)
        for n in range(1, count):
            at = self.offsets.get(n)
            xref += b"%010d 00000 n \n" % at if at is not None else b"0000000000 65535 f \n"
        start = self.size
        self.parts.append(bytes(xref))
        self.parts.append(b"trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n"
                          % (count, trailer, start))
        return bytearray(b"".join(self.parts))
