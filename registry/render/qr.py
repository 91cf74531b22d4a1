"""QR codes (ISO/IEC 18004 Model 2) for the identifier on a rendition, at error level M.

A general QR library spends most of its time choosing the best of eight masks; a rendition's
code only has to be valid, so this encoder fixes mask 0 and precomputes, per version, the
function patterns, the order in which data modules are placed and the format and version
information. Per code what is left is the bit stream, the Reed-Solomon codewords and one pass
over the data modules, a few times faster than segno, which the tests use as the oracle
(same matrix for the same version, level and mask) next to zbarimg.

Example::

    rows = qr_matrix("1.2.156.3005.2.11100000MB0143028R001.11330100MB1703218R.BC74…")
    len(rows)      # 33: version 4, 33 × 33 modules; rows[r][c] is 1 for a dark module
"""

from __future__ import annotations

from functools import cache

import numpy as np

from registry.errors import QrError
from registry.i18n import _

__all__ = [
    "qr_image_mask",
    "qr_matrix",
]

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_ALNUM_VALUE = {c: i for i, c in enumerate(_ALNUM)}
# Error level M, versions 1-10 (ISO/IEC 18004:2015 Table 9): EC codewords per block, then
# (blocks, data codewords per block) for each group.
_BLOCKS_M: dict[int, tuple[int, tuple[tuple[int, int], ...]]] = {
    1: (10, ((1, 16),)), 2: (16, ((1, 28),)), 3: (26, ((1, 44),)), 4: (18, ((2, 32),)),
    5: (24, ((2, 43),)), 6: (16, ((4, 27),)), 7: (18, ((4, 31),)),
    8: (22, ((2, 38), (2, 39))), 9: (22, ((3, 36), (2, 37))), 10: (26, ((4, 43), (1, 44))),
}
_ALIGNMENT = {1: (), 2: (6, 18), 3: (6, 22), 4: (6, 26), 5: (6, 30), 6: (6, 34),
              7: (6, 22, 38), 8: (6, 24, 42), 9: (6, 26, 46), 10: (6, 28, 50)}
_LEVEL_M = 0b00
_MASK = 0  # (row + column) mod 2 == 0


# GF(256) with the QR polynomial x^8 + x^4 + x^3 + x^2 + 1.
_EXP = [0] * 512
_LOG = [0] * 256
_x = 1
for _i in range(255):
    _EXP[_i] = _x
    _LOG[_x] = _i
    _x <<= 1
    if _x & 0x100:
        _x ^= 0x11D
for _i in range(255, 512):
    _EXP[_i] = _EXP[_i - 255]


@cache
def _generator(degree: int) -> tuple[int, ...]:
    poly = [1]
    for i in range(degree):
        nxt = [0] * (len(poly) + 1)
        for j, c in enumerate(poly):
            nxt[j] ^= c
            if c:
                nxt[j + 1] ^= _EXP[_LOG[c] + i]
        poly = nxt
    return tuple(poly[1:])


def _ecc(data: list[int], degree: int) -> list[int]:
    gen_logs = [_LOG[g] for g in _generator(degree)]
    rem = [0] * degree
    for d in data:
        factor = d ^ rem[0]
        rem = [*rem[1:], 0]
        if factor:
            lf = _LOG[factor]
            for k, gl in enumerate(gen_logs):
                rem[k] ^= _EXP[lf + gl]
    return rem


def _bch(value: int, poly: int, bits: int) -> int:
    data = value << bits
    top = poly.bit_length() - 1
    while data.bit_length() > top:
        data ^= poly << (data.bit_length() - 1 - top)
    return (value << bits) | data


@cache
def _layout(version: int) -> tuple[list[bytearray], tuple[tuple[int, int], ...]]:
    """The version's function patterns (with format and version information for level M and
    mask 0) and the data module coordinates in placement order."""
    n = 17 + 4 * version
    grid = [bytearray(n) for _ in range(n)]
    used = [bytearray(n) for _ in range(n)]

    def put(r: int, c: int, dark: int) -> None:
        grid[r][c] = dark
        used[r][c] = 1

    for r0, c0 in ((0, 0), (0, n - 7), (n - 7, 0)):  # finder patterns and separators
        for dr in range(-1, 8):
            for dc in range(-1, 8):
                r, c = r0 + dr, c0 + dc
                if 0 <= r < n and 0 <= c < n:
                    ring = max(abs(dr - 3), abs(dc - 3))
                    put(r, c, int(ring != 2 and ring != 4))
    for i in range(8, n - 8):  # timing patterns
        put(6, i, int(i % 2 == 0))
        put(i, 6, int(i % 2 == 0))
    centres = _ALIGNMENT[version]
    corners = {(6, 6), (6, n - 7), (n - 7, 6)} if centres else set()
    for r0 in centres:
        for c0 in centres:
            if (r0, c0) in corners:
                continue  # would overlap a finder pattern (crossing the timing ones is fine)
            for dr in range(-2, 3):
                for dc in range(-2, 3):
                    put(r0 + dr, c0 + dc, int(max(abs(dr), abs(dc)) != 1))
    put(n - 8, 8, 1)  # the dark module
    fmt = _bch((_LEVEL_M << 3) | _MASK, 0x537, 10) ^ 0x5412
    for i, ((r1, c1), (r2, c2)) in enumerate(_format_positions(n)):
        put(r1, c1, (fmt >> i) & 1)
        put(r2, c2, (fmt >> i) & 1)
    if version >= 7:
        info = _bch(version, 0x1F25, 12)
        for i in range(18):
            bit = (info >> i) & 1
            r, c = i // 3, i % 3 + n - 11
            put(r, c, bit)
            put(c, r, bit)
    order = []
    upward = True
    col = n - 1
    while col > 0:
        if col == 6:
            col -= 1  # the vertical timing pattern column is skipped
        rows = range(n - 1, -1, -1) if upward else range(n)
        for r in rows:
            for c in (col, col - 1):
                if not used[r][c]:
                    order.append((r, c))
        upward = not upward
        col -= 2
    return grid, tuple(order)


