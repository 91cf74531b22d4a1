"""Render a sealed license as a one-page PDF, ready for its PAdES signature.

A :class:`PreparedTemplate` is made once per template and seal: the layout, the seal image as
an image XObject, the signature widget and its appearance (the seal image at the layout's seal
box), the frame. :meth:`PreparedTemplate.render` then fills in only what differs per license:
the text (set in a per-document font subset, :mod:`registry.render.fonts`), the QR code carrying
the identifier, the metadata, the embedded record and SES_Signature, and a signature dictionary
whose ``/Contents`` is reserved for :mod:`registry.render.pdf.pades` to fill. No PDF library runs
per
license: the file is written object by object with a classic xref table.

What a rendition carries, so the PDF alone can be read back and verified (see
:mod:`registry.render.pdf.read`):

- the document information dictionary: /Title (证照名称), /Author (issuer), /Subject,
  /Keywords, /CreationDate, and one entry per GB/T 36903 element, named by its code (/ZZBS,
  /CZZT, /KZ_JYFW …), plus :data:`RECORD_KEY` (``/LicenseRecord``): the exact signed record
  (RFC 8785 JSON) as a UTF-16BE text string;
- an XMP packet with the same elements in the :data:`XMP_NAMESPACE` namespace;
- two embedded files (associated files of the document): ``license.json`` (the record bytes)
  and ``signature.der`` (the GB/T 38540 SES_Signature over them).

Example::

    prepared = PreparedTemplate(layout=layout, license_type=lt, seal_der=seal.seal_der,
                                fonts=FontStack.discover())
    unsigned = prepared.render(record, ses_der, at=now, contents_size=pades.reserve)
    pdf = pades.sign(unsigned)                      # registry.render.pdf.pades.PadesSigner
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from PIL import Image

from registry.errors import RenderError, VerificationError
from registry.i18n import _
from registry.license.types import LicenseType
from registry.render.fonts import FontStack, FontSubset
from registry.render.pdf.syntax import Writer, name_ok, obj, pdf_date, stream, text_string
from registry.render.qr import qr_image_mask
from registry.seal.making import parse_seal
from registry.template.layout import Box, Layout

__all__ = [
    "ATTACHMENT_RECORD",
    "ATTACHMENT_SIGNATURE",
    "BYTE_RANGE_PLACEHOLDER",
    "RECORD_KEY",
    "XMP_NAMESPACE",
    "PreparedTemplate",
    "UnsignedPdf",
    "format_value",
]

RECORD_KEY = "LicenseRecord"
"""Document information key holding the exact signed record (RFC 8785 JSON) as a text string."""
ATTACHMENT_RECORD = "license.json"
"""Embedded file: the record bytes, verbatim."""
ATTACHMENT_SIGNATURE = "signature.der"
"""Embedded file: the GB/T 38540 v4 SES_Signature over the record."""
XMP_NAMESPACE = "urn:licreg:xmp:gbt36903:1"
"""XMP namespace (prefix ``lic``) of the GB/T 36903 elements in the metadata packet."""
BYTE_RANGE_PLACEHOLDER = b"[0 0000000000 0000000000 0000000000]"
"""Reserved in the signature dictionary; :mod:`registry.render.pdf.pades` overwrites it in place."""

PT_PER_MM = 72 / 25.4
_HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
_LINE = 1.32  # line height, in font sizes
_MIN_SIZE = 5.0  # points: text shrinks to fit its box down to this, then overflows
_QR_QUIET = 2  # modules of white border inside the QR box
_NO_LINE_START = frozenset("，。、；：？！）》」』】,.;:?!)%")
# Object numbers: fixed for the constant objects, fonts from _FIRST_FONT on.
(_CATALOG, _PAGES, _PAGE, _CONTENT, _IMAGE, _MASK, _WIDGET, _SIG, _APPEARANCE, _XMP, _INFO,
 _RECORD_SPEC, _RECORD_FILE, _SIGNATURE_SPEC, _SIGNATURE_FILE, _QR) = range(1, 17)
_FIRST_FONT = 17


@dataclass(frozen=True)
class UnsignedPdf:
    """A rendered PDF whose signature is still to be made."""

    data: bytearray
    """The file, with :data:`BYTE_RANGE_PLACEHOLDER` and a zero-filled /Contents."""
    byte_range_at: int
    """Offset of the ByteRange placeholder."""
    contents_at: int
    """Offset of the ``<`` that opens the /Contents hex string."""
    contents_end: int
    """Offset just after the ``>`` that closes it."""
    signed_at: dt.datetime
    """The signing time written to the signature dictionary's /M."""
    missing_glyphs: frozenset[str]
    """Characters no font had (drawn as .notdef); empty for a faithful rendition."""


