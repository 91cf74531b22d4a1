"""Making and reading a GB/T 38540 v4 electronic seal (SESeal).

The seal-maker CA signs DER(SES_SealInfo); the seal binds the signer certificates allowed to use
it (``certList``, type 1 = the certificates themselves) and, in an extension, the license types
it is authorized for (:data:`registry.seal.asn1.AUTHORIZED_TYPES_OID`), so an offline auditor can
check authorization from the seal alone.

Example (``maker`` from :func:`registry.seal.pki.load_maker`, ``signer`` from ``issue_signer``)::

    png = seal_picture_png("某市市场监督管理局", "电子证照专用章")
    der = make_seal(maker=maker, es_id="3301000000001", kind=2, name="电子证照专用章",
                    signer_cert_der=signer.cert_der, authorized_types=["11100000MB0143028R001"],
                    created=now, valid_start=now, valid_end=later, picture_png=png)
    assert parse_seal(der).authorized_types == ("11100000MB0143028R001",)
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from PIL import Image, ImageDraw, ImageFont

from registry.clock import china_text
from registry.errors import SealError, VerificationError
from registry.i18n import _
from registry.seal.asn1 import (
    AUTHORIZED_TYPES_OID,
    CERT_LIST_CERTS,
    CERT_LIST_DIGESTS,
    ECDSA_WITH_SHA256,
    SEAL_VERSION,
    ExtensionDatas,
    SESeal,
    SESSealInfo,
    authorized_types_ext,
    cert_list_certs,
    cert_list_digests,
    make_cert_list,
    read_authorized_types,
)
from registry.seal.pki import CertifiedKey

__all__ = ["SEAL_RED", "SealInfo", "find_cjk_font", "make_seal", "parse_seal", "seal_picture_png"]

SEAL_RED = (214, 24, 31)
"""The seal ink colour (RGB)."""

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_TYPE_CODE_RE = re.compile(r"^[0-9A-Z]{21}$")
_FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
_FONT_PATTERNS = (
    # WenQuanYi Zen Hei first: scripts/system-deps.sh installs it (fonts-wqy-zenhei), so every
    # machine draws the same seal whatever other CJK fonts it happens to have.
    "wqy-zenhei*.tt[cf]",
    "NotoSansCJK*.tt[cf]",
    "NotoSerifCJK*.tt[cf]",
    "NotoSansSC*.[ot]tf",
    "wqy-microhei*.tt[cf]",
    "DroidSansFallback*.ttf",
)
_ALPHA_LEVELS = 16  # 4-bit palette: the antialiased edge needs no more, and the PNG stays small


@functools.cache
def find_cjk_font() -> Path | None:
    """The first CJK font found under /usr/share/fonts (WenQuanYi, Noto CJK, Droid fallback)."""
    for pattern in _FONT_PATTERNS:
        for root in _FONT_DIRS:
            if root.is_dir():
                found = sorted(root.rglob(pattern))
                if found:
                    return found[0]
    return None


def _stroke(font: ImageFont.FreeTypeFont) -> int:
    # Seal engravings are heavy; a thin outline makes a regular-weight font read like one.
    return max(1, round(font.size * 0.035))


def _paste_text(
    mask: Image.Image,
    text: str,
    font: ImageFont.FreeTypeFont,
    *,
    centre: tuple[float, float],
    rotate_deg: float,
) -> None:
    size = int(font.size * 1.6)
    glyph = Image.new("L", (size, size), 0)
    ImageDraw.Draw(glyph).text((size / 2, size / 2), text, fill=255, font=font, anchor="mm",
                               stroke_width=_stroke(font), stroke_fill=255)
    if rotate_deg:
        glyph = glyph.rotate(rotate_deg, resample=Image.Resampling.BICUBIC)
    mask.paste(255, (round(centre[0] - size / 2), round(centre[1] - size / 2)), glyph)


def seal_picture_png(
    department_name: str,
    purpose: str,
    *,
    size_px: int = 240,
    diameter_mm: int = 40,
    font_path: Path | None = None,
) -> bytes:
    """A red round seal image: ring, five-pointed star, name on the upper arc, purpose below.

    The PNG is a 4-bit palette image with per-entry transparency (tRNS), so it opens as RGBA
    with a transparent background, and stays a few kilobytes. Its resolution (pHYs) makes it
    ``diameter_mm`` wide when printed at its own resolution; the SESeal records the same size
    in picture.width / height. A long name is set smaller so it stays on the upper arc. The
    same inputs give the same bytes. Text needs a CJK font: ``font_path`` if given, else
    :func:`find_cjk_font`; when no font is found (as on a bare server) the ring and star are
    drawn without text.
    """
    if not 10 <= diameter_mm <= 80:
        raise SealError(_("seal diameter {mm} mm is not a seal's size (10-80 mm)", mm=diameter_mm))
    if size_px < 64:
        raise SealError(_("seal image size {px} px is too small (at least 64)", px=size_px))
    scale = 4  # draw large, then downsample: antialiasing without depending on the renderer
    s = size_px * scale
    c = s / 2
    mask = Image.new("L", (s, s), 0)
    draw = ImageDraw.Draw(mask)
    ring_w = round(s * 0.035)
    r_outer = s / 2 - 2 * scale
    draw.ellipse((c - r_outer, c - r_outer, c + r_outer, c + r_outer), outline=255, width=ring_w)
    big, small = s * 0.16, s * 0.16 * 0.382
    star = [
        (
            c + (big if i % 2 == 0 else small) * math.cos(-math.pi / 2 + i * math.pi / 5),
            c + (big if i % 2 == 0 else small) * math.sin(-math.pi / 2 + i * math.pi / 5),
        )
        for i in range(10)
    ]
    draw.polygon(star, fill=255)

    path = font_path if font_path is not None else find_cjk_font()
    if path is not None and department_name:
        font = ImageFont.truetype(str(path), round(s * 0.11))
        r_text = r_outer - ring_w - font.size * 0.7
        step = math.degrees(font.size * 1.1 / r_text)
        if step * len(department_name) > 250.0:
            # Too long for the arc at full size: shrink the glyphs, keep them 1.1 apart.
            font = ImageFont.truetype(
                str(path), max(8, math.floor(font.size * 250.0 / (step * len(department_name))))
            )
            r_text = r_outer - ring_w - font.size * 0.7
            step = math.degrees(font.size * 1.1 / r_text)
        span = min(250.0, step * len(department_name))
        for i, char in enumerate(department_name):
            # Clockwise from the left of the top; each glyph's top points away from the centre.
            angle = -90 - span / 2 + span * (i + 0.5) / len(department_name)
            where = (
                c + r_text * math.cos(math.radians(angle)),
                c + r_text * math.sin(math.radians(angle)),
            )
            _paste_text(mask, char, font, centre=where, rotate_deg=-(angle + 90))
    if path is not None and purpose:
        # The purpose sits on a chord below the star; keep it within 62% of the diameter.
        small_size = min(round(s * 0.075), math.floor(s * 0.62 / max(1, len(purpose))))
        small_font = ImageFont.truetype(str(path), max(8, small_size))
        ImageDraw.Draw(mask).text(
            (c, c + s * 0.27), purpose, fill=255, font=small_font, anchor="mm",
            stroke_width=_stroke(small_font), stroke_fill=255,
        )

    alpha = mask.resize((size_px, size_px), Image.Resampling.BOX)
    levels = alpha.point([round(v * (_ALPHA_LEVELS - 1) / 255) for v in range(256)])
    image = Image.frombytes("P", alpha.size, levels.tobytes())
    image.putpalette(list(SEAL_RED) * _ALPHA_LEVELS)
    out = io.BytesIO()
    dpi = size_px * 25.4 / diameter_mm
    image.save(
        out,
        format="PNG",
        optimize=True,
        bits=4,
        dpi=(dpi, dpi),
        transparency=bytes(round(i * 255 / (_ALPHA_LEVELS - 1)) for i in range(_ALPHA_LEVELS)),
    )
    return out.getvalue()


@dataclass(frozen=True)
class SealInfo:
    """A parsed SESeal. Parsing checks the format only; verification is registry.verify's job."""

    es_id: str
    """esID: the seal's identifier."""
    name: str
    """property.name: the seal's name."""
    kind: int
    """property.type: the seal kind code."""
    vendor_id: str
    """header.Vid: who made the seal structure."""
    cert_list_type: int
    """property.certListType: 1 = certificates, 2 = certificate digests."""
    cert_list: tuple[bytes, ...]
    """The signer certificates (DER) the seal binds, when certListType is 1; else empty."""
    cert_digests: tuple[tuple[str, bytes], ...]
    """(digest type, digest) pairs when certListType is 2; else empty."""
    created: dt.datetime
    """property.createDate (UTC)."""
    valid_start: dt.datetime
    """property.validStart (UTC)."""
    valid_end: dt.datetime
    """property.validEnd (UTC)."""
    authorized_types: tuple[str, ...]
    """License type codes from the authorized-types extension (empty when absent)."""
    maker_cert_der: bytes
    """SESeal.cert: the seal-maker certificate (DER)."""
    sign_algorithm: str
    """SESeal.signAlgID (dotted OID)."""
    sealinfo_der: bytes
    """The exact DER of eSealInfo: the bytes the maker signed."""
    signed_value: bytes
    """SESeal.signedValue: the maker's signature (DER ECDSA)."""
    picture_type: str
    """picture.type, e.g. "PNG"."""
    picture_data: bytes
    """picture.data: the image bytes."""
    picture_mm: tuple[int, int]
    """picture (width, height) in millimetres."""