def _format_positions(n: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(row, column) of format bit i (0 = least significant) in copy 1 (around the top-left
    finder) and copy 2 (below the top-right and beside the bottom-left finder)."""
    first = ([(i, 8) for i in range(6)] + [(7, 8), (8, 8), (8, 7)]
             + [(8, 14 - i) for i in range(9, 15)])
    second = [(8, n - 1 - i) for i in range(8)] + [(n - 15 + i, 8) for i in range(8, 15)]
    return list(zip(first, second, strict=True))


def _capacity(version: int) -> int:
    _, groups = _BLOCKS_M[version]
    return sum(b * d for b, d in groups)


def _codewords(text: str, version: int) -> bytes | None:
    """Data codewords for ``text`` in ``version``, or None when it does not fit."""
    if all(c in _ALNUM_VALUE for c in text):
        parts = ["0010", format(len(text), "09b" if version <= 9 else "011b")]
        parts += [format(_ALNUM_VALUE[text[i]] * 45 + _ALNUM_VALUE[text[i + 1]], "011b")
                  for i in range(0, len(text) - 1, 2)]
        if len(text) % 2:
            parts.append(format(_ALNUM_VALUE[text[-1]], "06b"))
    else:
        data = text.encode("utf-8")
        parts = ["0100", format(len(data), "08b" if version <= 9 else "016b"),
                 data.hex() and format(int.from_bytes(data, "big"), f"0{8 * len(data)}b")]
    bits = "".join(parts)
    capacity = _capacity(version)
    if len(bits) > capacity * 8:
        return None
    bits += "0" * min(4, capacity * 8 - len(bits))  # terminator
    bits += "0" * (-len(bits) % 8)
    words = int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
    pad = b"\xec\x11" * capacity
    return words + pad[: capacity - len(words)]


@cache
def _placement(version: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The version's function patterns as a flat array, the flat index of each data module
    in placement order, and mask 0's bit at each of them."""
    grid, order = _layout(version)
    n = len(grid)
    base = np.frombuffer(b"".join(grid), dtype=np.uint8).copy()
    index = np.array([r * n + c for r, c in order], dtype=np.intp)
    mask = np.array([(r + c) % 2 == 0 for r, c in order], dtype=np.uint8)
    return base, index, mask


def _qr_array(text: str) -> np.ndarray:
    for version in range(1, 11):
        words = _codewords(text, version)
        if words is not None:
            break
    else:
        raise QrError(_("{n} characters do not fit a version 10 QR code at level M",
                        n=len(text)))
    degree, groups = _BLOCKS_M[version]
    blocks: list[bytes] = []
    at = 0
    for count, size in groups:
        for _block in range(count):
            blocks.append(words[at : at + size])
            at += size
    eccs = [_ecc(list(b), degree) for b in blocks]
    final = [b[i] for i in range(max(len(b) for b in blocks)) for b in blocks if i < len(b)]
    final += [e[i] for i in range(degree) for e in eccs]
    base, index, mask = _placement(version)
    bits = np.unpackbits(np.frombuffer(bytes(final), dtype=np.uint8))
    data = np.zeros(len(index), dtype=np.uint8)  # remainder bits (past the codewords) are 0
    data[: len(bits)] = bits[: len(index)]
    flat = base.copy()
    flat[index] = data ^ mask
    n = 17 + 4 * version
    return flat.reshape(n, n)


def qr_matrix(text: str) -> list[bytearray]:
    """The smallest version 1-10 QR code (level M, mask 0) for ``text``: rows of 0/1."""
    return [bytearray(row.tobytes()) for row in _qr_array(text)]


def qr_image_mask(text: str) -> tuple[int, bytes]:
    """The code as a PDF image mask: (modules per side, rows packed 1 bit per module, 0 =
    dark, as ``/ImageMask true`` paints the 0 samples)."""
    array = _qr_array(text)
    return len(array), np.packbits(1 - array, axis=1).tobytes()
