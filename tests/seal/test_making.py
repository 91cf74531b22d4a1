"""The seal image: a red round seal with the department's name on the upper arc, a five-pointed
star and the purpose below, compared with a golden PNG within a tolerance.

The golden image ``tests/golden/seal-market.png`` was rendered with WenQuanYi Zen Hei (Debian's
fonts-wqy-zenhei, installed by scripts/system-deps.sh) and looked at. After an intended change to
the drawing, regenerate it with ``LICREG_UPDATE_GOLDEN=1 pytest tests/seal/test_making.py`` and
look at it again before committing.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from registry.city.demo import MARKET
from registry.errors import SealError
from registry.seal.making import SEAL_RED, find_cjk_font, seal_picture_png
from tests.conftest import REPO

GOLDEN = REPO / "tests" / "golden" / "seal-market.png"
SIZE = 240


def alpha(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGBA"))[:, :, 3].astype(np.int16)


@pytest.fixture(scope="module")
def font() -> Path:
    found = find_cjk_font()
    if found is None or not found.name.startswith("wqy-zenhei"):
        pytest.fail(f"the seal needs the CJK font WenQuanYi Zen Hei (found {found}); "
                    f"run: bash scripts/system-deps.sh")
    return found


@pytest.fixture(scope="module")
def market(font: Path) -> bytes:
    return seal_picture_png(MARKET.name, MARKET.seal_purpose, font_path=font)


def close_to_golden(png: bytes) -> tuple[bool, str]:
    """Within the tolerance for another FreeType / Pillow build rasterizing the same glyphs a
    little differently: mean alpha difference ≤ 0.4 (of 255), ≤ 0.1 % of pixels off by > 64.
    One changed character of the name is well outside it (checked below)."""
    got, want = alpha(png), alpha(GOLDEN.read_bytes())
    if got.shape != want.shape:
        return False, f"size {got.shape} != {want.shape}"
    diff = np.abs(got - want)
    mean, off = float(diff.mean()), float((diff > 64).mean())
    return mean <= 0.4 and off <= 0.001, f"mean {mean:.3f}, {off:.2%} of pixels off"


def test_matches_the_golden_image(market: bytes, font: Path) -> None:
    if os.environ.get("LICREG_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_bytes(market)
    ok, why = close_to_golden(market)
    assert ok, why
    assert alpha(market).shape == (SIZE, SIZE)
    # the tolerance is tight enough to see one wrong character or another purpose
    for name, purpose in ((MARKET.name.replace("局", "居"), MARKET.seal_purpose),
                          (MARKET.name, "财务专用章")):
        ok, why = close_to_golden(seal_picture_png(name, purpose, font_path=font))
        assert not ok, why


def test_is_red_on_transparent_and_deterministic(market: bytes) -> None:
    image = Image.open(io.BytesIO(market)).convert("RGBA")
    pixels = np.asarray(image)
    ink = pixels[:, :, 3] > 0
    assert tuple(int(v) for v in pixels[ink][0][:3]) == SEAL_RED
    assert {tuple(int(v) for v in p[:3]) for p in pixels[ink]} == {SEAL_RED}
    for corner in ((0, 0), (0, SIZE - 1), (SIZE - 1, 0), (SIZE - 1, SIZE - 1)):
        assert pixels[corner][3] == 0
    assert seal_picture_png(MARKET.name, MARKET.seal_purpose,
                            font_path=find_cjk_font()) == market
    assert len(market) < 10_000  # embedded in every SES_Signature's seal


def test_ring_star_name_and_purpose_are_where_a_seal_has_them(font: Path, market: bytes) -> None:
    a = alpha(market)
    c = SIZE / 2
    # the ring: opaque on the horizontal and vertical through the centre, near the edge
    assert a[int(c), 4] == 255
    assert a[4, int(c)] == 255
    assert a[SIZE - 5, int(c)] == 255
    # the star: solid at the centre, its top point above it, nothing at the centre's sides
    assert a[int(c), int(c)] == 255
    assert a[int(c - SIZE * 0.13), int(c)] > 128
    assert a[int(c), int(c - SIZE * 0.15)] == 0
    # the name: ink in the annulus inside the ring, upper half; gone when there is no name
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    r = np.hypot(xs - c, ys - c)
    arc = (r > SIZE * 0.30) & (r < SIZE * 0.44) & (ys < c)
    nameless = alpha(seal_picture_png("", MARKET.seal_purpose, font_path=font))
    assert (a[arc] > 128).sum() > 1500
    assert (nameless[arc] > 0).sum() == 0
    assert (a[(r > SIZE * 0.30) & (r < SIZE * 0.44) & (ys > c + SIZE * 0.35)] > 0).sum() == 0
    # the purpose: ink on a chord below the star; gone when there is no purpose
    below = (slice(int(c + SIZE * 0.22), int(c + SIZE * 0.32)), slice(int(SIZE * 0.2),
                                                                        int(SIZE * 0.8)))
    plain = alpha(seal_picture_png(MARKET.name, "", font_path=font))
    assert (a[below] > 128).sum() > 400
    assert (plain[below] > 128).sum() == 0


def test_a_long_name_stays_on_the_upper_arc(font: Path) -> None:
    """A 22-character name is set smaller; no glyph goes below 35° under the horizontal."""
    a = alpha(seal_picture_png("示范市卫生健康委员会中医药管理局直属机关单位", "", font_path=font))
    c = SIZE / 2
    ys, xs = np.nonzero(a > 64)
    r = np.hypot(xs + 0.5 - c, ys + 0.5 - c)
    inside_ring = r < SIZE / 2 - 2 - SIZE * 0.035 - 2
    lowest = (ys[inside_ring] + 0.5 - c) / r[inside_ring]
    star = r[inside_ring] < SIZE * 0.17
    assert lowest[~star].max() < math.sin(math.radians(40))


def test_records_its_printed_size(font: Path) -> None:
    for mm in (40, 42):
        info = Image.open(io.BytesIO(seal_picture_png("某局", "专用章", diameter_mm=mm,
                                                      font_path=font))).info
        assert info["dpi"][0] == pytest.approx(SIZE * 25.4 / mm, abs=0.01)
    with pytest.raises(SealError, match="is not a seal's size"):
        seal_picture_png("某局", "专用章", diameter_mm=5)
