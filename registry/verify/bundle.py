"""Export bundles: one sealed license as a directory an auditor can verify offline.

A bundle holds exactly :data:`BUNDLE_FILES`::

    license.json    the record, verbatim: the exact signed bytes (RFC 8785 JSON of the elements)
    signature.der   the GB/T 38540 v4 SES_Signature
    seal.der        the SESeal, also embedded in the signature (kept apart for inspection)
    chain.pem       the certificates between the signer and the trust anchor (maker CA, root)

Example::

    write_bundle(out, record=record, signature_der=sig, seal_der=seal, chain=[maker, root])
    report = verify_bundle(out, anchors=load_anchors(Path("root.pem")), at=now)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from registry.errors import ConfigError, VerificationError
from registry.seal.signature import parse_signature
from registry.verify.core import Verifier
from registry.verify.report import VerificationReport

__all__ = ["BUNDLE_FILES", "load_anchors", "verify_bundle", "write_bundle"]

BUNDLE_FILES = ("license.json", "signature.der", "seal.der", "chain.pem")
"""The files of a bundle, in the order they are written."""


def write_bundle(
    out: Path,
    *,
    record: bytes,
    signature_der: bytes,
    seal_der: bytes,
    chain: Sequence[x509.Certificate],
) -> None:
    """Write a bundle directory (created if needed) holding exactly :data:`BUNDLE_FILES`."""
    out.mkdir(parents=True, exist_ok=True)
    pem = b"".join(cert.public_bytes(Encoding.PEM) for cert in chain)
    for name, data in zip(BUNDLE_FILES, (record, signature_der, seal_der, pem), strict=True):
        (out / name).write_bytes(data)


def load_anchors(path: Path) -> list[x509.Certificate]:
    """The trust anchors in a PEM file (one or more certificates)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read trust anchors {path}: {exc.strerror or exc}") from exc
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ConfigError(f"{path} holds no PEM certificates usable as trust anchors") from exc


def verify_bundle(
    path: Path, *, anchors: Sequence[x509.Certificate], at: dt.datetime
) -> VerificationReport:
    """Verify a bundle directory. A missing or malformed file is a FORMAT_FAILURE report."""
    subject = str(path)
    contents: dict[str, bytes] = {}
    for name in BUNDLE_FILES:
        try:
            contents[name] = (path / name).read_bytes()
        except OSError as exc:
            detail = f"bundle file {name} cannot be read: {exc.strerror or exc}"
            return VerificationReport.format_failure(
                subject=subject, detail=detail, validation_time=at
            )
    try:
        chain = (
            x509.load_pem_x509_certificates(contents["chain.pem"])
            if contents["chain.pem"].strip()
            else []
        )
    except ValueError:
        return VerificationReport.format_failure(
            subject=subject,
            detail="chain.pem holds no readable PEM certificates",
            validation_time=at,
        )
    signature_der = contents["signature.der"]
    try:
        embedded = parse_signature(signature_der)
    except VerificationError:
        embedded = None  # the Verifier reports the format failure in full
    if embedded is not None and embedded.seal_der != contents["seal.der"]:
        return VerificationReport.format_failure(
            subject=subject,
            detail="seal.der differs from the seal embedded in signature.der",
            validation_time=at,
            identifier=embedded.property_info,
        )
    verifier = Verifier(anchors=anchors, at=at)
    return verifier.verify(
        contents["license.json"], signature_der, subject=subject, extra_certs=chain
    )