def _utc(when: dt.datetime, what: str) -> dt.datetime:
    if when.tzinfo is None:
        raise SealError(_("{what} {time} has no time zone; pass an aware datetime", what=what,
                          time=when.isoformat()))
    return when.astimezone(dt.UTC).replace(microsecond=0)


def _ia5(value: str, what: str) -> str:
    if not value or not value.isascii() or not value.isprintable():
        raise SealError(_("{what} {value} must be non-empty printable ASCII (IA5String)",
                          what=what, value=repr(value)))
    return value


def make_seal(
    *,
    maker: CertifiedKey,
    es_id: str,
    kind: int,
    name: str,
    signer_cert_der: bytes,
    authorized_types: Sequence[str],
    created: dt.datetime,
    valid_start: dt.datetime,
    valid_end: dt.datetime,
    picture_png: bytes,
    picture_mm: tuple[int, int] = (40, 40),
    vendor_id: str = "LICREG",
) -> bytes:
    """Make the SESeal DER, signed by the seal-maker CA (GB/T 38540 seal generation 2-5)."""
    _ia5(es_id, "esID")
    _ia5(vendor_id, "vendor id")
    if not name:
        raise SealError(_("a seal needs a name"))
    types = sorted(set(authorized_types))
    if not types:
        raise SealError(_("seal {es_id} must be authorized for at least one license type",
                          es_id=es_id))
    for code in types:
        if not _TYPE_CODE_RE.match(code):
            raise SealError(_("license type code {code} must be 21 characters of 0-9 A-Z",
                              code=repr(code)))
    start, end = _utc(valid_start, "validStart"), _utc(valid_end, "validEnd")
    if end <= start:
        raise SealError(_("seal validity is empty: {start} .. {end}",
                          start=china_text(start, seconds=True),
                          end=china_text(end, seconds=True)))
    try:
        x509.load_der_x509_certificate(signer_cert_der)
    except ValueError as exc:
        raise SealError(_("the signer certificate is not a DER X.509 certificate")) from exc
    if not picture_png.startswith(_PNG_MAGIC):
        raise SealError(_("the seal picture must be a PNG"))
    # (2) assemble SES_SealInfo.
    info = SESSealInfo(
        {
            "header": {"ID": "ES", "version": SEAL_VERSION, "Vid": vendor_id},
            "esID": es_id,
            "property": {
                "type": kind,
                "name": name,
                "certListType": CERT_LIST_CERTS,
                "certList": make_cert_list([signer_cert_der]),
                "createDate": _utc(created, "createDate"),
                "validStart": start,
                "validEnd": end,
            },
            "picture": {
                "type": "PNG",
                "data": picture_png,
                "width": picture_mm[0],
                "height": picture_mm[1],
            },
            "extDatas": [authorized_types_ext(types)],
        }
    )
    info_der = info.dump()
    # (3) the maker signs DER(SES_SealInfo); (4) no timestamp in v4; (5) assemble SESeal.
    signed_value = maker.key.sign(info_der, ec.ECDSA(hashes.SHA256()))
    seal = SESeal(
        {
            "eSealInfo": SESSealInfo.load(info_der),
            "cert": maker.cert.public_bytes(Encoding.DER),
            "signAlgID": ECDSA_WITH_SHA256,
            "signedValue": signed_value,
        }
    )
    der: bytes = seal.dump()
    return der


