"""CJK fonts for renditions: a fallback stack of TrueType fonts and a fast per-document subset.

A 4 MB CJK font takes fontTools about 200 ms to subset from scratch, which alone would cap a
core at five PDFs a second. Here each font is opened once per process (:class:`TrueTypeSource`:
cmap, advance widths and the raw ``glyf`` bytes), and each document gets its own small font
(:class:`FontSubset`): the glyphs it uses, renumbered 1..n, copied byte for byte (hinting
instructions dropped, composite glyph references rewritten), plus the few tables PDF requires
of an embedded CIDFontType2 program (ISO 32000-1 §9.9: head, hhea, hmtx, loca, maxp, glyf). A
license's subset holds a hundred-odd glyphs and costs well under a millisecond.

Fallback: :class:`FontStack` draws each character with the first font that has it, so a name
with a rare character (𠮷, U+20BB7, is not in WenQuanYi Zen Hei) takes that glyph from
HanaMin. A character no font has is drawn as .notdef and reported, never silently dropped.

Example::

    stack = FontStack.discover()
    subset = stack.subset()
    runs = subset.encode("持证主体：吉𠮷堃")          # [(font index, b"<CID bytes>"), ...]
    width = subset.width("持证主体", 12.0)            # points
    objects = subset.pdf_objects(first_number=20)   # the Type0 font dictionaries and programs

Fonts must be TrueType-flavoured (``glyf``); CFF fonts (Noto CJK OTF) are skipped by
:meth:`FontStack.discover`. Licences: WenQuanYi Zen Hei is GPLv2 with a font embedding
exception, HanaMin is under the SIL Open Font License; both allow embedding.
"""

from __future__ import annotations

import array
import hashlib
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from fontTools.ttLib import TTFont, TTLibError

from registry.errors import FontError
from registry.i18n import _

__all__ = [
    "DEFAULT_FONT_FILES",
    "FontStack",
    "FontSubset",
    "TrueTypeSource",
]

DEFAULT_FONT_FILES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/hanazono/HanaMinA.ttf", 0),
    ("/usr/share/fonts/truetype/hanazono/HanaMinB.ttf", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 0),
)
"""Where :meth:`FontStack.discover` looks, in fallback order (path, index in a collection).
``scripts/system-deps.sh`` installs fonts-wqy-zenhei and fonts-hanazono."""

# Composite glyph flags (OpenType 'glyf' spec).
_ARG_1_AND_2_ARE_WORDS = 0x0001
_WE_HAVE_A_SCALE = 0x0008
_MORE_COMPONENTS = 0x0020
_WE_HAVE_AN_X_AND_Y_SCALE = 0x0040
_WE_HAVE_A_TWO_BY_TWO = 0x0080
_WE_HAVE_INSTRUCTIONS = 0x0100


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _checksum(data: bytes) -> int:
    words = array.array("I")
    words.frombytes(_pad4(data))
    if array.array("I", [1]).tobytes()[0] == 1:  # little-endian host: OpenType is big-endian
        words.byteswap()
    return sum(words) & 0xFFFFFFFF