def format_value(value: str, *, date_zh: bool) -> str:
    """A value as printed: yyyyMMdd → 2024年1月5日 when ``date_zh`` (长期 stays 长期)."""
    if date_zh and len(value) == 8 and value.isdigit():
        return f"{value[:4]}年{int(value[4:6])}月{int(value[6:])}日"
    return value


def _wrap(subset: FontSubset, text: str, size: float, width: float) -> list[str]:
    """Greedy line breaking at any character (CJK), keeping closing punctuation on its line."""
    limit = width * 1000 / size  # in 1/1000 em, so the loop adds integers
    lines: list[str] = []
    start = 0
    used = 0
    for i, (ch, w) in enumerate(zip(text, subset.stack.advances(text), strict=True)):
        if ch == "\n":
            lines.append(text[start:i])
            start, used = i + 1, 0
            continue
        if used + w > limit and i > start and ch not in _NO_LINE_START:
            lines.append(text[start:i])
            start, used = i, 0
        used += w
    if start < len(text) or not lines:
        lines.append(text[start:])
    return lines


class PreparedTemplate:
    """A template made ready for rendering many licenses with one seal.

    Construction parses the seal, converts its picture into image XObjects and serializes
    every object that is the same for all licenses; :meth:`render` writes the rest.
    """

    def __init__(
        self,
        *,
        layout: Layout,
        license_type: LicenseType,
        seal_der: bytes,
        fonts: FontStack,
        producer: str = "licreg",
    ) -> None:
        try:
            seal = parse_seal(seal_der)
        except VerificationError as exc:
            raise RenderError(_("cannot render with a malformed seal: {detail}",
                                detail=exc)) from exc
        self.layout = layout
        self.license_type = license_type
        self.fonts = fonts
        self.producer = producer
        self.seal_name = seal.name
        self.page_w = layout.page.width_mm * PT_PER_MM
        self.page_h = layout.page.height_mm * PT_PER_MM
        self._labels = {e.code: e.title for e in license_type.elements}
        self._constant: list[tuple[int, bytes]] = self._seal_objects(seal.picture_data)
        self._frame = self._frame_ops()

    # -- constant parts -------------------------------------------------------------------

    def _seal_objects(self, png: bytes) -> list[tuple[int, bytes]]:
        try:
            image = Image.open(io.BytesIO(png))
            image.load()
        except (OSError, ValueError) as exc:
            raise RenderError(_("the seal picture is not a readable image: {detail}",
                                detail=exc)) from exc
        rgba = image.convert("RGBA")
        w, h = rgba.size
        rgb = rgba.convert("RGB").tobytes()
        alpha = rgba.getchannel("A").tobytes()
        s = self.layout.seal
        side = s.size_mm * PT_PER_MM
        x, y = s.x_mm * PT_PER_MM, self.page_h - (s.y_mm + s.size_mm) * PT_PER_MM
        self.seal_rect = (x, y, x + side, y + side)
        image_obj = stream(
            _IMAGE, rgb,
            f" /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceRGB "
            f"/BitsPerComponent 8 /SMask {_MASK} 0 R", level=9)
        mask_obj = stream(
            _MASK, alpha,
            f" /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceGray "
            f"/BitsPerComponent 8", level=9)
        appearance = stream(
            _APPEARANCE, f"q {side:.3f} 0 0 {side:.3f} 0 0 cm /Seal Do Q".encode("ascii"),
            f" /Type /XObject /Subtype /Form /BBox [0 0 {side:.3f} {side:.3f}] "
            f"/Resources << /XObject << /Seal {_IMAGE} 0 R >> >>", compress=False)
        widget = obj(_WIDGET, (
            b"<< /Type /Annot /Subtype /Widget /FT /Sig /T (Seal1) /TU %s /F 132 "
            b"/Rect [%.3f %.3f %.3f %.3f] /P %d 0 R /V %d 0 R /AP << /N %d 0 R >> >>"
            % (text_string(self.seal_name), *self.seal_rect, _PAGE, _SIG, _APPEARANCE)))
        pages = obj(_PAGES, f"<< /Type /Pages /Kids [{_PAGE} 0 R] /Count 1 >>")
        return [(_PAGES, pages), (_IMAGE, image_obj), (_MASK, mask_obj), (_WIDGET, widget),
                (_APPEARANCE, appearance)]

    def _frame_ops(self) -> str:
        inset = self.layout.page.frame_mm * PT_PER_MM
        if inset <= 0:
            return ""
        w, h, gap = self.page_w - 2 * inset, self.page_h - 2 * inset, 1.6 * PT_PER_MM
        return (
            f"q 0.62 0.16 0.10 RG 1.4 w {inset:.2f} {inset:.2f} {w:.2f} {h:.2f} re S "
            f"0.5 w {inset + gap:.2f} {inset + gap:.2f} {w - 2 * gap:.2f} {h - 2 * gap:.2f} re S"
            " Q\n"
        )

    # -- per license ----------------------------------------------------------------------

    def _text(self, ops: list[str], subset: FontSubset, text: str, x: float, y: float,
              size: float, *, spacing: float = 0.0) -> None:
        # Character spacing is graphics state: q … Q keeps it from leaking into later text.
        ops.append(f"q BT {x:.2f} {y:.2f} Td {spacing:.2f} Tc" if spacing
                   else f"BT {x:.2f} {y:.2f} Td")
        for index, cids in subset.encode(text):
            ops.append(f"/F{index} {size:.2f} Tf <{cids.hex()}> Tj")
        ops.append("ET Q" if spacing else "ET")

    def _box(self, ops: list[str], subset: FontSubset, box: Box, label: str, value: str) -> None:
        x0 = box.x_mm * PT_PER_MM
        top = self.page_h - box.y_mm * PT_PER_MM
        width, height = box.width_mm * PT_PER_MM, box.height_mm * PT_PER_MM
        label_size = size = box.font_size_pt
        label_w = 0.0
        if label:
            label_w = (box.label_width_mm * PT_PER_MM if box.label_width_mm is not None
                       else subset.width(label, size) + size)
        avail = max(width - label_w, size)
        lines = _wrap(subset, value, size, avail)
        while len(lines) * size * _LINE > height and size > _MIN_SIZE:
            size = max(_MIN_SIZE, size - 0.5)
            lines = _wrap(subset, value, size, avail)
        # One line sits in the middle of its box; more lines start at the top. The label
        # shares the first line's baseline.
        if len(lines) == 1:
            first = top - height / 2 - 0.36 * max(size, label_size)
        else:
            first = top - 0.88 * max(size, label_size)
        if label:
            ops.append("0.30 g")
            self._text(ops, subset, label, x0, first, label_size)
            ops.append("0 g")
        for i, line in enumerate(lines):
            x = x0 + label_w
            if box.align != "left":
                slack = avail - subset.width(line, size)
                x += slack / 2 if box.align == "center" else slack
            self._text(ops, subset, line, x, first - i * size * _LINE, size)

    def _title(self, ops: list[str], subset: FontSubset, text: str) -> None:
        box = self.layout.title
        size = box.font_size_pt
        width = box.width_mm * PT_PER_MM
        # Short titles are letter-spaced as on paper licenses (营 业 执 照).
        spacing = size * 0.6 if len(text) <= 6 else 0.0
        total = subset.width(text, size) + spacing * (len(text) - 1)
        while total > width and size > _MIN_SIZE:
            size, spacing = size - 1, 0.0
            total = subset.width(text, size)
        x = box.x_mm * PT_PER_MM
        if box.align == "center":
            x += (width - total) / 2
        elif box.align == "right":
            x += width - total
        top = self.page_h - box.y_mm * PT_PER_MM
        y = top - (box.height_mm * PT_PER_MM) / 2 - size * 0.36
        self._text(ops, subset, text, x, y, size, spacing=spacing)

    def _qr(self, ops: list[str], identifier: str) -> bytes:
        """Draw the QR code (an image mask, module-exact) and return its image object."""
        n, packed = qr_image_mask(identifier)
        box = self.layout.qr
        side = box.size_mm * PT_PER_MM
        module = side / (n + 2 * _QR_QUIET)
        x = box.x_mm * PT_PER_MM + _QR_QUIET * module
        y = self.page_h - (box.y_mm + box.size_mm) * PT_PER_MM + _QR_QUIET * module
        ops.append(f"q 0 g {n * module:.3f} 0 0 {n * module:.3f} {x:.3f} {y:.3f} cm /QR Do Q")
        return stream(_QR, packed, (
            f" /Type /XObject /Subtype /Image /Width {n} /Height {n} /ImageMask true "
            f"/BitsPerComponent 1 /Interpolate false"), compress=False)

    def render(
        self,
        record: bytes,
        signature_der: bytes,
        *,
        at: dt.datetime,
        contents_size: int,
        elements: Mapping[str, Any] | None = None,
    ) -> UnsignedPdf:
        """The PDF of one license, with ``contents_size`` bytes reserved for the signature.

        ``elements`` defaults to the record's own; passing others renders a face (and
        metadata) that disagrees with the sealed record, which is what the tamper tests do.
        """
        if elements is None:
            try:
                elements = json.loads(record)
            except ValueError as exc:
                raise RenderError(_("the record is not JSON: {detail}", detail=exc)) from exc
            if not isinstance(elements, dict):
                raise RenderError(_("the record is not a JSON object"))
        values = {k: str(v) for k, v in elements.items()}
        identifier = values.get("ZZBS", "")
        subset = self.fonts.subset()

        ops = [self._frame]
        title = self.layout.title_text or values.get("ZZMC") or self.license_type.name
        self._title(ops, subset, title)
        for f in self.layout.fields:
            label = f.box.label if f.box.label is not None else self._labels.get(f.element, "")
            value = format_value(values.get(f.element, ""), date_zh=f.date_zh)
            self._box(ops, subset, f.box, label, value)
        ident = self.layout.identifier
        self._box(ops, subset, ident, ident.label if ident.label is not None else "证照标识",
                  identifier)
        qr_image = self._qr(ops, identifier)
        content = "\n".join(ops).encode("ascii")

        font_refs, font_objects = subset.pdf_objects(_FIRST_FONT)
        fonts = " ".join(f"/F{i} {n} 0 R" for i, n in font_refs.items())
        when = pdf_date(at)

        w = Writer(_HEADER)
        w.add(_CATALOG, obj(_CATALOG, (
            b"<< /Type /Catalog /Pages %d 0 R /Metadata %d 0 R /Lang (zh-CN) "
            b"/AcroForm << /Fields [%d 0 R] /SigFlags 3 >> "
            b"/Names << /EmbeddedFiles << /Names [(%s) %d 0 R (%s) %d 0 R] >> >> "
            b"/AF [%d 0 R %d 0 R] /ViewerPreferences << /DisplayDocTitle true >> >>"
            % (_PAGES, _XMP, _WIDGET, ATTACHMENT_RECORD.encode(), _RECORD_SPEC,
               ATTACHMENT_SIGNATURE.encode(), _SIGNATURE_SPEC, _RECORD_SPEC, _SIGNATURE_SPEC))))
        for number, data in self._constant:
            w.add(number, data)
        w.add(_PAGE, obj(_PAGE, (
            f"<< /Type /Page /Parent {_PAGES} 0 R /MediaBox [0 0 {self.page_w:.3f} "
            f"{self.page_h:.3f}] /Resources << /Font << {fonts} >> /XObject << /QR {_QR} 0 R >> "
            f">> /Contents {_CONTENT} 0 R "
            f"/Annots [{_WIDGET} 0 R] >>")))
        w.add(_CONTENT, stream(_CONTENT, content))
        w.add(_QR, qr_image)
        w.add(_XMP, stream(_XMP, self._xmp(values, at),
                           " /Type /Metadata /Subtype /XML", compress=False))
        w.add(_INFO, obj(_INFO, self._info(values, record, when)))
        self._attachment(w, _RECORD_SPEC, ATTACHMENT_RECORD, record, "application#2Fjson",
                         "the sealed record (RFC 8785 JSON): the exact signed bytes", when)
        self._attachment(w, _SIGNATURE_SPEC, ATTACHMENT_SIGNATURE, signature_der,
                         "application#2Foctet-stream",
                         "GB/T 38540 v4 SES_Signature over license.json", when,
                         compress=False)  # a PNG and certificates: Flate gains nothing
        w.add_all(_FIRST_FONT, font_objects)

        head = (b"%d 0 obj\n<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached "
                b"/M %s /Name %s /Reason %s /ByteRange " % (
                    _SIG, text_string(when), text_string(self.seal_name),
                    text_string(f"电子证照签章 {identifier}")))
        sig_at = w.add(_SIG, head + BYTE_RANGE_PLACEHOLDER + b" /Contents <"
                       + b"0" * (2 * contents_size) + b"> >>\nendobj\n")
        byte_range_at = sig_at + len(head)
        contents_at = byte_range_at + len(BYTE_RANGE_PLACEHOLDER) + len(b" /Contents ")
        file_id = hashlib.sha256(record + when.encode()).hexdigest()[:32]
        pdf = w.finish(b"/Root %d 0 R /Info %d 0 R /ID [<%s> <%s>]"
                       % (_CATALOG, _INFO, file_id.encode(), file_id.encode()))
        return UnsignedPdf(
            data=pdf,
            byte_range_at=byte_range_at,
            contents_at=contents_at,
            contents_end=contents_at + 2 * contents_size + 2,
            signed_at=at,
            missing_glyphs=frozenset(subset.missing),
        )

    def _info(self, values: Mapping[str, str], record: bytes, when: str) -> bytes:
        parts = [
            b"<< /Title ", text_string(values.get("ZZMC", self.license_type.name)),
            b" /Author ", text_string(values.get("ZZBFJG", "")),
            b" /Subject ", text_string(f"电子证照 {values.get('ZZBS', '')}"),
            b" /Keywords ", text_string(f"{values.get('ZZBH', '')} {values.get('CZZT', '')}"),
            b" /Creator ", text_string(self.producer), b" /Producer ", text_string(self.producer),
            b" /CreationDate ", text_string(when), b" /ModDate ", text_string(when),
        ]
        for code, value in values.items():
            if name_ok(code):
                parts += [b" /", code.encode("ascii"), b" ", text_string(value)]
        parts += [b" /", RECORD_KEY.encode("ascii"), b" ", text_string(record.decode("utf-8")),
                  b" >>"]
        return b"".join(parts)

    def _xmp(self, values: Mapping[str, str], at: dt.datetime) -> bytes:
        stamp = at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        elements = "".join(
            f"<lic:{code}>{escape(value)}</lic:{code}>"
            for code, value in values.items() if name_ok(code)
        )
        xml = (
            '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
            'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:pdf="http://ns.adobe.com/pdf/1.3/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
            f'xmlns:lic="{XMP_NAMESPACE}">'
            "<dc:format>application/pdf</dc:format>"
            '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">'
            f"{escape(values.get('ZZMC', self.license_type.name))}</rdf:li></rdf:Alt></dc:title>"
            f"<dc:creator><rdf:Seq><rdf:li>{escape(values.get('ZZBFJG', ''))}</rdf:li></rdf:Seq>"
            f"</dc:creator><dc:identifier>{escape(values.get('ZZBS', ''))}</dc:identifier>"
            f"<pdf:Producer>{escape(self.producer)}</pdf:Producer>"
            f"<xmp:CreatorTool>{escape(self.producer)}</xmp:CreatorTool>"
            f"<xmp:CreateDate>{stamp}</xmp:CreateDate><xmp:ModifyDate>{stamp}</xmp:ModifyDate>"
            f"<xmp:MetadataDate>{stamp}</xmp:MetadataDate>{elements}"
            "</rdf:Description></rdf:RDF></x:xmpmeta>\n"
            '<?xpacket end="r"?>'
        )
        return xml.encode("utf-8")

    @staticmethod
    def _attachment(w: Writer, spec: int, name: str, data: bytes, subtype: str, desc: str,
                    when: str, *, compress: bool = True) -> None:
        w.add(spec, obj(spec, (
            b"<< /Type /Filespec /F (%s) /UF (%s) /Desc %s /AFRelationship /Source "
            b"/EF << /F %d 0 R /UF %d 0 R >> >>"
            % (name.encode(), name.encode(), text_string(desc), spec + 1, spec + 1))))
        w.add(spec + 1, stream(spec + 1, data, (
            f" /Type /EmbeddedFile /Subtype /{subtype} /Params << /Size {len(data)} "
            f"/ModDate ({when}) >>"), compress=compress))
