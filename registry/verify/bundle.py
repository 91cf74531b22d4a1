"""Export bundles: one sealed license as a directory an auditor can verify offline.

A bundle holds :data:`BUNDLE_FILES`, and :data:`PROOF_FILE` once a checkpoint covers the
license::

    license.json    the record, verbatim: the exact signed bytes (RFC 8785 JSON of the elements)
    signature.der   the GB/T 38540 v4 SES_Signature
    seal.der        the SESeal, also embedded in the signature (kept apart for inspection)
    chain.pem       the certificates between the signer and the trust anchor (maker CA, root)
    proof.json      transparency-log inclusion proof + signed checkpoint (registry.tlog.proof)

Example::

    write_bundle(out, record=record, signature_der=sig, seal_der=seal, chain=[maker, root])
    report = verify_bundle(out, anchors=load_anchors(Path("root.pem")), at=now)

Verifying many bundles, pass one ``verifier`` and ``checker`` to all of them so the per-seal
and per-checkpoint work is done once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from registry.clock import china_text
from registry.errors import ConfigError, VerificationError
from registry.i18n import _, os_reason
from registry.seal.signature import parse_signature
from registry.tlog.checkpoint import CheckpointChecker
from registry.tlog.proof import check_inclusion, parse_proof
from registry.verify.core import Verifier
from registry.verify.evidence import LogEvidence
from registry.verify.report import (
    LOG_INCLUSION_FAILURE,
    NO_CERTIFICATE_CHAIN_FOUND,
    OUT_OF_BOUNDS_NO_POE,
    VerificationReport,
    license_status_text,
)

__all__ = [
    "BUNDLE_FILES",
    "PROOF_FILE",
    "load_anchors",
    "proof_evidence",
    "read_crl_files",
    "verify_bundle",
    "write_bundle",
]

BUNDLE_FILES = ("license.json", "signature.der", "seal.der", "chain.pem")
"""The files every bundle has, in the order they are written."""
PROOF_FILE = "proof.json"
"""The log inclusion proof, present once a checkpoint covers the license."""
_UNDECIDED = frozenset({NO_CERTIFICATE_CHAIN_FOUND, OUT_OF_BOUNDS_NO_POE})


def write_bundle(
    out: Path,
    *,
    record: bytes,
    signature_der: bytes,
    seal_der: bytes,
    chain: Sequence[x509.Certificate],
    proof: bytes | None = None,
) -> None:
    """Write a bundle directory (created if needed): :data:`BUNDLE_FILES`, and
    :data:`PROOF_FILE` when ``proof`` is given."""
    out.mkdir(parents=True, exist_ok=True)
    pem = b"".join(cert.public_bytes(Encoding.PEM) for cert in chain)
    for name, data in zip(BUNDLE_FILES, (record, signature_der, seal_der, pem), strict=True):
        (out / name).write_bytes(data)
    if proof is not None:
        (out / PROOF_FILE).write_bytes(proof)


def load_anchors(path: Path) -> list[x509.Certificate]:
    """The trust anchors in a PEM file (one or more certificates)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(_("cannot read trust anchors {path}: {error}", path=path,
                            error=os_reason(exc))) from exc
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ConfigError(_("{path} holds no PEM certificates usable as trust anchors",
                            path=path)) from exc


def read_crl_files(paths: Sequence[Path]) -> list[x509.CertificateRevocationList]:
    """The CRLs in PEM (one or more per file) or DER files."""
    crls: list[x509.CertificateRevocationList] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(_("cannot read CRL file {path}: {error}", path=path,
                                error=os_reason(exc))) from exc
        try:
            if b"-----BEGIN X509 CRL-----" in data:
                for block in data.split(b"-----END X509 CRL-----")[:-1]:
                    crls.append(x509.load_pem_x509_crl(block + b"-----END X509 CRL-----\n"))
            else:
                crls.append(x509.load_der_x509_crl(data))
        except ValueError as exc:
            raise ConfigError(_("{path} holds no readable CRL", path=path)) from exc
    return crls


def proof_evidence(raw: bytes, checker: CheckpointChecker) -> LogEvidence:
    """What a ``proof.json`` proves: the leaf it includes and its checkpoint's time as POE."""
    try:
        proof = parse_proof(raw)
        leaf = check_inclusion(proof, checker)
    except VerificationError as exc:
        if exc.sub_indication in _UNDECIDED:
            return LogEvidence.undecided(exc.sub_indication,
                                         _("log checkpoint: {problem}", problem=exc))
        return LogEvidence.failed(LOG_INCLUSION_FAILURE, str(exc))
    cp = proof.checkpoint
    return LogEvidence.included(
        identifier=leaf.identifier,
        data_hash=leaf.data_hash,
        poe=cp.time,
        detail=_("leaf {index} ({operate_type} {status} at {time}) is in checkpoint {origin} "
                 "size {size} signed {signed}", index=proof.leaf_index,
                 operate_type=leaf.operate_type, status=license_status_text(leaf.status),
                 time=china_text(leaf.time, seconds=True), origin=cp.origin, size=cp.tree_size,
                 signed=china_text(cp.time, seconds=True)),
    )


def verify_bundle(
    path: Path,
    *,
    anchors: Sequence[x509.Certificate],
    at: dt.datetime,
    crls: Sequence[x509.CertificateRevocationList] = (),
    verifier: Verifier | None = None,
    checker: CheckpointChecker | None = None,
) -> VerificationReport:
    """Verify a bundle directory. A missing or malformed file is a FORMAT_FAILURE report.

    ``verifier`` and ``checker`` (optional, for many bundles) must have been built with the
    same ``anchors``, ``at`` and ``crls``.
    """
    subject = str(path)
    contents: dict[str, bytes] = {}
    for name in BUNDLE_FILES:
        try:
            contents[name] = (path / name).read_bytes()
        except OSError as exc:
            detail = _("bundle file {name} cannot be read: {error}", name=name,
                       error=os_reason(exc))
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
            detail=_("chain.pem holds no readable PEM certificates"),
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
            detail=_("seal.der differs from the seal embedded in signature.der"),
            validation_time=at,
            identifier=embedded.property_info,
        )
    evidence = None
    proof_path = path / PROOF_FILE
    if proof_path.exists():
        try:
            raw = proof_path.read_bytes()
        except OSError as exc:
            evidence = LogEvidence.failed(
                LOG_INCLUSION_FAILURE,
                _("{file} cannot be read: {error}", file=PROOF_FILE, error=os_reason(exc))
            )
        else:
            evidence = proof_evidence(raw, checker or CheckpointChecker(anchors))
    if verifier is None:
        verifier = Verifier(anchors=anchors, at=at, crls=crls)
    return verifier.verify(
        contents["license.json"], signature_der, subject=subject, extra_certs=chain,
        log=evidence,
    )