class TrueTypeSource:
    """One TrueType font, opened once per process: what a subset needs, nothing more."""

    def __init__(self, path: Path, index: int = 0) -> None:
        try:
            font = TTFont(str(path), fontNumber=index, lazy=True)
            reader = font.reader
            if "glyf" not in reader or "loca" not in reader:
                raise FontError(_("{file} has no TrueType outlines (glyf); CFF fonts are not used",
                                  file=path))
            self.cmap: dict[int, int] = {
                cp: font.getGlyphID(name) for cp, name in font.getBestCmap().items()
            }
            head, hhea = bytes(reader["head"]), bytes(reader["hhea"])
            self._head, self._hhea = head, hhea
            self._maxp = bytes(reader["maxp"])
            self._os2 = bytes(reader["OS/2"]) if "OS/2" in reader else None
            self._glyf = bytes(reader["glyf"])
            long_loca = struct.unpack(">h", head[50:52])[0] == 1
            loca = array.array("I" if long_loca else "H")
            loca.frombytes(bytes(reader["loca"]))
            if array.array("I", [1]).tobytes()[0] == 1:
                loca.byteswap()
            self._loca = loca if long_loca else array.array("I", (2 * x for x in loca))
            self.num_glyphs = struct.unpack(">H", self._maxp[4:6])[0]
            n_metrics = struct.unpack(">H", hhea[34:36])[0]
            raw = array.array("h")
            raw.frombytes(bytes(reader["hmtx"])[: 4 * n_metrics])
            if array.array("I", [1]).tobytes()[0] == 1:
                raw.byteswap()
            advances = [raw[2 * i] & 0xFFFF for i in range(n_metrics)]
            advances += [advances[-1]] * (self.num_glyphs - n_metrics)
            self.advances = advances
            """Advance width of each glyph, in font units."""
            self._lsb = [raw[2 * i + 1] for i in range(n_metrics)]
            self.units_per_em = struct.unpack(">H", head[18:20])[0]
            self.bbox = struct.unpack(">4h", head[36:44])
            self.ascent, self.descent = struct.unpack(">hh", hhea[4:8])
            name = font["name"].getDebugName(6) or path.stem
            self.postscript_name = "".join(c for c in name if c.isascii() and c.isalnum())
            """The PostScript name, ASCII letters and digits only (it becomes a PDF name)."""
            font.close()
        except (OSError, TTLibError, KeyError, struct.error) as exc:
            raise FontError(_("cannot read the font {file} (index {index}): {detail}", file=path,
                              index=index, detail=exc)) from exc
        self.path = path
        self._simple: dict[int, tuple[bytes, int]] = {}

    def glyph(self, gid: int) -> bytes:
        """The raw 'glyf' record of ``gid`` (empty for a blank glyph such as the space)."""
        return self._glyf[self._loca[gid] : self._loca[gid + 1]]

    def stripped(self, gid: int) -> tuple[bytes, int]:
        """A simple glyph without its hinting instructions, padded to 4 bytes, and its
        checksum (cached: glyphs repeat a lot, and a table's checksum is the sum of theirs).

        Instructions call functions in fpgm/prep, which a subset does not carry; renderers
        hint unhinted glyphs themselves.
        """
        found = self._simple.get(gid)
        if found is None:
            data = self.glyph(gid)
            if len(data) >= 12:
                contours = struct.unpack(">h", data[:2])[0]
                at = 10 + 2 * contours
                length = struct.unpack(">H", data[at : at + 2])[0]
                if length:
                    data = data[: at] + b"\0\0" + data[at + 2 + length :]
            data = _pad4(data)
            found = self._simple[gid] = (data, _checksum(data))
        return found

    def advance_1000(self, gid: int) -> int:
        """Advance width in PDF glyph space (1000 units per em)."""
        return round(int(self.advances[gid]) * 1000 / int(self.units_per_em))

    def table(self, tag: str) -> bytes | None:
        """A copy of the few tables a subset reuses verbatim or edits."""
        return {"head": self._head, "hhea": self._hhea, "maxp": self._maxp,
                "OS/2": self._os2}.get(tag)

    def lsb(self, gid: int) -> int:
        return self._lsb[gid] if gid < len(self._lsb) else 0


@cache
def _source(path: str, index: int) -> TrueTypeSource:
    # One parse per font per process: a renderer process reuses it for every license.
    return TrueTypeSource(Path(path), index)