def _format_error(message: str) -> VerificationError:
    return VerificationError(message, sub_indication="FORMAT_FAILURE")


def parse_seal(der: bytes) -> SealInfo:
    """Read a SESeal. Malformed or non-DER input → VerificationError(FORMAT_FAILURE)."""
    try:
        seal = SESeal.load(der, strict=True)
        info = seal["eSealInfo"]
        header = info["header"]
        prop = info["property"]
        picture = info["picture"]
        if header["ID"].native != "ES" or header["version"].native != SEAL_VERSION:
            raise _format_error(_(
                "seal header is {id} version {version}, expected 'ES' version {expected} "
                "(GB/T 38540-2020)", id=repr(header["ID"].native),
                version=header["version"].native, expected=SEAL_VERSION))
        list_type = prop["certListType"].native
        certs: tuple[bytes, ...] = ()
        digests: tuple[tuple[str, bytes], ...] = ()
        if list_type == CERT_LIST_CERTS:
            certs = cert_list_certs(prop["certList"])
        elif list_type == CERT_LIST_DIGESTS:
            digests = cert_list_digests(prop["certList"])
        else:
            raise _format_error(_("seal certListType {value} is neither 1 nor 2",
                                  value=list_type))
        types: tuple[str, ...] = ()
        exts = info["extDatas"]
        for ext in exts if isinstance(exts, ExtensionDatas) else ():
            if ext["extnID"].dotted == AUTHORIZED_TYPES_OID:
                types = read_authorized_types(ext)
            elif ext["critical"].native:
                raise _format_error(_("seal has an unknown critical extension {oid}",
                                      oid=ext["extnID"].dotted))
        parsed = SealInfo(
            es_id=info["esID"].native,
            name=prop["name"].native,
            kind=prop["type"].native,
            vendor_id=header["Vid"].native,
            cert_list_type=list_type,
            cert_list=certs,
            cert_digests=digests,
            created=prop["createDate"].native,
            valid_start=prop["validStart"].native,
            valid_end=prop["validEnd"].native,
            authorized_types=types,
            maker_cert_der=seal["cert"].native,
            sign_algorithm=seal["signAlgID"].dotted,
            sealinfo_der=info.dump(),
            signed_value=seal["signedValue"].native,
            picture_type=picture["type"].native,
            picture_data=picture["data"].native,
            picture_mm=(picture["width"].native, picture["height"].native),
        )
        # DER, not just BER: a seal has exactly one encoding, or two seals could look alike.
        if SESeal.load(der).dump(force=True) != der:
            raise _format_error(_("seal is not DER-encoded (re-encoding differs)"))
    except VerificationError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise _format_error(_("seal is not a GB/T 38540 v4 SESeal: {detail}",
                              detail=exc)) from exc
    if not all(
        isinstance(t, dt.datetime) for t in (parsed.created, parsed.valid_start, parsed.valid_end)
    ):
        raise _format_error(_("seal dates are not complete GeneralizedTime values"))
    return parsed
