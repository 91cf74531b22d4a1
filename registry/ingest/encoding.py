"""The text encoding of a department file, decided from the whole file, never guessed.

A department sends UTF-8 (with or without a BOM) or, from a Chinese-locale Excel, GBK, which
GB18030 contains. :func:`detect_encoding` reads the whole file in blocks: a file that turns out
to be GB18030 at row 900,000 is not half-read as UTF-8, and one that mixes both is refused
rather than read as garbled text. So is a GBK file with lines pasted from a Big5 (traditional
Chinese, Taiwan or Hong Kong) export: Big5 bytes are mostly valid GBK, so they decode without
an error, but into characters a GBK export hardly ever has (see :data:`BIG5_SUSPECT`).

>>> detect_encoding(Path("fixtures/batches/business-licenses-gbk.csv"))
'gb18030'
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from registry.errors import UndecodableFileError
from registry.i18n import _, ngettext

__all__ = ["BIG5_SUSPECT", "ENCODINGS", "MIXED_CJK_THRESHOLD", "detect_encoding"]

ENCODINGS = ("utf-8", "gb18030")
"""Tried in this order over the whole file. GB18030 is a superset of GBK and GB2312."""

_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_BLOCK = 1 << 20


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
            _refuse_big5(path, block_size)
            return encoding
        failures[encoding] = bad
    _refuse_mixed(path, failures["utf-8"], block_size)
    encoding, (offset, byte) = max(failures.items(), key=lambda kv: kv[1][0])
    with path.open("rb") as f:
        head = f.read(2)
    others = ", ".join(f"{e} at {o}" for e, (o, _b) in failures.items())
    found = {"byte": f"0x{byte:02X}", "offset": offset, "encoding": encoding.upper(),
             "failures": others}
    message = (
        _("neither UTF-8 nor GB18030: byte {byte} at byte offset {offset} cannot be decoded "
          "as {encoding} (first failures: {failures}); it starts with a UTF-16 byte-order mark "
          "(Excel 'Unicode text'), which is not accepted", **found)
        if head in _UTF16_BOMS else
        _("neither UTF-8 nor GB18030: byte {byte} at byte offset {offset} cannot be decoded "
          "as {encoding} (first failures: {failures})", **found))
    raise UndecodableFileError(
        message,
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
            _("mixed encodings: the file starts as UTF-8 Chinese text, but byte {byte} at "
              "byte offset {offset} is not UTF-8 (rows from a GBK export pasted in?)",
              byte=f"0x{byte:02X}", offset=offset),
            file=str(path), offset=offset)



BIG5_SUSPECT = (3, 0.2)
"""A GB18030 line is taken for Big5 read as GBK when its bytes are valid Big5, it has a
character outside GB2312, and at least 3 such characters or kana, Greek, Cyrillic, making at
least 20 % of its non-ASCII characters. Read as GBK, Big5 text has a third or more of such
characters; a real GBK export has none or one (a rare character in a name)."""

_ODD = re.compile("[\u0370-\u04ff\u3040-\u30ff]")
_PRIVATE = re.compile("[\ue000-\uf8ff]")


def _outside_gb2312(text: str) -> int:
    """Characters of ``text`` GB2312 has not (GBK's extensions, GB18030's four-byte ones)."""
    return text.encode("gb2312", "replace").count(b"?") - text.count("?")


def _big5_lines(block: bytes, first_line: int, offset: int
                ) -> list[tuple[int, int, str, str]]:
    """(line, byte offset, as GBK, as Big5) of the lines of ``block`` (starting at line
    ``first_line``, byte ``offset``) that look like Big5 read as GBK."""
    least, share = BIG5_SUSPECT
    found = []
    for n, raw in enumerate(block.split(b"\n"), start=first_line):
        at, offset = offset, offset + len(raw) + 1
        line = raw.decode("gb18030")
        outside = _outside_gb2312(line)
        if not outside:
            continue
        odd = outside + len(_ODD.findall(line))  # kana, Greek, Cyrillic: GB2312, not Chinese
        wide = sum(1 for ch in line if ord(ch) > 0x7F)
        if odd < least or odd < share * wide:
            continue
        try:
            big5 = raw.decode("big5")
        except UnicodeDecodeError:
            continue
        # GBK's unassigned codes decode to private-use characters, invisible when printed.
        found.append((n, at, _PRIVATE.sub("\ufffd", line.strip()), big5.strip()))
    return found


def _refuse_big5(path: Path, block_size: int) -> None:
    """Refuse a GB18030 file with lines that look like Big5 read as GBK, naming them. Only a
    block with a character outside GB2312 is looked at line by line."""
    found: list[tuple[int, int, str, str]] = []
    line, offset, rest = 1, 0, b""
    with path.open("rb") as f:
        while True:
            more = f.read(block_size)
            block = rest + more
            cut = block.rfind(b"\n") + 1 if more else len(block)
            block, rest = block[:cut], block[cut:]
            if block and _outside_gb2312(block.decode("gb18030")):
                found.extend(_big5_lines(block, line, offset))
            line += block.count(b"\n")
            offset += len(block)
            if not more:
                break
    if found:
        _n, at, gbk, big5 = found[0]
        shown = ", ".join(str(f[0]) for f in found[:10]) + (", …" if len(found) > 10 else "")
        raise UndecodableFileError(
            ngettext("mixed encodings: {count} line looks like Big5 (traditional Chinese) "
                     "pasted into a GBK file (line {lines}); read as GBK it says {gbk!r}, as "
                     "Big5 {big5!r}",
                     "mixed encodings: {count} lines look like Big5 (traditional Chinese) "
                     "pasted into a GBK file (lines {lines}); the first read as GBK says "
                     "{gbk!r}, as Big5 {big5!r}", len(found), count=len(found), lines=shown,
                     gbk=gbk[:30], big5=big5[:30]),
            file=str(path), offset=at)