@dataclass(frozen=True)
class FontStack:
    """Fonts in fallback order; the first one is the body font."""

    sources: tuple[TrueTypeSource, ...]
    """Fonts in fallback order."""
    _glyphs: dict[str, tuple[int, int, int]] = field(default_factory=dict, compare=False,
                                                      repr=False)
    """Per process: character → (font index or -1, glyph id, advance in 1/1000 em)."""

    def glyph(self, ch: str) -> tuple[int, int, int]:
        """(font index, glyph id, advance) of ``ch``; font index -1: no font has it (the
        primary font's .notdef is drawn)."""
        found = self._glyphs.get(ch)
        if found is None:
            index = self.font_for(ord(ch))
            source = self.sources[max(index, 0)]
            gid = source.cmap.get(ord(ch), 0)
            found = self._glyphs[ch] = (index, gid, source.advance_1000(gid))
        return found

    def advances(self, text: str) -> list[int]:
        """The advance of each character of ``text``, in 1/1000 em."""
        glyphs = self._glyphs
        return [(glyphs.get(ch) or self.glyph(ch))[2] for ch in text]

    @classmethod
    def discover(cls, candidates: Iterable[tuple[str, int]] = DEFAULT_FONT_FILES) -> FontStack:
        """The usable fonts among ``candidates`` (missing files and CFF fonts are skipped)."""
        found = []
        for path, index in candidates:
            if Path(path).is_file():
                try:
                    found.append(_source(path, index))
                except FontError:
                    continue
        if not any(0x4E2D in s.cmap for s in found):  # 中: no CJK font at all
            raise FontError(_("no TrueType CJK font found (looked for {files}); install "
                              "fonts-wqy-zenhei and fonts-hanazono (scripts/system-deps.sh)",
                              files=", ".join(p for p, _index in candidates)))
        return cls(tuple(found))

    @classmethod
    def from_files(cls, files: Sequence[tuple[str, int]]) -> FontStack:
        """Exactly these fonts, in this order; raise if one cannot be read."""
        if not files:
            raise FontError(_("a font stack needs at least one font"))
        return cls(tuple(_source(str(p), i) for p, i in files))

    def font_for(self, codepoint: int) -> int:
        """Index of the first font that has ``codepoint``, or -1 when none has it."""
        for i, source in enumerate(self.sources):
            if codepoint in source.cmap:
                return i
        return -1

    def subset(self) -> FontSubset:
        """A fresh subset for one document."""
        return FontSubset(self)


@dataclass
class _Used:
    """One font's part of a document subset: old glyph id → new glyph id (CID)."""

    source: TrueTypeSource
    new_of: dict[int, int] = field(default_factory=lambda: {0: 0})
    order: list[int] = field(default_factory=lambda: [0])
    unicode_of: dict[int, int] = field(default_factory=dict)
    """New glyph id → the code point it was first used for (for the ToUnicode CMap)."""


class FontSubset:
    """The glyphs one document uses, per font; builds the PDF font objects at the end."""

    def __init__(self, stack: FontStack) -> None:
        self.stack = stack
        self._used: dict[int, _Used] = {}
        self._cid: dict[str, tuple[int, bytes]] = {}
        self.missing: set[str] = set()
        """Characters no font in the stack has (drawn as .notdef)."""

    def _new_gid(self, used: _Used, gid: int) -> int:
        new = used.new_of.get(gid)
        if new is None:
            new = used.new_of[gid] = len(used.order)
            used.order.append(gid)
            data = used.source.glyph(gid)
            if len(data) >= 2 and data[0] & 0x80:  # a composite glyph
                # Register the components now so the composite can be rewritten later.
                for component in _components(data):
                    self._new_gid(used, component)
        return new

    def _add(self, ch: str) -> tuple[int, bytes]:
        index, gid, _advance = self.stack.glyph(ch)
        if index < 0:
            self.missing.add(ch)
            index = 0
        used = self._used.get(index)
        if used is None:
            used = self._used[index] = _Used(self.stack.sources[index])
        new = self._new_gid(used, gid)
        if gid:
            used.unicode_of.setdefault(new, ord(ch))
        found = self._cid[ch] = (index, new.to_bytes(2, "big"))
        return found

    def encode(self, text: str) -> list[tuple[int, bytes]]:
        """``text`` as runs of (font index, 2-byte CIDs) for Identity-H ``Tj`` operators."""
        cids = self._cid
        runs: list[tuple[int, list[bytes]]] = []
        current = -1
        for ch in text:
            index, cid = cids.get(ch) or self._add(ch)
            if index != current:
                runs.append((index, []))
                current = index
            runs[-1][1].append(cid)
        return [(i, b"".join(parts)) for i, parts in runs]

    def width(self, text: str, size: float) -> float:
        """Width of ``text`` set in ``size`` points (each character in the font it falls to)."""
        return sum(self.stack.advances(text)) * size / 1000

    @property
    def fonts_used(self) -> tuple[int, ...]:
        """Indices (in the stack) of the fonts this document uses, in first-use order."""
        return tuple(self._used)

    def pdf_objects(self, first_number: int) -> tuple[dict[int, int], list[bytes]]:
        """The PDF objects of every used font, numbered from ``first_number``.

        Returns (font index → object number of its Type0 font, serialized objects in number
        order). Five objects per font: Type0, CIDFontType2, FontDescriptor, FontFile2,
        ToUnicode.
        """
        refs: dict[int, int] = {}
        objects: list[bytes] = []
        n = first_number
        for index, used in self._used.items():
            refs[index] = n
            objects.extend(_font_objects(used, n))
            n += 5
        return refs, objects


