"""Read a rendition back: the sealed record, its SES_Signature and the PDF's own signature.

A PDF made by :mod:`registry.render.pdf.write` carries the exact signed record in its document
information dictionary under ``/LicenseRecord`` (:data:`registry.render.pdf.write.RECORD_KEY`, a
UTF-16BE text string: decode it and encode as UTF-8 to get the record bytes back), the same
bytes as the embedded file ``license.json``, the GB/T 38540 SES_Signature as the embedded file
``signature.der``, and every element once more under its own code in the information dictionary
and in the XMP packet. Ingesting such a PDF gives back exactly the sealed elements.

Example::

    found = read_pdf(Path("license.pdf").read_bytes())
    found.elements["ZZBS"], found.record == found.attachments["license.json"]

:func:`find_signature` locates the PAdES signature by scanning the bytes (no PDF parser), so a
damaged file still yields its byte range and CMS for the integrity check.
"""

from __future__ import annotations

import io
import json
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from registry.errors import VerificationError
from registry.i18n import _
from registry.render.pdf.write import (
    ATTACHMENT_RECORD,
    ATTACHMENT_SIGNATURE,
    RECORD_KEY,
    XMP_NAMESPACE,
)

__all__ = ["PdfLicense", "PdfSignature", "find_signature", "read_license_pdf", "read_pdf"]

_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")
_HEX_RUN = re.compile(rb"[0-9A-Fa-f]{512,}")
_STANDARD_INFO = frozenset({"Title", "Author", "Subject", "Keywords", "Creator", "Producer",
                            "CreationDate", "ModDate", "Trapped", RECORD_KEY})


def _format(message: str) -> VerificationError:
    return VerificationError(message, sub_indication="FORMAT_FAILURE")


@dataclass(frozen=True)
class PdfSignature:
    """The PAdES signature as found in the bytes."""

    byte_range: tuple[int, int, int, int] | None
    """The declared /ByteRange, or None when it cannot be read."""
    contents_start: int
    """Offset of the ``<`` opening the /Contents hex string."""
    contents_end: int
    """Offset just after its ``>``."""
    cms_der: bytes
    """The CMS SignedData (DER, trailing zero padding removed)."""

    def expected_range(self, size: int) -> tuple[int, int, int, int]:
        """The byte range that covers the whole file except /Contents."""
        return (0, self.contents_start, self.contents_end, size - self.contents_end)


