"""PAdES baseline signatures (ETSI EN 319 142-1) for renditions, from a precomputed CMS skeleton.

A PAdES B-B signature is a detached CMS SignedData (RFC 5652) over the file's byte range, with
three signed attributes: content-type, message-digest and ESS signing-certificate-v2
(RFC 5035). Everything in it except the 32-byte message digest and the signature value is the
same for every license sealed with one key, so :class:`CmsSkeleton` encodes it once with
asn1crypto and each signature is a SHA-256 over the signed attributes, one prehashed ECDSA
signature through the :class:`registry.seal.signer.Signer` seam, and a few byte
concatenations. With a :class:`registry.render.pdf.timestamp.TimestampSource` the signature also
carries a signature-time-stamp (B-T).

Decision: the signing-time attribute is left out, as EN 319 142-1 §5.4 requires of PAdES
baseline signatures (the claimed signing time is the signature dictionary's /M).

Example::

    pades = PadesSigner(signer, chain=[maker_cert_der])
    unsigned = prepared.render(record, ses_der, at=now, contents_size=pades.reserve)
    pdf = pades.sign(unsigned)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509

from registry.errors import SealError
from registry.i18n import _
from registry.render.pdf.write import BYTE_RANGE_PLACEHOLDER, UnsignedPdf
from registry.seal.signer import Signer

__all__ = ["CmsSkeleton", "PadesSigner", "TimestampSource"]

_ID_DATA = "1.2.840.113549.1.7.1"
_ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
_SIGNATURE_TIME_STAMP = "1.2.840.113549.1.9.16.2.14"
_DIGEST_MARK = bytes(range(0xA0, 0xC0))  # 32 distinctive bytes, replaced by each digest
_MAX_ECDSA_DER = 72  # a DER P-256 ECDSA signature is 70-72 bytes


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _len(len(content)) + content


class TimestampSource(Protocol):
    """An RFC 3161 time-stamping authority: a message imprint in, a TimeStampToken out."""

    @property
    def reserve(self) -> int:
        """Bytes to reserve in /Contents for one token."""
        ...

    def timestamp(self, digest: bytes) -> bytes:
        """The DER TimeStampToken (a CMS ContentInfo) over the SHA-256 ``digest``."""
        ...


class CmsSkeleton:
    """The constant parts of a detached CMS SignedData for one signer certificate."""

    def __init__(self, signer_cert_der: bytes, chain: Sequence[bytes] = ()) -> None:
        try:
            cert = asn1_x509.Certificate.load(signer_cert_der)
            extra = [asn1_x509.Certificate.load(c) for c in chain]
            _parsed = cert.issuer, [c.subject for c in extra]  # parse now, fail here
        except (ValueError, TypeError) as exc:
            raise SealError(_("cannot build a CMS signature with this certificate: {detail}",
                              detail=exc)) from exc
        ess = tsp.SigningCertificateV2({"certs": [tsp.ESSCertIDv2({
            # hashAlgorithm is left out: its DEFAULT is SHA-256 (RFC 5035), and DER omits it.
            "cert_hash": hashlib.sha256(signer_cert_der).digest(),
            "issuer_serial": {
                "issuer": [asn1_x509.GeneralName({"directory_name": cert.issuer})],
                "serial_number": cert.serial_number,
            },
        })]})
        attrs = sorted(
            cms.CMSAttribute({"type": kind, "values": [value]}).dump()
            for kind, value in (
                ("content_type", "data"),
                ("message_digest", _DIGEST_MARK),
                ("signing_certificate_v2", ess),
            )
        )  # DER: a SET OF is sorted by encoding (X.690 11.6)
        body = b"".join(attrs)
        at = body.index(_DIGEST_MARK)
        self._attrs_head, self._attrs_tail = body[:at], body[at + 32 :]
        self._attrs_len = _len(len(body))
        sid = cms.IssuerAndSerialNumber(
            {"issuer": cert.issuer, "serial_number": cert.serial_number}).dump()
        digest_alg = algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
        self._si_head = core.Integer(1).dump() + sid + digest_alg
        self._si_sig_alg = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}).dump()
        certs = sorted([signer_cert_der, *chain])
        self._sd_head = (
            core.Integer(1).dump()
            + _tlv(0x31, digest_alg)
            + _tlv(0x30, core.ObjectIdentifier(_ID_DATA).dump())
            + _tlv(0xA0, b"".join(certs))
        )
        self._ci_oid = core.ObjectIdentifier(_ID_SIGNED_DATA).dump()
        self.max_size = len(self.build(b"\0" * 32, b"\0" * _MAX_ECDSA_DER))
        """Size of the largest SignedData without a timestamp (the signature length varies)."""

    def to_sign(self, message_digest: bytes) -> bytes:
        """DER of the signed attributes as a SET: what the signer signs (RFC 5652 §5.4)."""
        return b"\x31" + self._attrs_len + self._attrs_head + message_digest + self._attrs_tail

    def build(self, message_digest: bytes, signature: bytes, timestamp_token: bytes = b"") -> bytes:
        """The ContentInfo DER for one signature (and optional signature-time-stamp token)."""
        signer_info = (
            self._si_head
            + b"\xa0" + self._attrs_len + self._attrs_head + message_digest + self._attrs_tail
            + self._si_sig_alg
            + _tlv(0x04, signature)
        )
        if timestamp_token:
            attr = _tlv(0x30, core.ObjectIdentifier(_SIGNATURE_TIME_STAMP).dump()
                        + _tlv(0x31, timestamp_token))
            signer_info += _tlv(0xA1, attr)
        signed_data = _tlv(0x30, self._sd_head + _tlv(0x31, _tlv(0x30, signer_info)))
        return _tlv(0x30, self._ci_oid + _tlv(0xA0, signed_data))


class PadesSigner:
    """Signs rendered PDFs with one seal's key: B-B, or B-T with a timestamp source."""

    def __init__(
        self,
        signer: Signer,
        *,
        chain: Sequence[bytes] = (),
        timestamps: TimestampSource | None = None,
    ) -> None:
        self._signer = signer
        self._skeleton = CmsSkeleton(signer.certificate_der, chain)
        self._timestamps = timestamps
        self.reserve = self._skeleton.max_size + 16 + (timestamps.reserve if timestamps else 0)
        """Bytes to reserve for /Contents (pass as ``contents_size`` to render)."""

    @property
    def level(self) -> str:
        """The PAdES baseline level produced: B-B or B-T."""
        return "B-T" if self._timestamps is not None else "B-B"

    def sign(self, pdf: UnsignedPdf) -> bytes:
        """Fill the byte range and /Contents of ``pdf``; returns the signed file."""
        data = pdf.data
        start, end = pdf.contents_at, pdf.contents_end
        if data[pdf.byte_range_at : pdf.byte_range_at + len(BYTE_RANGE_PLACEHOLDER)] != (
            BYTE_RANGE_PLACEHOLDER
        ):
            raise SealError(_("the PDF has no unfilled ByteRange placeholder (signed already?)"))
        byte_range = f"[0 {start} {end} {len(data) - end}]".encode("ascii")
        data[pdf.byte_range_at : pdf.byte_range_at + len(BYTE_RANGE_PLACEHOLDER)] = (
            byte_range.ljust(len(BYTE_RANGE_PLACEHOLDER))
        )
        view = memoryview(data)
        h = hashlib.sha256(view[:start])
        h.update(view[end:])
        view.release()
        message_digest = h.digest()
        to_sign = self._skeleton.to_sign(message_digest)
        signature = self._signer.sign_digest(hashlib.sha256(to_sign).digest())
        token = b""
        if self._timestamps is not None:
            token = self._timestamps.timestamp(hashlib.sha256(signature).digest())
        cms_der = self._skeleton.build(message_digest, signature, token)
        room = (end - start - 2) // 2
        if len(cms_der) > room:
            raise SealError(_("the CMS signature ({size} bytes) does not fit the {room} bytes "
                              "reserved in /Contents", size=len(cms_der), room=room))
        data[start + 1 : start + 1 + 2 * len(cms_der)] = cms_der.hex().encode("ascii")
        return bytes(data)
