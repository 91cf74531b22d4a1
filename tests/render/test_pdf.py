"""PDF renditions: what a person sees (golden PNG, rare characters, QR code) and what tools
read back (pyHanko, pdfsig, metadata, the round trip).

The kit (tests/support/pdf.py) is a TEST ONLY PKI and one seal made without a database; the
registry-backed path (render_pending, export) is in tests/render/test_renditions.py.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from PIL import Image, ImageChops, ImageStat

from registry.errors import LayoutError
from registry.license.canonical import canonical_bytes
from registry.license.types import catalogue
from registry.render.pdf.read import find_signature, read_license_pdf, read_pdf
from registry.render.pdf.write import format_value
from registry.render.qr import qr_matrix
from registry.template.layout import Layout, generated_layout, layout_for
from tests.conftest import NOW, REPO
from tests.support.pdf import (
    BIZ,
    DOCTOR,
    FOOD,
    RARE_NAME,
    Kit,
    biz_elements,
    doctor_elements,
    make_kit,
)

GOLDEN = REPO / "tests" / "golden" / "pdf_license_r60.png"


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("pdfkit"))


@pytest.fixture(scope="module")
def biz_pdf(kit: Kit) -> bytes:
    return kit.pdf(biz_elements())


def _needs(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (poppler-utils / zbar-tools / libnss3-tools: "
                    f"bash scripts/system-deps.sh)")
    return path


def _png(pdf: bytes, tmp_path: Path, dpi: int = 60) -> Image.Image:
    pdftoppm = _needs("pdftoppm")
    (tmp_path / "in.pdf").write_bytes(pdf)
    subprocess.run([pdftoppm, "-png", "-r", str(dpi), "-singlefile", str(tmp_path / "in.pdf"),
                    str(tmp_path / "page")], check=True)
    return Image.open(tmp_path / "page.png").convert("RGB")


# -- independent validators ---------------------------------------------------------------

def _pyhanko_status(pdf: bytes, root: x509.Certificate) -> Any:
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(root.public_bytes(Encoding.DER))],
        moment=NOW + dt.timedelta(hours=1))
    reader = PdfFileReader(io.BytesIO(pdf))
    assert len(reader.embedded_signatures) == 1
    return validate_pdf_signature(reader.embedded_signatures[0], context)


@pytest.mark.parametrize("which", ["biz", "biz-plain", "doctor"])
def test_fresh_renditions_are_intact_valid_and_trusted_in_pyhanko(kit: Kit, which: str) -> None:
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    elements = {"biz": biz_elements(), "biz-plain": biz_elements(2, holder="示范市商贸有限公司",
                                                                  fddbr="张伟"),
                "doctor": doctor_elements()}[which]
    status = _pyhanko_status(kit.pdf(elements), kit.root)
    assert (status.intact, status.valid, status.trusted) == (True, True, True)
    assert status.coverage is SignatureCoverageLevel.ENTIRE_FILE
    assert status.signer_reported_dt == NOW


def test_pyhanko_sees_a_changed_byte(kit: Kit, biz_pdf: bytes) -> None:
    data = bytearray(biz_pdf)
    at = data.index(b"/Author")
    data[at + 1] = ord("a")  # /author: still a valid PDF, but not the signed bytes
    status = _pyhanko_status(bytes(data), kit.root)
    assert status.intact is False


def test_pdfsig_says_valid_and_trusted(kit: Kit, biz_pdf: bytes, tmp_path: Path) -> None:
    pdfsig, certutil = _needs("pdfsig"), _needs("certutil")
    nss = tmp_path / "nss"
    nss.mkdir()
    subprocess.run([certutil, "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    (tmp_path / "root.pem").write_bytes(kit.root.public_bytes(Encoding.PEM))
    subprocess.run([certutil, "-A", "-d", f"sql:{nss}", "-n", "licreg-test-root", "-t", "C,C,C",
                    "-i", str(tmp_path / "root.pem")], check=True)
    (tmp_path / "license.pdf").write_bytes(biz_pdf)
    out = subprocess.run([pdfsig, "-nssdir", f"sql:{nss}", str(tmp_path / "license.pdf")],
                         capture_output=True, text=True, check=True).stdout
    assert "Signature Validation: Signature is Valid." in out
    assert "Certificate Validation: Certificate is Trusted." in out
    assert "Total document signed" in out
    assert "ETSI.CAdES.detached" in out
    # Without the anchor the signature is still valid, the certificate just unknown.
    plain = subprocess.run([pdfsig, str(tmp_path / "license.pdf")], capture_output=True,
                           text=True, check=True).stdout
    assert "Signature is Valid." in plain


def test_pdfsig_rejects_a_changed_byte(kit: Kit, biz_pdf: bytes, tmp_path: Path) -> None:
    pdfsig = _needs("pdfsig")
    data = bytearray(biz_pdf)
    data[data.index(b"/Title") + 1] = ord("t")
    (tmp_path / "bad.pdf").write_bytes(bytes(data))
    out = subprocess.run([pdfsig, str(tmp_path / "bad.pdf")], capture_output=True, text=True,
                         check=False).stdout
    assert "Signature is Valid." not in out
    assert "Digest Mismatch" in out


# -- what a person sees -------------------------------------------------------------------

def test_rendition_matches_the_golden_png(kit: Kit, biz_pdf: bytes, tmp_path: Path) -> None:
    page = _png(biz_pdf, tmp_path)
    if os.environ.get("LICREG_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        page.save(GOLDEN, optimize=True)
    golden = Image.open(GOLDEN).convert("RGB")
    assert page.size == golden.size  # A4 landscape at 60 dpi: 702 × 496
    diff = ImageChops.difference(page, golden).convert("L")
    # Tolerance: anti-aliasing may differ between poppler builds, the layout may not.
    assert ImageStat.Stat(diff).mean[0] < 2.0
    assert sum(diff.point(lambda v: 255 if v > 96 else 0).histogram()[255:]) < 0.01 * (
        page.size[0] * page.size[1])


def test_the_page_shows_the_seal_in_red_at_the_seal_box(kit: Kit, biz_pdf: bytes,
                                                        tmp_path: Path) -> None:
    page = _png(biz_pdf, tmp_path)
    seal = kit.prepared().layout.seal
    px = 60 / 25.4
    box = tuple(round(v * px) for v in (seal.x_mm, seal.y_mm, seal.x_mm + seal.size_mm,
                                        seal.y_mm + seal.size_mm))
    def seal_red(image: Image.Image) -> int:
        r, g, b = (image.getchannel(c) for c in "RGB")
        mask = ImageChops.multiply(ImageChops.multiply(
            r.point(lambda v: 255 if v > 190 else 0), g.point(lambda v: 255 if v < 90 else 0)),
            b.point(lambda v: 255 if v < 90 else 0))
        return mask.histogram()[255]

    red = seal_red(page.crop(box))
    outside = seal_red(page.crop((0, 0, box[0] - 40, box[1])))
    assert red > 300  # the seal's ring and dot
    assert outside < red / 10  # the frame is dark red-brown, not seal red


def test_rare_characters_fall_back_to_a_font_that_has_them(kit: Kit, biz_pdf: bytes,
                                                           tmp_path: Path) -> None:
    primary = kit.fonts.sources[0]
    assert 0x20BB7 not in primary.cmap  # 𠮷 is not in WenQuanYi Zen Hei …
    index, gid, _ = kit.fonts.glyph("𠮷")
    assert index > 0
    assert gid > 0
    subset = kit.fonts.subset()
    runs = subset.encode("吉𠮷堃")
    assert [i for i, _ in runs] == [0, index, 0]  # 吉 and 堃 from the body font
    assert not subset.missing
    (tmp_path / "f.pdf").write_bytes(biz_pdf)
    fonts = subprocess.run([_needs("pdffonts"), str(tmp_path / "f.pdf")], capture_output=True,
                           text=True, check=True).stdout
    assert "CID TrueType" in fonts
    assert len([ln for ln in fonts.splitlines()[2:] if ln]) >= 2
    assert all(" yes yes yes " in ln for ln in fonts.splitlines()[2:] if ln)  # emb sub uni
    text = subprocess.run([_needs("pdftotext"), "-layout", str(tmp_path / "f.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert RARE_NAME in text
    assert "张𠮷堃" in text


def test_a_character_no_font_has_is_reported(kit: Kit) -> None:
    record, ses = kit.seal_record(biz_elements())
    shown = {**json.loads(record), "CZZT": "无字\U0010fffd"}  # a private-use code point
    unsigned = kit.prepared().render(record, ses, at=NOW, contents_size=kit.pades.reserve,
                                     elements=shown)
    assert unsigned.missing_glyphs == frozenset({"\U0010fffd"})


def test_qr_code_decodes_to_the_identifier(kit: Kit, biz_pdf: bytes, tmp_path: Path) -> None:
    zbarimg = _needs("zbarimg")
    _png(biz_pdf, tmp_path).save(tmp_path / "page60.png")
    out = subprocess.run([zbarimg, "-q", "--raw", str(tmp_path / "page60.png")],
                         capture_output=True, text=True, check=False).stdout.strip()
    assert out == biz_elements()["ZZBS"]


@pytest.mark.parametrize("text", [
    biz_elements()["ZZBS"], doctor_elements()["ZZBS"], "HELLO WORLD", "A" * 150,
])
def test_qr_matrix_equals_segno_for_the_same_version_level_and_mask(text: str) -> None:
    segno = pytest.importorskip("segno")
    mine = qr_matrix(text)
    version = (len(mine) - 17) // 4
    ref = segno.make_qr(text, error="m", mask=0, version=version, boost_error=False,
                        mode="alphanumeric")
    assert mine == [bytearray(1 if m else 0 for m in row) for row in ref.matrix]


def test_values_are_printed_as_on_paper() -> None:
    assert format_value("20240105", date_zh=True) == "2024年1月5日"
    assert format_value("长期", date_zh=True) == "长期"
    assert format_value("20240105", date_zh=False) == "20240105"


# -- reading back -------------------------------------------------------------------------

def test_round_trip_gives_back_the_exact_record(kit: Kit, biz_pdf: bytes) -> None:
    elements = biz_elements()
    found = read_pdf(biz_pdf)
    assert found.record == canonical_bytes(elements)
    assert read_license_pdf(biz_pdf) == elements
    assert found.info_elements == elements
    assert found.xmp_elements == elements
    assert found.attachments["license.json"] == found.record
    assert found.signed_time == "D:20261127080000Z"


def test_the_embedded_ses_signature_is_the_one_over_the_record(kit: Kit) -> None:
    elements = biz_elements(3)
    record, ses = kit.seal_record(elements)
    unsigned = kit.prepared().render(record, ses, at=NOW, contents_size=kit.pades.reserve)
    found = read_pdf(kit.pades.sign(unsigned))
    assert found.signature_der == ses


def test_metadata_is_readable_by_pypdf_and_pdfinfo(kit: Kit, biz_pdf: bytes,
                                                   tmp_path: Path) -> None:
    from pypdf import PdfReader

    meta = PdfReader(io.BytesIO(biz_pdf)).metadata
    assert meta is not None
    assert (meta.title, meta.author) == ("营业执照", "示范市市场监督管理局")
    assert meta["/CZZT"] == RARE_NAME
    (tmp_path / "m.pdf").write_bytes(biz_pdf)
    info = subprocess.run([_needs("pdfinfo"), str(tmp_path / "m.pdf")], capture_output=True,
                          text=True, check=True).stdout
    assert "Title:           营业执照" in info
    assert "841.89 x 595.276 pts (A4)" in info


def test_the_signature_covers_everything_but_contents(biz_pdf: bytes) -> None:
    found = find_signature(biz_pdf)
    assert found.byte_range == found.expected_range(len(biz_pdf))
    assert biz_pdf[found.contents_start : found.contents_start + 1] == b"<"
    assert biz_pdf[found.contents_end - 1 : found.contents_end] == b">"


def test_font_subsets_are_well_formed_truetype(kit: Kit) -> None:
    from fontTools.ttLib import TTFont

    subset = kit.fonts.subset()
    subset.encode("营业执照吉𠮷堃123ABC")
    _, objects = subset.pdf_objects(17)
    programs = [o for o in objects if b"/Length1" in o]
    assert len(programs) == 2  # WenQuanYi and the fallback
    import zlib

    for obj in programs:
        body = obj[obj.index(b"stream\n") + 7 : obj.rindex(b"\nendstream")]
        font_bytes = zlib.decompress(body)
        words = [int.from_bytes(font_bytes[i : i + 4], "big")
                 for i in range(0, len(font_bytes) + (-len(font_bytes) % 4), 4)]
        assert sum(words) & 0xFFFFFFFF == 0xB1B0AFBA  # checkSumAdjustment is right
        font = TTFont(io.BytesIO(font_bytes))
        assert font["maxp"].numGlyphs == len(font["hmtx"].metrics) > 1
        font["glyf"].ensureDecompiled()  # every glyph (composites included) parses


# -- layouts ------------------------------------------------------------------------------

def test_every_layout_file_reads_and_renders(kit: Kit) -> None:
    for code in (BIZ, FOOD, DOCTOR):
        layout = layout_for(kit.types[code])
        assert layout.page.width_mm > 0
        assert layout.fields
    assert kit.prepared(DOCTOR).page_w == pytest.approx(210 * 72 / 25.4)  # A5 landscape


def test_generated_layout_covers_every_face_field(kit: Kit) -> None:
    layout = generated_layout(kit.types[FOOD])
    shown = {f.element for f in layout.fields}
    assert {f.code for f in kit.types[FOOD].face_fields} <= shown
    assert (layout.page.width_mm, layout.page.height_mm) == (210, 297)


def test_a_box_outside_the_page_is_refused() -> None:
    doc = json.loads((REPO / "schemas" / "layouts" / f"{BIZ}.json")
                     .read_text("utf-8"))
    doc["seal"]["x_mm"] = 290
    with pytest.raises(LayoutError, match="seal lies outside the page"):
        Layout.from_dict(doc)


def test_ingesting_a_rendition_gives_back_the_sealed_elements(biz_pdf: bytes) -> None:
    ingest_pdf = pytest.importorskip("registry.ingest.pdf")
    from registry.ingest.frames import ReadOptions

    fields = ingest_pdf.read_pdf(biz_pdf, file="license.pdf",
                                 options=ReadOptions(license_type=catalogue()[BIZ]))
    assert fields == biz_elements()