def _components(data: bytes) -> list[int]:
    out = []
    pos = 10
    while True:
        flags, gid = struct.unpack(">HH", data[pos : pos + 4])
        out.append(gid)
        pos += 4 + _component_tail(flags)
        if not flags & _MORE_COMPONENTS:
            return out


def _component_tail(flags: int) -> int:
    size = 4 if flags & _ARG_1_AND_2_ARE_WORDS else 2
    if flags & _WE_HAVE_A_SCALE:
        size += 2
    elif flags & _WE_HAVE_AN_X_AND_Y_SCALE:
        size += 4
    elif flags & _WE_HAVE_A_TWO_BY_TWO:
        size += 8
    return size


def _rewrite_composite(data: bytes, new_of: dict[int, int]) -> bytes:
    """A composite glyph with its component ids renumbered and its instructions dropped."""
    out = bytearray(data[:10])
    pos = 10
    while True:
        flags, gid = struct.unpack(">HH", data[pos : pos + 4])
        tail = _component_tail(flags)
        more = flags & _MORE_COMPONENTS
        if not more:
            flags &= ~_WE_HAVE_INSTRUCTIONS
        out += struct.pack(">HH", flags, new_of[gid]) + data[pos + 4 : pos + 4 + tail]
        pos += 4 + tail
        if not more:
            return bytes(out)


def _font_program(used: _Used) -> bytes:
    source = used.source
    glyphs, offsets, glyf_sum = bytearray(), [0], 0
    for gid in used.order:
        data = source.glyph(gid)
        if len(data) >= 2 and data[0] & 0x80:  # numberOfContours < 0: a composite glyph
            data = _pad4(_rewrite_composite(data, used.new_of))
            glyf_sum += _checksum(data)
        else:
            data, checksum = source.stripped(gid)
            glyf_sum += checksum
        glyphs += data
        offsets.append(len(glyphs))
    count = len(used.order)
    head = bytearray(source.table("head") or b"")
    head[8:12] = b"\0\0\0\0"  # checkSumAdjustment, set below
    head[50:52] = struct.pack(">h", 1)  # long loca offsets
    hhea = bytearray(source.table("hhea") or b"")
    hhea[34:36] = struct.pack(">H", count)
    maxp = bytearray(source.table("maxp") or b"")
    maxp[4:6] = struct.pack(">H", count)
    if len(maxp) >= 32:
        maxp[26:28] = b"\0\0"  # maxSizeOfInstructions: every instruction is dropped
    hmtx = b"".join(
        struct.pack(">Hh", source.advances[gid], source.lsb(gid)) for gid in used.order
    )
    loca = struct.pack(f">{count + 1}I", *offsets)
    # post version 3: no glyph names (a CID font is addressed by glyph id).
    post = struct.pack(">IiHhIIIII", 0x00030000, 0, 0, 0, 1, 0, 0, 0, 0)
    tables = {"glyf": bytes(glyphs), "head": bytes(head), "hhea": bytes(hhea),
              "hmtx": hmtx, "loca": loca, "maxp": bytes(maxp), "post": post}
    os2 = source.table("OS/2")
    if os2 is not None:
        tables["OS/2"] = os2
    tags = sorted(tables)
    num = len(tags)
    entry_selector = num.bit_length() - 1
    search_range = 16 * (1 << entry_selector)
    header = struct.pack(">IHHHH", 0x00010000, num, search_range, entry_selector,
                         num * 16 - search_range)
    directory, body = bytearray(), bytearray()
    offset = 12 + 16 * num
    total = 0
    head_at = 0
    for tag in tags:
        data = tables[tag]
        checksum = glyf_sum & 0xFFFFFFFF if tag == "glyf" else _checksum(data)
        total += checksum
        if tag == "head":
            head_at = offset + len(body)
        directory += struct.pack(">4sIII", tag.encode("ascii"), checksum,
                                 offset + len(body), len(data))
        body += _pad4(data)
    # Tables are 4-byte aligned, so the whole font's checksum is the sum of the parts'.
    total += _checksum(header + bytes(directory))
    font = bytearray(header + directory + body)
    font[head_at + 8 : head_at + 12] = struct.pack(">I", (0xB1B0AFBA - total) & 0xFFFFFFFF)
    return bytes(font)


