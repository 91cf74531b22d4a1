"""Verify one sealed license: its record bytes and its GB/T 38540 v4 SES_Signature.

Used by the auditor's CLI and by the mock provincial endpoint on every pushed item, so a
:class:`Verifier` caches what does not change between licenses of one seal, keyed by the exact
DER bytes: the parsed seal and the maker's signature over it, each parsed certificate, and each
certificate path. After the first license of a seal only the record hash, one JSON parse and one
ECDSA verification remain per license. Trust anchors and the validation time are fixed per
instance (make a new Verifier to change them).

Example::

    verifier = Verifier(anchors=[root_cert], at=now)
    report = verifier.verify(record, signature_der, subject=identifier)
    assert report.indication is Indication.PASSED

The steps, numbered as in the comments below (GB/T 38540 signature verification, STANDARDS.md
§3.5, with DESIGN.md's verdict table):

(1) format, (2) integrity, (3) signature, (4) seal, (5) signer_certificate, (6) authorization,
(7) status, (8) log_inclusion. Later checks still run after an earlier one fails, so a report
lists everything wrong at once; only a format failure skips the rest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from registry.errors import VerificationError
from registry.seal.asn1 import CERT_LIST_CERTS, ECDSA_WITH_SHA256, SEAL_VERSION
from registry.seal.making import SealInfo, parse_seal
from registry.seal.pki import department_code_of
from registry.seal.signature import ParsedSignature, parse_signature
from registry.verify.report import (
    FORMAT_FAILURE,
    HASH_FAILURE,
    NO_CERTIFICATE_CHAIN_FOUND,
    NOT_AUTHORIZED,
    NOT_YET_VALID,
    OUT_OF_BOUNDS_NO_POE,
    SIG_CRYPTO_FAILURE,
    CheckResult,
    CheckStatus,
    VerificationReport,
)

__all__ = ["Verifier"]

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_MAX_PATH = 6  # certificates in a path, anchor included; ours is 3
_CACHE_LIMIT = 4096  # entries per cache; a flood of distinct seals cannot grow memory forever
_DIGEST_NAMES = frozenset({"SHA256", "SHA-256"})  # certDigestList type naming SHA-256


@dataclass(frozen=True)
class _Cert:
    """A parsed certificate and the facts verification keeps asking for."""

    der: bytes
    cert: x509.Certificate
    public_key: ec.EllipticCurvePublicKey | None
    not_before: dt.datetime
    not_after: dt.datetime
    is_ca: bool
    path_length: int | None
    can_sign_certs: bool
    department: str | None
    label: str
    """The subject as an RFC 4514 string, for report details (computed once: it is slow)."""


@dataclass(frozen=True)
class _Seal:
    """A parsed seal with its maker signature already checked (step 4, time-independent part)."""

    info: SealInfo | None
    maker: _Cert | None
    problem: CheckResult | None
    """The seal check's result when it fails regardless of the signing time."""


@dataclass(frozen=True)
class _Path:
    """A certificate path from a certificate up to a trust anchor, or why there is none."""

    certs: tuple[_Cert, ...]
    problem: str | None
    description: str = ""
    """The path as "leaf → … → anchor", for report details."""


def _load_cert(der: bytes) -> _Cert:
    cert = x509.load_der_x509_certificate(der)
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca, path_length = bc.ca, bc.path_length
    except x509.ExtensionNotFound:
        is_ca, path_length = False, None
    try:
        can_sign = cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        can_sign = True  # no KeyUsage extension: usage unrestricted (RFC 5280 4.2.1.3)
    try:
        key = cert.public_key()
    except UnsupportedAlgorithm:
        key = None  # reported as "no EC public key" where a key is needed
    return _Cert(
        der=der,
        cert=cert,
        public_key=key if isinstance(key, ec.EllipticCurvePublicKey) else None,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        is_ca=is_ca,
        path_length=path_length,
        can_sign_certs=can_sign,
        department=department_code_of(cert),
        label=cert.subject.rfc4514_string(),
    )


