"""Verify a rendition from the PDF alone: its PAdES signature and the sealed record inside it.

The report has the same checks as a bundle's (:data:`registry.verify.report.CHECK_NAMES`), each
combining what the PDF shows with what :class:`registry.verify.core.Verifier` finds for the
embedded record and SES_Signature:

(1) format: one signature dictionary; its /Contents is a CMS SignedData with one SignerInfo,
    SHA-256 and ECDSA; the PDF carries a sealed record and its SES_Signature.
(2) integrity: the byte range covers the whole file except /Contents and its SHA-256 equals the
    signed message-digest (any changed byte → FAILED/HASH_FAILURE); the information dictionary,
    the XMP packet and the embedded license.json agree with the sealed record; the record
    matches the SES_Signature's dataHash.
(3) signature: the CMS signature over the signed attributes verifies with the certificate the
    ESS signing-certificate-v2 attribute names; the SES_Signature verifies.
(4)-(8) seal, signer_certificate, authorization (the PDF's signer is a certificate the seal
    binds), status, log_inclusion: as for a bundle.

Example::

    report = verify_pdf(Path("license.pdf"), anchors=load_anchors(Path("root.pem")), at=now)
    print(report.indication, report.sub_indication)
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from registry.errors import VerificationError
from registry.i18n import _, os_reason
from registry.render.pdf.read import PdfLicense, PdfSignature, find_signature, read_pdf
from registry.render.pdf.write import ATTACHMENT_RECORD, RECORD_KEY
from registry.seal.making import parse_seal
from registry.seal.signature import parse_signature
from registry.verify.core import Verifier
from registry.verify.report import (
    CHECK_NAMES,
    FORMAT_FAILURE,
    HASH_FAILURE,
    NOT_AUTHORIZED,
    SIG_CRYPTO_FAILURE,
    CheckResult,
    CheckStatus,
    VerificationReport,
)

__all__ = ["verify_pdf", "verify_pdf_bytes"]

_SHA256 = "sha256"
_ECDSA_SHA256 = frozenset({"sha256_ecdsa", "ecdsa"})


@dataclass(frozen=True)
class _Cms:
    """The parts of the PAdES CMS that verification needs."""

    message_digest: bytes
    to_sign: bytes
    signature: bytes
    signer_der: bytes
    timestamped: bool


def _bad(name: str, reason: str, detail: str) -> CheckResult:
    return CheckResult(name, CheckStatus.INVALID, reason, detail)


def _ok(name: str, detail: str) -> CheckResult:
    return CheckResult(name, CheckStatus.VALID, "ok", detail)


def _parse_cms(der: bytes) -> _Cms:
    """(1) the CMS: one SignerInfo, SHA-256 with ECDSA, its certificate among those carried."""
    def fail(message: str) -> VerificationError:
        return VerificationError(_("PDF signature: {problem}", problem=message),
                                 sub_indication=FORMAT_FAILURE)

    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise fail(_("/Contents is not a CMS SignedData"))
        signed = info["content"]
        if len(signed["signer_infos"]) != 1:
            raise fail(_("{n} SignerInfos, expected exactly one", n=len(signed["signer_infos"])))
        si = signed["signer_infos"][0]
        if si["digest_algorithm"]["algorithm"].native != _SHA256:
            raise fail(_("digest algorithm {algorithm}",
                         algorithm=si["digest_algorithm"]["algorithm"].native))
        if si["signature_algorithm"]["algorithm"].native not in _ECDSA_SHA256:
            raise fail(_("signature algorithm {algorithm}",
                         algorithm=si["signature_algorithm"]["algorithm"].native))
        attrs = {a["type"].native: a["values"] for a in si["signed_attrs"]}
        if "message_digest" not in attrs or attrs.get("content_type", [None])[0].native != "data":
            raise fail(_("the signed attributes lack message-digest or content-type data"))
        certs = [c.chosen for c in signed["certificates"] or ()]
        sid = si["sid"].chosen
        if not isinstance(sid, cms.IssuerAndSerialNumber):
            raise fail(_("the signer is not named by issuer and serial number"))
        signer = next((c for c in certs if c.issuer == sid["issuer"]
                       and c.serial_number == sid["serial_number"].native), None)
        if signer is None:
            raise fail(_("the signer certificate is not in the CMS"))
        if "signing_certificate_v2" in attrs:
            ess = attrs["signing_certificate_v2"][0]["certs"][0]
            if ess["cert_hash"].native != hashlib.sha256(signer.dump()).digest():
                raise VerificationError(
                    _("PDF signature: {problem}",
                      problem=_("signing-certificate-v2 names another certificate")),
                    sub_indication=SIG_CRYPTO_FAILURE)
        unsigned = si["unsigned_attrs"]
        timestamped = unsigned.native is not None and any(
            a["type"].native == "signature_time_stamp_token" for a in unsigned)
        signed_attrs = si["signed_attrs"].dump()
        return _Cms(
            message_digest=attrs["message_digest"][0].native,
            to_sign=b"\x31" + signed_attrs[1:],  # [0] IMPLICIT → SET OF for the signature
            signature=si["signature"].native,
            signer_der=signer.dump(),
            timestamped=timestamped,
        )
    except VerificationError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise fail(_("/Contents is not a readable CMS SignedData: {error}", error=exc)) from exc


def _integrity(data: bytes, found: PdfSignature, signed: _Cms) -> CheckResult:
    """(2) the bytes: the byte range covers everything but /Contents, and its digest is signed."""
    expected = found.expected_range(len(data))
    if found.byte_range is not None and found.byte_range[:3] == expected[:3]:
        # Only the end differs: the file was cut short, or a revision was appended after the
        # signed one's %%EOF (an incremental update, ISO 32000-1 7.5.6), which the signature
        # does not cover.
        signed_end = found.byte_range[2] + found.byte_range[3]
        if len(data) < signed_end:
            return _bad("integrity", HASH_FAILURE, _(
                "the file ends {n} bytes before the end of the signed byte range: it was "
                "truncated", n=signed_end - len(data)))
        if len(data) > signed_end and data[:signed_end].rstrip().endswith(b"%%EOF"):
            return _bad("integrity", HASH_FAILURE, _(
                "{n} bytes were added after the signed byte range (an incremental update): "
                "the PDF was changed after signing", n=len(data) - signed_end))
    if found.byte_range != expected:
        return _bad("integrity", HASH_FAILURE,
                    _("the /ByteRange {found} is not the whole file except /Contents {expected}",
                      found=found.byte_range, expected=expected))
    digest = hashlib.sha256(data[: found.contents_start])
    digest.update(data[found.contents_end :])
    if digest.digest() != signed.message_digest:
        return _bad("integrity", HASH_FAILURE,
                    _("SHA-256 of the signed byte range differs from the signed message-digest: "
                      "the PDF was changed after signing"))
    return _ok("integrity", _("the byte range covers the whole file except /Contents; its "
                              "SHA-256 equals the signed message-digest"))


def _agreement(found: PdfLicense) -> CheckResult | None:
    """(2) the metadata and embedded files say what the sealed record says."""
    sealed = {k: str(v) for k, v in found.elements.items()}
    for where, shown in ((_("the document information"), found.info_elements),
                         (_("the XMP metadata"), found.xmp_elements)):
        if shown != sealed:
            diff = sorted(k for k in set(shown) | set(sealed) if shown.get(k) != sealed.get(k))
            return _bad("integrity", HASH_FAILURE,
                        _("{where} disagrees with the sealed record on {elements}", where=where,
                          elements=", ".join(diff)))
    if found.attachments.get(ATTACHMENT_RECORD) != found.record:
        return _bad("integrity", HASH_FAILURE,
                    _("the embedded {file} differs from /{key}", file=ATTACHMENT_RECORD,
                      key=RECORD_KEY))
    return None


def _cms_signature(signed: _Cms) -> CheckResult:
    """(3) the PAdES signature over the signed attributes."""
    try:
        cert = x509.load_der_x509_certificate(signed.signer_der)
        key = cert.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return _bad("signature", SIG_CRYPTO_FAILURE, _("the PDF signer has no EC public key"))
        key.verify(signed.signature, signed.to_sign, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return _bad("signature", SIG_CRYPTO_FAILURE,
                    _("the PDF's CMS signature does not verify with its signer certificate"))
    except ValueError as exc:
        return _bad("signature", FORMAT_FAILURE,
                    _("the PDF signer certificate: {error}", error=exc))
    level = _("B-T (signature-time-stamp present)") if signed.timestamped else "B-B"
    return _ok("signature", _("PAdES {level} CMS signature verifies with {subject}",
                              level=level, subject=cert.subject.rfc4514_string()))


def _joined(details: Iterable[str]) -> str:
    """Sentences of one check, one after the other (；in Chinese)."""
    return _("; ").join(details)


def _merge(name: str, parts: Sequence[CheckResult]) -> CheckResult:
    """One check from the PDF's and the record's results: the worst status wins."""
    for status in (CheckStatus.INVALID, CheckStatus.INDETERMINATE):
        bad = [p for p in parts if p.status is status]
        if bad:
            return CheckResult(name, status, bad[0].reason, _joined(p.detail for p in bad))
    valid = [p for p in parts if p.status is CheckStatus.VALID]
    if valid:  # a pass with a limit (revocation not checked …) keeps saying so
        reason = next((p.reason for p in valid if p.reason != "ok"), "ok")
        return CheckResult(name, CheckStatus.VALID, reason, _joined(p.detail for p in valid))
    return parts[-1]


def verify_pdf_bytes(
    data: bytes, *, anchors: Sequence[x509.Certificate], at: dt.datetime, subject: str
) -> VerificationReport:
    """:func:`verify_pdf` on bytes already read."""
    try:
        found = find_signature(data)
        signed = _parse_cms(found.cms_der)
    except VerificationError as exc:
        return VerificationReport.format_failure(subject=subject, detail=str(exc),
                                                 validation_time=at)
    pdf_checks: dict[str, list[CheckResult]] = {n: [] for n in CHECK_NAMES}
    pdf_checks["format"].append(_ok("format", _("one PAdES signature: CMS SignedData, "
                                                "SHA-256, ECDSA")))
    integrity = _integrity(data, found, signed)
    pdf_checks["integrity"].append(integrity)
    pdf_checks["signature"].append(_cms_signature(signed))
    if integrity.status is CheckStatus.INVALID:
        # The signed bytes changed: what they say can no longer be trusted or even parsed.
        checks = [_merge(n, pdf_checks[n]) if pdf_checks[n] else
                  CheckResult(n, CheckStatus.SKIPPED, "changed", _("the signed bytes were changed"))
                  for n in CHECK_NAMES]
        return VerificationReport.from_checks(subject=subject, identifier=None, checks=checks,
                                              validation_time=at)
    try:
        content = read_pdf(data)
        if content.signature_der is None:
            raise VerificationError(_("the PDF carries no embedded signature.der (SES_Signature)"),
                                    sub_indication=FORMAT_FAILURE)
        ses = parse_signature(content.signature_der)
    except VerificationError as exc:
        return VerificationReport.format_failure(subject=subject, detail=str(exc),
                                                 validation_time=at)
    disagreement = _agreement(content)
    if disagreement is not None:
        pdf_checks["integrity"].append(disagreement)
    try:
        seal_certs = parse_seal(ses.seal_der).cert_list
    except VerificationError:
        seal_certs = ()  # the Verifier reports the malformed seal
    if signed.signer_der != ses.cert_der or signed.signer_der not in seal_certs:
        pdf_checks["authorization"].append(_bad(
            "authorization", NOT_AUTHORIZED,
            _("the PDF is signed by a certificate other than the seal's signer")))
    else:
        pdf_checks["authorization"].append(_ok(
            "authorization", _("the PDF is signed by the seal's signer certificate")))

    core = Verifier(anchors=anchors, at=at).verify(
        content.record, content.signature_der or b"", subject=subject)
    checks = [_merge(n, [*pdf_checks[n], core.check(n)]) for n in CHECK_NAMES]
    return VerificationReport.from_checks(subject=subject, identifier=core.identifier,
                                          checks=checks, validation_time=at)


def verify_pdf(
    path: Path, *, anchors: Sequence[x509.Certificate], at: dt.datetime
) -> VerificationReport:
    """Verify a rendition from the file alone; an unreadable file is a FORMAT_FAILURE."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return VerificationReport.format_failure(
            subject=str(path),
            detail=_("cannot read {path}: {error}", path=path, error=os_reason(exc)),
            validation_time=at)
    return verify_pdf_bytes(data, anchors=anchors, at=at, subject=str(path))