def _to_unicode(used: _Used) -> bytes:
    lines = []
    items = sorted(used.unicode_of.items())
    for start in range(0, len(items), 100):  # at most 100 entries per bfchar block
        block = items[start : start + 100]
        lines.append(f"{len(block)} beginbfchar")
        for cid, cp in block:
            lines.append(f"<{cid:04X}> <{chr(cp).encode('utf-16-be').hex().upper()}>")
        lines.append("endbfchar")
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "\n".join(lines)
        + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    ).encode("ascii")


def _stream(number: int, extra: str, data: bytes, *, level: int = 6) -> bytes:
    if level:
        data = zlib.compress(data, level)
        extra += " /Filter /FlateDecode"
    return (
        f"{number} 0 obj\n<< /Length {len(data)}{extra} >>\nstream\n".encode("ascii")
        + data
        + b"\nendstream\nendobj\n"
    )


def _subset_tag(used: _Used) -> str:
    digest = hashlib.sha256(struct.pack(f">{len(used.order)}I", *used.order)).digest()
    return "".join(chr(65 + b % 26) for b in digest[:6])


def _font_objects(used: _Used, n: int) -> list[bytes]:
    source = used.source
    name = f"{_subset_tag(used)}+{source.postscript_name}"
    scale = 1000 / source.units_per_em
    widths = " ".join(str(source.advance_1000(gid)) for gid in used.order)
    bbox = " ".join(str(round(v * scale)) for v in source.bbox)
    program = _font_program(used)
    type0 = (
        f"{n} 0 obj\n<< /Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H "
        f"/DescendantFonts [{n + 1} 0 R] /ToUnicode {n + 4} 0 R >>\nendobj\n"
    )
    cid = (
        f"{n + 1} 0 obj\n<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{name} "
        f"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
        f"/FontDescriptor {n + 2} 0 R /DW 1000 /W [0 [{widths}]] /CIDToGIDMap /Identity >>\n"
        f"endobj\n"
    )
    descriptor = (
        f"{n + 2} 0 obj\n<< /Type /FontDescriptor /FontName /{name} /Flags 4 "
        f"/FontBBox [{bbox}] /ItalicAngle 0 /Ascent {round(source.ascent * scale)} "
        f"/Descent {round(source.descent * scale)} /CapHeight {round(source.ascent * scale)} "
        f"/StemV 80 /FontFile2 {n + 3} 0 R >>\nendobj\n"
    )
    return [
        type0.encode("ascii"),
        cid.encode("ascii"),
        descriptor.encode("ascii"),
        # Level 1: glyph outlines barely compress (34 KB → 24 KB at level 1, 23 KB at 6) and
        # level 6 takes twice as long; the font is the biggest part of a rendition.
        _stream(n + 3, f" /Length1 {len(program)}", program, level=1),
        _stream(n + 4, "", _to_unicode(used)),
    ]