def _der_length(data: bytes) -> int:
    """Length of the DER element at the start of ``data`` (tag + length + contents)."""
    if len(data) < 2 or data[0] != 0x30:
        raise _format(_("/Contents does not hold a DER SEQUENCE (a CMS ContentInfo)"))
    first = data[1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    if n == 0 or n > 4 or len(data) < 2 + n:
        raise _format(_("/Contents holds a DER element with a bad length"))
    return 2 + n + int.from_bytes(data[2 : 2 + n], "big")


def find_signature(data: bytes) -> PdfSignature:
    """The one PAdES signature of a rendition, found by scanning the bytes.

    /Contents is the long hex string (the only one in a rendition: text strings are literal);
    the /ByteRange is read where declared but judged by :meth:`PdfSignature.expected_range`.
    """
    runs = [m for m in _HEX_RUN.finditer(data)
            if m.start() > 0 and data[m.start() - 1 : m.start()] == b"<"
            and data[m.end() : m.end() + 1] == b">"]
    if not runs:
        raise _format(_("no PDF signature: no /Contents hex string was found"))
    if len(runs) > 1:
        raise _format(_("{n} signature /Contents found; a rendition has exactly one",
                        n=len(runs)))
    run = runs[0]
    raw = bytes.fromhex(run.group().decode("ascii"))
    cms_der = raw[: _der_length(raw)]
    if len(cms_der) > len(raw):
        raise _format(_("the CMS in /Contents is truncated"))
    declared = _BYTE_RANGE.search(data)
    byte_range = None
    if declared is not None:
        a, b, c, d = (int(x) for x in declared.groups())
        byte_range = (a, b, c, d)
    return PdfSignature(byte_range=byte_range, contents_start=run.start() - 1,
                        contents_end=run.end() + 1, cms_der=cms_der)


@dataclass(frozen=True)
class PdfLicense:
    """What a rendition says about the license it shows."""

    record: bytes
    """The exact sealed record from ``/LicenseRecord`` (RFC 8785 JSON, UTF-8)."""
    elements: dict[str, Any]
    """The record parsed: element code → value."""
    info_elements: dict[str, str]
    """Element entries of the document information dictionary (code → text)."""
    xmp_elements: dict[str, str]
    """Elements in the XMP packet's :data:`XMP_NAMESPACE` (code → text)."""
    attachments: dict[str, bytes]
    """Embedded files by name (``license.json``, ``signature.der``)."""
    signature_der: bytes | None
    """The embedded GB/T 38540 SES_Signature, when present."""
    signed_time: str | None
    """The signature dictionary's /M, as written (a PDF date)."""


def _xmp_elements(reader: PdfReader) -> dict[str, str]:
    meta = reader.root_object.get("/Metadata")
    if meta is None:
        return {}
    try:
        # expat (>= 2.4) bounds entity expansion and ElementTree fetches no external entities.
        root = ET.fromstring(meta.get_object().get_data())  # noqa: S314
    except ET.ParseError as exc:
        raise _format(_("the XMP metadata is not well-formed XML: {detail}",
                        detail=exc)) from exc
    prefix = "{" + XMP_NAMESPACE + "}"
    return {el.tag[len(prefix):]: el.text or "" for el in root.iter() if el.tag.startswith(prefix)}


def read_pdf(data: bytes) -> PdfLicense:
    """Read a rendition. Not a PDF, or a PDF without a sealed record → FORMAT_FAILURE."""
    pypdf_log = logging.getLogger("pypdf")
    level = pypdf_log.level
    pypdf_log.setLevel(logging.ERROR)  # pypdf logs repairs as warnings; we report ourselves
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        info = reader.trailer.get("/Info")
        info = info.get_object() if info is not None else {}
        if f"/{RECORD_KEY}" not in info:
            raise _format(_("the PDF has no /{key}: not a rendition of a sealed license",
                            key=RECORD_KEY))
        text = str(info[f"/{RECORD_KEY}"])
        info_elements = {
            k[1:]: str(v) for k, v in info.items()
            if k[1:] not in _STANDARD_INFO and k[1:].replace("_", "").isalnum()
        }
        attachments = {name: blobs[0] for name, blobs in reader.attachments.items() if blobs}
        xmp = _xmp_elements(reader)
        signed_time = None
        for field in (reader.root_object.get("/AcroForm") or {}).get("/Fields", []):
            value = field.get_object().get("/V")
            if value is not None and "/M" in value.get_object():
                signed_time = str(value.get_object()["/M"])
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _format(_("not a readable PDF: {detail}", detail=exc)) from exc
    finally:
        pypdf_log.setLevel(level)
    record = text.encode("utf-8")
    try:
        elements = json.loads(record)
    except ValueError as exc:
        raise _format(_("/{key} is not JSON: {detail}", key=RECORD_KEY, detail=exc)) from exc
    if not isinstance(elements, dict):
        raise _format(_("/{key} is not a JSON object", key=RECORD_KEY))
    return PdfLicense(
        record=record,
        elements=elements,
        info_elements=info_elements,
        xmp_elements=xmp,
        attachments=attachments,
        signature_der=attachments.get(ATTACHMENT_SIGNATURE),
        signed_time=signed_time,
    )


def read_license_pdf(data: bytes) -> dict[str, Any]:
    """The sealed elements of a rendition (what ingesting the PDF yields)."""
    found = read_pdf(data)
    if found.attachments.get(ATTACHMENT_RECORD, found.record) != found.record:
        raise _format(_("/{key} and the embedded {attachment} differ", key=RECORD_KEY,
                        attachment=ATTACHMENT_RECORD))
    return found.elements

