"""Export bundles: one sealed license as a directory an auditor can verify offline.

A bundle holds :data:`BUNDLE_FILES`, :data:`MANIFEST_FILE`, and :data:`PROOF_FILE` once a
checkpoint covers the license::

    license.json    the record, verbatim: the exact signed bytes (RFC 8785 JSON of the elements)
    signature.der   the GB/T 38540 v4 SES_Signature
    seal.der        the SESeal, also embedded in the signature (kept apart for inspection)
    chain.pem       the certificates between the signer and the trust anchor (maker CA, root)
    manifest.json   whether the bundle carries the log proof and, if not, why; the license's
                    status in the registry when it was exported (unsigned: it informs the
                    report, it never decides it)
    proof.json      transparency-log inclusion proof + signed checkpoint (registry.tlog.proof)

A bundle without ``proof.json`` is INDETERMINATE / LOG_PROOF_MISSING for the log check:
nothing in it shows the license is in the log (bundles written before manifests existed have
none; they are read the same way).

Example::

    write_bundle(out, record=record, signature_der=sig, seal_der=seal, chain=[maker, root])
    report = verify_bundle(out, anchors=load_anchors(Path("root.pem")), at=now)

Verifying many bundles, pass one ``verifier`` and ``checker`` to all of them so the per-seal
and per-checkpoint work is done once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    FORMAT_FAILURE,
    LOG_INCLUSION_FAILURE,
    LOG_PROOF_MISSING,
    NO_CERTIFICATE_CHAIN_FOUND,
    OUT_OF_BOUNDS_NO_POE,
    CheckResult,
    CheckStatus,
    VerificationReport,
    license_status_text,
)

__all__ = [
    "BUNDLE_FILES",
    "MANIFEST_FILE",
    "MANIFEST_TYPE",
    "PROOF_FILE",
    "BundleManifest",
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
MANIFEST_FILE = "manifest.json"
"""What the bundle says about itself (:class:`BundleManifest`)."""
MANIFEST_TYPE = "licreg-export-bundle/1"
_UNDECIDED = frozenset({NO_CERTIFICATE_CHAIN_FOUND, OUT_OF_BOUNDS_NO_POE})


@dataclass(frozen=True)
class BundleManifest:
    """``manifest.json``: what the exporter knew. Unsigned (anyone holding the bundle can edit
    it), so the verifier reports it beside its checks and never lets it decide a verdict."""

    identifier: str | None
    """The license the bundle is for."""
    log_proof: bool
    """Whether the bundle carries :data:`PROOF_FILE`."""
    no_log_proof: str | None = None
    """Why it does not, in the exporter's words (no checkpoint covered the license yet …)."""
    status: str | None = None
    """The license's status in the registry at ``exported_at`` (VALID, SUPERSEDED …)."""
    superseded_by: str | None = None
    """For a SUPERSEDED license, the version that replaced it."""
    exported_at: dt.datetime | None = None
    """When the bundle was written."""

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {
            "type": MANIFEST_TYPE,
            "identifier": self.identifier,
            "log_proof": PROOF_FILE if self.log_proof else None,
            "no_log_proof": self.no_log_proof,
            "status": self.status,
            "superseded_by": self.superseded_by,
            "exported_at": self.exported_at.isoformat() if self.exported_at else None,
        }
        return json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"

    @classmethod
    def parse(cls, raw: bytes) -> BundleManifest:
        """Read a manifest; VerificationError (FORMAT_FAILURE) when it is not one."""
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict) or doc.get("type") != MANIFEST_TYPE:
                raise ValueError(MANIFEST_TYPE)
            text = {k: doc.get(k) for k in ("identifier", "no_log_proof", "status",
                                            "superseded_by", "exported_at")}
            if not all(v is None or isinstance(v, str) for v in text.values()):
                raise ValueError("a field is not a string")
            when = text.pop("exported_at")
            return cls(log_proof=doc.get("log_proof") == PROOF_FILE,
                       exported_at=dt.datetime.fromisoformat(when) if when else None, **text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise VerificationError(_("{file} is not a {kind} manifest", file=MANIFEST_FILE,
                                      kind=MANIFEST_TYPE),
                                    sub_indication=FORMAT_FAILURE) from exc


def write_bundle(
    out: Path,
    *,
    record: bytes,
    signature_der: bytes,
    seal_der: bytes,
    chain: Sequence[x509.Certificate],
    proof: bytes | None = None,
    manifest: BundleManifest | None = None,
) -> None:
    """Write a bundle directory (created if needed): :data:`BUNDLE_FILES`, :data:`PROOF_FILE`
    when ``proof`` is given, and :data:`MANIFEST_FILE` (``manifest``, its ``log_proof`` set
    from ``proof``; without one, a manifest that says only that)."""
    out.mkdir(parents=True, exist_ok=True)
    pem = b"".join(cert.public_bytes(Encoding.PEM) for cert in chain)
    for name, data in zip(BUNDLE_FILES, (record, signature_der, seal_der, pem), strict=True):
        (out / name).write_bytes(data)
    if proof is not None:
        (out / PROOF_FILE).write_bytes(proof)
    manifest = manifest or BundleManifest(identifier=None, log_proof=False)
    (out / MANIFEST_FILE).write_bytes(
        dataclasses.replace(manifest, log_proof=proof is not None).to_json())


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
    manifest = None
    if (path / MANIFEST_FILE).exists():
        try:
            manifest = BundleManifest.parse((path / MANIFEST_FILE).read_bytes())
        except (OSError, VerificationError) as exc:
            detail = (str(exc) if isinstance(exc, VerificationError) else
                      _("{file} cannot be read: {error}", file=MANIFEST_FILE,
                        error=os_reason(exc)))
            return VerificationReport.format_failure(subject=subject, detail=detail,
                                                     validation_time=at)
    proof_path = path / PROOF_FILE
    if not proof_path.exists():
        evidence = LogEvidence.undecided(LOG_PROOF_MISSING, _missing_proof(manifest))
    else:
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
    report = verifier.verify(
        contents["license.json"], signature_der, subject=subject, extra_certs=chain,
        log=evidence,
    )
    return report if manifest is None else _with_stated_status(report, manifest)


def _missing_proof(manifest: BundleManifest | None) -> str:
    """The log check's detail for a bundle without proof.json."""
    if manifest is None:
        return _("the bundle carries no {file} and no manifest: nothing shows the license is in "
                 "the transparency log", file=PROOF_FILE)
    if manifest.log_proof:
        return _("the manifest lists {file} but the bundle does not carry it: it was removed",
                 file=PROOF_FILE)
    return _("the bundle carries no {file}: nothing shows the license is in the transparency "
             "log; the exporter says: {why}", file=PROOF_FILE,
             why=manifest.no_log_proof or _("no reason given"))


def _with_stated_status(report: VerificationReport,
                        manifest: BundleManifest) -> VerificationReport:
    """A status check made without a status source says what the manifest states (as the
    exporter's unsigned word, not as a check)."""
    status = report.check("status")
    if status.status is not CheckStatus.SKIPPED or manifest.status is None:
        return report
    stated = license_status_text(manifest.status)
    if manifest.superseded_by:
        stated = _("{status} (superseded by {successor})", status=stated,
                   successor=manifest.superseded_by)
    when = (china_text(manifest.exported_at, seconds=True) if manifest.exported_at
            else _("an unknown time"))
    detail = _("{detail}; the bundle's manifest (unsigned, not checked) says the registry held "
               "it as {stated} when it was exported at {when}", detail=status.detail,
               stated=stated, when=when)
    return VerificationReport.from_checks(
        subject=report.subject, identifier=report.identifier,
        validation_time=report.validation_time,
        checks=[CheckResult("status", status.status, status.reason, detail)
                if c.name == "status" else c for c in report.checks])