def _issued_by(child: _Cert, issuer: _Cert) -> bool:
    try:
        child.cert.verify_directly_issued_by(issuer.cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _ok(name: str, detail: str) -> CheckResult:
    return CheckResult(name, CheckStatus.VALID, "ok", detail)


def _bad(name: str, reason: str, detail: str) -> CheckResult:
    return CheckResult(name, CheckStatus.INVALID, reason, detail)


def _unsure(name: str, reason: str, detail: str) -> CheckResult:
    return CheckResult(name, CheckStatus.INDETERMINATE, reason, detail)


def _skip(name: str, reason: str, detail: str) -> CheckResult:
    return CheckResult(name, CheckStatus.SKIPPED, reason, detail)


def _iso(when: dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


class Verifier:
    """Verifies sealed licenses against fixed trust anchors at a fixed validation time.

    The caches are plain dicts filled on a miss; sharing one Verifier between threads is safe
    in CPython (a race only computes an entry twice), and each cache is cleared when it reaches
    a few thousand entries, so a stream of distinct seals cannot grow memory without bound.
    """

    def __init__(self, *, anchors: Sequence[x509.Certificate], at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("the validation time must be an aware datetime")
        self._at = at
        self._anchors = tuple(_load_cert(a.public_bytes(Encoding.DER)) for a in anchors)
        self._anchor_ders = frozenset(a.der for a in self._anchors)
        self._certs: dict[bytes, _Cert | str] = {}
        self._seals: dict[bytes, _Seal] = {}
        self._paths: dict[tuple[bytes, tuple[bytes, ...]], _Path] = {}

    # -- caches ---------------------------------------------------------------------------

    def _cert(self, der: bytes) -> _Cert | str:
        """The parsed certificate, or a sentence saying why it cannot be parsed."""
        found = self._certs.get(der)
        if found is None:
            try:
                found = _load_cert(der)
            except ValueError as exc:
                found = f"not a DER X.509 certificate ({exc})"
            if len(self._certs) >= _CACHE_LIMIT:
                self._certs.clear()
            self._certs[der] = found
        return found

    def _seal(self, der: bytes) -> _Seal:
        found = self._seals.get(der)
        if found is None:
            found = self._check_seal(der)
            if len(self._seals) >= _CACHE_LIMIT:
                self._seals.clear()
            self._seals[der] = found
        return found

    def _path(self, leaf: _Cert, pool: tuple[bytes, ...]) -> _Path:
        key = (leaf.der, pool)
        found = self._paths.get(key)
        if found is None:
            found = self._build_path(leaf, pool)
            if len(self._paths) >= _CACHE_LIMIT:
                self._paths.clear()
            self._paths[key] = found
        return found

    # -- time-independent work, done once per seal / certificate --------------------------

    def _check_seal(self, der: bytes) -> _Seal:
        """(4) seal, the part that does not depend on the signing time."""
        try:
            info = parse_seal(der)
        except VerificationError as exc:
            return _Seal(None, None, _bad("seal", FORMAT_FAILURE, str(exc)))
        if info.sign_algorithm != ECDSA_WITH_SHA256:
            detail = f"seal signAlgID {info.sign_algorithm} is not ecdsa-with-SHA256"
            return _Seal(info, None, _bad("seal", FORMAT_FAILURE, detail))
        maker = self._cert(info.maker_cert_der)
        if isinstance(maker, str):
            return _Seal(
                info, None, _bad("seal", FORMAT_FAILURE, f"seal maker certificate {maker}")
            )
        if maker.public_key is None:
            detail = f"seal maker certificate {maker.label} has no EC public key"
            return _Seal(info, maker, _bad("seal", SIG_CRYPTO_FAILURE, detail))
        try:
            maker.public_key.verify(info.signed_value, info.sealinfo_der, _ECDSA_SHA256)
        except InvalidSignature:
            detail = f"the seal maker's signature over seal {info.es_id} does not verify"
            return _Seal(info, maker, _bad("seal", SIG_CRYPTO_FAILURE, detail))
        return _Seal(info, maker, None)

    def _build_path(self, leaf: _Cert, pool_ders: tuple[bytes, ...]) -> _Path:
        """(5) a path leaf → intermediates (from the seal and extra certs) → a trust anchor."""
        pool = [c for c in (self._cert(d) for d in pool_ders) if not isinstance(c, str)]
        path = [leaf]
        current = leaf
        while len(path) <= _MAX_PATH:
            if current.der in self._anchor_ders:
                return _Path(tuple(path), None, " → ".join(c.label for c in path))
            issuer = None
            for candidate in (*self._anchors, *pool):
                if (
                    any(candidate.der == p.der for p in path)
                    or candidate.cert.subject != current.cert.issuer
                ):
                    continue
                if not (candidate.is_ca and candidate.can_sign_certs):
                    continue
                # pathLenConstraint counts the CA certificates below this one, leaf excluded.
                if candidate.path_length is not None and len(path) - 1 > candidate.path_length:
                    continue
                if _issued_by(current, candidate):
                    issuer = candidate
                    break
            if issuer is None:
                issuer_name = current.cert.issuer.rfc4514_string()
                return _Path(
                    tuple(path), f"no trusted issuer for {current.label} (issuer {issuer_name})"
                )
            path.append(issuer)
            current = issuer
        return _Path(tuple(path), f"certificate path longer than {_MAX_PATH}")

    # -- the steps ------------------------------------------------------------------------

    def verify(
        self,
        record: bytes,
        signature_der: bytes,
        *,
        subject: str,
        extra_certs: Sequence[x509.Certificate] = (),
        status: str | None = None,
    ) -> VerificationReport:
        """Verify ``record`` (the exact signed bytes) against ``signature_der``.

        ``extra_certs`` may supply intermediate certificates; ``status`` is the license's
        current status from a status source (None: no source, the check is SKIPPED).
        """
        # (1) format: a GB/T 38540 v4 SES_Signature with the algorithm we can check.
        try:
            sig = parse_signature(signature_der)
        except VerificationError as exc:
            return VerificationReport.format_failure(
                subject=subject, detail=str(exc), validation_time=self._at
            )
        problem = None
        if sig.version != SEAL_VERSION:
            problem = f"TBS_Sign version {sig.version}, expected {SEAL_VERSION} (GB/T 38540-2020)"
        elif sig.algorithm != ECDSA_WITH_SHA256:
            problem = f"signatureAlgID {sig.algorithm} is not ecdsa-with-SHA256"
        if problem is not None:
            return VerificationReport.format_failure(
                subject=subject,
                detail=problem,
                validation_time=self._at,
                identifier=sig.property_info,
            )
        checks = [_ok("format", "GB/T 38540 v4 SES_Signature, ecdsa-with-SHA256")]

        integrity, elements = self._integrity(record, sig)
        checks.append(integrity)
        signer = self._cert(sig.cert_der)
        checks.append(self._signature(sig, signer))
        seal = self._seal(sig.seal_der)
        checks.append(self._seal_in_time(seal, sig.signed_at))
        extra = tuple(c.public_bytes(Encoding.DER) for c in extra_certs)
        checks.append(self._chain(signer, seal, extra, sig.signed_at))
        checks.append(self._authorization(sig, signer, seal, elements))
        checks.append(self._status(status))
        # (8) log inclusion: the transparency log's proofs are checked by a later issue.
        checks.append(_skip("log_inclusion", "no proof", "no transparency log proof supplied"))
        return VerificationReport.from_checks(
            subject=subject,
            identifier=sig.property_info,
            checks=checks,
            validation_time=self._at,
        )

    @staticmethod
    def _integrity(
        record: bytes, sig: ParsedSignature
    ) -> tuple[CheckResult, dict[str, Any] | None]:
        # (2) integrity: the record is the signed one, and it is the license the signature names.
        try:
            parsed = json.loads(record)
        except (ValueError, UnicodeDecodeError):
            parsed = None
        elements = parsed if isinstance(parsed, dict) else None
        if hashlib.sha256(record).digest() != sig.data_hash:
            return (
                _bad("integrity", HASH_FAILURE, "SHA-256 of the record differs from dataHash"),
                elements,
            )
        if elements is None:
            return _bad("integrity", HASH_FAILURE, "the signed record is not a JSON object"), None
        zzbs = elements.get("ZZBS")
        if zzbs != sig.property_info:
            detail = f"the signature is for {sig.property_info}, the record is {zzbs!r}"
            return _bad("integrity", HASH_FAILURE, detail), elements
        return _ok(
            "integrity", "SHA-256 of the record equals dataHash; ZZBS = propertyInfo"
        ), elements

    @staticmethod
    def _signature(sig: ParsedSignature, signer: _Cert | str) -> CheckResult:
        # (3) signature: the signer's signature over DER(TBS_Sign), with the embedded certificate.
        if isinstance(signer, str):
            return _bad("signature", FORMAT_FAILURE, f"signer certificate is {signer}")
        if signer.public_key is None:
            return _bad("signature", SIG_CRYPTO_FAILURE, f"{signer.label} has no EC public key")
        try:
            signer.public_key.verify(sig.signature, sig.tbs_der, _ECDSA_SHA256)
        except InvalidSignature:
            detail = f"the signature over TBS_Sign does not verify with {signer.label}"
            return _bad("signature", SIG_CRYPTO_FAILURE, detail)
        return _ok("signature", f"ECDSA P-256/SHA-256 over TBS_Sign verifies with {signer.label}")

    @staticmethod
    def _seal_in_time(seal: _Seal, signed_at: dt.datetime) -> CheckResult:
        # (4) seal: maker signature (cached), then timeInfo within [validStart, validEnd].
        if seal.problem is not None:
            return seal.problem
        assert seal.info is not None  # a seal without a problem was parsed
        info = seal.info
        if not info.valid_start <= signed_at <= info.valid_end:
            detail = (
                f"signed at {_iso(signed_at)}, outside seal {info.es_id}'s validity "
                f"{_iso(info.valid_start)} .. {_iso(info.valid_end)}, and no proof of existence"
            )
            return _unsure("seal", OUT_OF_BOUNDS_NO_POE, detail)
        return _ok(
            "seal",
            f"seal {info.es_id} ({info.name}) verifies with the maker certificate and was valid "
            f"at {_iso(signed_at)}",
        )

    def _chain(
        self, signer: _Cert | str, seal: _Seal, extra: tuple[bytes, ...], signed_at: dt.datetime
    ) -> CheckResult:
        # (5) signer_certificate: signer → maker/extra → anchor, and the maker → anchor too,
        # each certificate valid at the signing time. Revocation: no source yet (see detail).
        name = "signer_certificate"
        if isinstance(signer, str):
            return _skip(name, "no certificate", f"signer certificate is {signer}")
        pool = ((seal.maker.der,) if seal.maker is not None else ()) + extra
        paths = [self._path(signer, pool)]
        if seal.maker is not None:
            paths.append(self._path(seal.maker, extra))
        for path in paths:
            if path.problem is not None:
                return _unsure(name, NO_CERTIFICATE_CHAIN_FOUND, path.problem)
        for path in paths:
            for cert in path.certs:
                if signed_at < cert.not_before:
                    detail = (
                        f"signed at {_iso(signed_at)}, before {cert.label} became valid "
                        f"({_iso(cert.not_before)})"
                    )
                    return _bad(name, NOT_YET_VALID, detail)
                if signed_at > cert.not_after:
                    detail = (
                        f"signed at {_iso(signed_at)}, after {cert.label} expired "
                        f"({_iso(cert.not_after)}), and no proof of existence before that"
                    )
                    return _unsure(name, OUT_OF_BOUNDS_NO_POE, detail)
        chain = paths[0].description
        return _ok(
            name, f"{chain}; valid at signing time; revocation not checked (no revocation info)"
        )

    @staticmethod
    def _authorization(
        sig: ParsedSignature, signer: _Cert | str, seal: _Seal, elements: dict[str, Any] | None
    ) -> CheckResult:
        # (6) authorization: the signer is bound to the seal, the seal may seal this license
        # type, and the seal belongs to the department that issued the license.
        name = "authorization"
        info = seal.info
        if info is None:
            return _skip(name, "no seal", "the seal could not be read")
        if info.cert_list_type == CERT_LIST_CERTS:
            bound = sig.cert_der in info.cert_list
        else:
            digest = hashlib.sha256(sig.cert_der).digest()
            bound = any(t.upper() in _DIGEST_NAMES and v == digest for t, v in info.cert_digests)
        if not bound:
            detail = f"the signer certificate is not in seal {info.es_id}'s certList"
            return _bad(name, NOT_AUTHORIZED, detail)
        if elements is None:
            return _skip(name, "no record", "signer is in the certList; the record is unreadable")
        type_code = elements.get("ZZLXDM")
        if type_code not in info.authorized_types:
            detail = f"seal {info.es_id} is not authorized for license type {type_code!r}"
            return _bad(name, NOT_AUTHORIZED, detail)
        department = None if isinstance(signer, str) else signer.department
        issuer = elements.get("ZZBFJGDM")
        if department is None or issuer != department:
            detail = f"the license's issuer {issuer!r} is not the seal's department {department!r}"
            return _bad(name, NOT_AUTHORIZED, detail)
        return _ok(
            name,
            f"signer in seal {info.es_id}'s certList; type {type_code} authorized; "
            f"department {department}",
        )

    @staticmethod
    def _status(status: str | None) -> CheckResult:
        # (7) status: the license's own status from the registry or the platform.
        if status is None:
            return _skip("status", "no status source", "no license status was supplied")
        if status.upper() == "VALID":
            return _ok("status", "the license status is VALID")
        reason = f"LICENSE_{status.upper()}"
        return _bad("status", reason, f"the license status is {status.upper()}")
