"""Verify one sealed license: its record bytes and its GB/T 38540 v4 SES_Signature.

Used by the auditor's CLI, by ``verify --registry`` and by the mock provincial endpoint on
every pushed item, so a :class:`Verifier` caches what does not change between licenses of one
seal, keyed by the exact DER bytes: the parsed seal and the maker's signature over it, each
parsed certificate, each certificate path and its revocation status, and the (shared, frozen)
results of the checks that pass. After the first license of a seal only the record hash, one
JSON parse and one ECDSA verification remain per license. Trust anchors, CRLs and the
validation time are fixed per instance (make a new Verifier to change them).

Example::

    verifier = Verifier(anchors=[root_cert], at=now, crls=crls)
    report = verifier.verify(record, signature_der, subject=identifier, log=evidence)
    assert report.indication is Indication.PASSED

Revocation and expiry follow ETSI EN 319 102-1 with the transparency log's checkpoint as proof
of existence (POE): a certificate revoked at or before the signing time → FAILED/REVOKED;
revoked after it → PASSED only with a POE before the revocation, else
INDETERMINATE/REVOKED_NO_POE; expired before the validation time → PASSED only with a POE
before the expiry, else INDETERMINATE/OUT_OF_BOUNDS_NO_POE.

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
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import Encoding

from registry.clock import china_text
from registry.errors import VerificationError
from registry.i18n import _, current_language
from registry.seal.asn1 import CERT_LIST_CERTS, ECDSA_WITH_SHA256, SEAL_VERSION
from registry.seal.making import SealInfo, parse_seal
from registry.seal.pki import department_code_of
from registry.seal.signature import ParsedSignature, parse_signature
from registry.verify.evidence import LogEvidence
from registry.verify.report import (
    FORMAT_FAILURE,
    HASH_FAILURE,
    LOG_INCLUSION_FAILURE,
    NO_CERTIFICATE_CHAIN_FOUND,
    NOT_AUTHORIZED,
    NOT_YET_VALID,
    OUT_OF_BOUNDS_NO_POE,
    REVOKED,
    REVOKED_NO_POE,
    SIG_CRYPTO_FAILURE,
    CheckResult,
    CheckStatus,
    Supersession,
    VerificationReport,
    license_status_text,
)

__all__ = ["Verifier"]

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_ECDSA_PREHASHED = ec.ECDSA(utils.Prehashed(hashes.SHA256()))
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


@dataclass(frozen=True)
class _Revocation:
    """What the CRLs say about one certificate."""

    revoked_at: dt.datetime | None
    crl_time: dt.datetime | None
    """thisUpdate of the newest CRL of its issuer that was consulted (None: no CRL)."""


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _ok(name: str, detail: str) -> CheckResult:
    return CheckResult(name, CheckStatus.VALID, "ok", detail)


def _bad(name: str, reason: str, detail: str) -> CheckResult:
    return CheckResult(name, CheckStatus.INVALID, reason, detail)


def _unsure(name: str, reason: str, detail: str) -> CheckResult:
    return CheckResult(name, CheckStatus.INDETERMINATE, reason, detail)


def _skip(name: str, reason: str, detail: str) -> CheckResult:
    return CheckResult(name, CheckStatus.SKIPPED, reason, detail)


def _iso(when: dt.datetime) -> str:
    """A time in a report's text: Beijing time, the zone named (the JSON keeps ISO UTC)."""
    return china_text(when, seconds=True)


def _constant(key: str) -> CheckResult:
    """The results every report shares, in the reader's language (see Verifier._shared)."""
    if key == "format":
        return _ok("format", _("GB/T 38540 v4 SES_Signature, ecdsa-with-SHA256"))
    if key == "parts":
        return _ok("format", _("GB/T 38540 v4 SES_Signature kept as parts by the registry, "
                               "ecdsa-with-SHA256"))
    if key == "integrity":
        return _ok("integrity", _("SHA-256 of the record equals dataHash; ZZBS = propertyInfo"))
    if key == "log":
        return _skip("log_inclusion", "no proof", _("no transparency log proof supplied"))
    return _skip("status", "no status source", _("no license status was supplied"))


def _put(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


class Verifier:
    """Verifies sealed licenses against fixed trust anchors at a fixed validation time.

    ``crls`` are the certificate revocation lists to consult (each is used only for the
    certificates of the CA that signed it, and only when its signature verifies).

    The caches are plain dicts filled on a miss; sharing one Verifier between threads is safe
    in CPython (a race only computes an entry twice), and each cache is cleared when it reaches
    a few thousand entries, so a stream of distinct seals cannot grow memory without bound.
    """

    def __init__(
        self,
        *,
        anchors: Sequence[x509.Certificate],
        at: dt.datetime,
        crls: Sequence[x509.CertificateRevocationList] = (),
    ) -> None:
        if at.tzinfo is None:
            raise ValueError("the validation time must be an aware datetime")
        self._at = at
        self._anchors = tuple(_load_cert(a.public_bytes(Encoding.DER)) for a in anchors)
        self._anchor_ders = frozenset(a.der for a in self._anchors)
        self._crls = tuple(crls)
        self._certs: dict[bytes, _Cert | str] = {}
        self._seals: dict[bytes, _Seal] = {}
        self._paths: dict[tuple[bytes, tuple[bytes, ...]], _Path] = {}
        self._crl_ok: dict[tuple[int, bytes], bool] = {}
        self._revocations: dict[tuple[bytes, bytes], _Revocation] = {}
        # Frozen results of checks that depend only on the seal, certificates and times, so
        # thousands of reports share them (and pickle them once per chunk).
        self._results: dict[tuple[Any, ...], CheckResult] = {}
        self._times: dict[dt.datetime, bytes] = {}
        self._prefixes: dict[tuple[bytes, int], Any] = {}  # SHA-256 states after the seal
        self._language = current_language()
        """The language the cached sentences are in; another one empties those caches."""

    def _speaking(self) -> None:
        """Cached results hold sentences: keep them only while the reader's language holds."""
        lang = current_language()
        if lang != self._language:
            self._language = lang
            for cache in (self._certs, self._seals, self._paths, self._results):
                cache.clear()

    def _shared(self, key: str) -> CheckResult:
        found = self._results.get(("shared", key))
        if found is None:
            found = _constant(key)
            _put(self._results, ("shared", key), found)
        return found

    @property
    def validation_time(self) -> dt.datetime:
        return self._at

    # -- caches ---------------------------------------------------------------------------

    def _cert(self, der: bytes) -> _Cert | str:
        """The parsed certificate, or a sentence saying why it cannot be parsed."""
        found = self._certs.get(der)
        if found is None:
            try:
                found = _load_cert(der)
            except ValueError as exc:
                found = _("not a DER X.509 certificate ({error})", error=exc)
            _put(self._certs, der, found)
        return found

    def _seal(self, der: bytes) -> _Seal:
        found = self._seals.get(der)
        if found is None:
            found = self._check_seal(der)
            _put(self._seals, der, found)
        return found

    def _path(self, leaf: _Cert, pool: tuple[bytes, ...]) -> _Path:
        key = (leaf.der, pool)
        found = self._paths.get(key)
        if found is None:
            found = self._build_path(leaf, pool)
            _put(self._paths, key, found)
        return found

    # -- time-independent work, done once per seal / certificate --------------------------

    def _check_seal(self, der: bytes) -> _Seal:
        """(4) seal, the part that does not depend on the signing time."""
        try:
            info = parse_seal(der)
        except VerificationError as exc:
            return _Seal(None, None, _bad("seal", FORMAT_FAILURE, str(exc)))
        if info.sign_algorithm != ECDSA_WITH_SHA256:
            detail = _("seal signAlgID {algorithm} is not ecdsa-with-SHA256",
                       algorithm=info.sign_algorithm)
            return _Seal(info, None, _bad("seal", FORMAT_FAILURE, detail))
        maker = self._cert(info.maker_cert_der)
        if isinstance(maker, str):
            return _Seal(
                info, None,
                _bad("seal", FORMAT_FAILURE, _("seal maker certificate {problem}", problem=maker))
            )
        if maker.public_key is None:
            detail = _("seal maker certificate {subject} has no EC public key",
                       subject=maker.label)
            return _Seal(info, maker, _bad("seal", SIG_CRYPTO_FAILURE, detail))
        try:
            maker.public_key.verify(info.signed_value, info.sealinfo_der, _ECDSA_SHA256)
        except InvalidSignature:
            detail = _("the seal maker's signature over seal {seal} does not verify",
                       seal=info.es_id)
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
                return _Path(tuple(path), _("no trusted issuer for {subject} (issuer {issuer})",
                                            subject=current.label, issuer=issuer_name))
            path.append(issuer)
            current = issuer
        return _Path(tuple(path), _("certificate path longer than {n}", n=_MAX_PATH))

    def _revocation(self, cert: _Cert, issuer: _Cert) -> _Revocation:
        """(5b) what the CRLs signed by ``issuer`` say about ``cert`` (cached per pair)."""
        key = (cert.der, issuer.der)
        found = self._revocations.get(key)
        if found is not None:
            return found
        covered: list[dt.datetime] = []
        revoked_at = None
        for i, crl in enumerate(self._crls):
            if crl.issuer != issuer.cert.subject or not self._crl_signed_by(i, crl, issuer):
                continue
            covered.append(crl.last_update_utc)
            entry = crl.get_revoked_certificate_by_serial_number(cert.cert.serial_number)
            if entry is not None:
                when = entry.revocation_date_utc
                revoked_at = when if revoked_at is None else min(revoked_at, when)
        found = _Revocation(revoked_at, max(covered) if covered else None)
        _put(self._revocations, key, found)
        return found

    def _crl_signed_by(
        self, index: int, crl: x509.CertificateRevocationList, issuer: _Cert
    ) -> bool:
        key = (index, issuer.der)
        ok = self._crl_ok.get(key)
        if ok is None:
            ok = False
            try:
                crl_sign = issuer.cert.extensions.get_extension_for_class(x509.KeyUsage).value
                may_sign = crl_sign.crl_sign
            except x509.ExtensionNotFound:
                may_sign = True
            if may_sign and issuer.public_key is not None:
                ok = crl.is_signature_valid(issuer.public_key)
            self._crl_ok[key] = ok
        return ok

    # -- the steps ------------------------------------------------------------------------

    def verify(
        self,
        record: bytes,
        signature_der: bytes,
        *,
        subject: str,
        extra_certs: Sequence[x509.Certificate] = (),
        status: str | None = None,
        log: LogEvidence | None = None,
        poe: dt.datetime | None = None,
        superseded: Supersession | None = None,
    ) -> VerificationReport:
        """Verify ``record`` (the exact signed bytes) against ``signature_der``.

        ``extra_certs`` may supply intermediate certificates; ``status`` is the license's
        status at the validation time from a status source (None: the check is SKIPPED), and
        for a SUPERSEDED one ``superseded`` says by which version and when (the status check
        then says it was valid when issued: history, not a defect);
        ``log`` is what the transparency log says about the license (None: SKIPPED); ``poe``
        a time at which the signature is otherwise proven to have existed. The earliest proof
        of existence (``poe`` or the log's checkpoint) is what revocation and expiry use.
        """
        # (1) format: a GB/T 38540 v4 SES_Signature with the algorithm we can check.
        self._speaking()
        try:
            sig = parse_signature(signature_der)
        except VerificationError as exc:
            return VerificationReport.format_failure(
                subject=subject, detail=str(exc), validation_time=self._at
            )
        problem = None
        if sig.version != SEAL_VERSION:
            problem = _("TBS_Sign version {version}, expected {expected} (GB/T 38540-2020)",
                        version=sig.version, expected=SEAL_VERSION)
        elif sig.algorithm != ECDSA_WITH_SHA256:
            problem = _("signatureAlgID {algorithm} is not ecdsa-with-SHA256",
                        algorithm=sig.algorithm)
        if problem is not None:
            return VerificationReport.format_failure(
                subject=subject,
                detail=problem,
                validation_time=self._at,
                identifier=sig.property_info,
            )
        extra = tuple(c.public_bytes(Encoding.DER) for c in extra_certs)
        digest = hashlib.sha256(sig.tbs_der).digest()
        return self._verify_parsed(
            record, sig, digest, self._shared("format"), subject, extra, status, log, poe,
            superseded,
        )

    def verify_parts(
        self,
        record: bytes,
        *,
        seal_der: bytes,
        cert_der: bytes,
        signed_at: dt.datetime,
        data_hash: bytes,
        identifier: str,
        signature: bytes,
        subject: str,
        status: str | None = None,
        log: LogEvidence | None = None,
        poe: dt.datetime | None = None,
        superseded: Supersession | None = None,
    ) -> VerificationReport:
        """:meth:`verify` for a signature kept as its parts, as the registry stores it.

        The checks are those of ``verify(record, assemble(seal_der, cert_der, signed_at,
        data_hash, identifier, signature), …)``, but DER(TBS_Sign) is hashed from a SHA-256
        state cached per seal instead of being built and parsed again: a registry audit pays
        one ECDSA verification per license and little else.
        """
        self._speaking()
        if not identifier.isascii():
            return VerificationReport.format_failure(
                subject=subject,
                detail=_("propertyInfo {value!r} is not an IA5String", value=identifier),
                validation_time=self._at,
            )
        sig = ParsedSignature(
            tbs_der=b"",
            version=SEAL_VERSION,
            seal_der=seal_der,
            signed_at=signed_at,
            data_hash=data_hash,
            property_info=identifier,
            cert_der=cert_der,
            algorithm=ECDSA_WITH_SHA256,
            signature=signature,
        )
        digest = self._tbs_digest(seal_der, signed_at, data_hash, identifier)
        return self._verify_parsed(record, sig, digest, self._shared("parts"), subject, (),
                                   status, log, poe, superseded)

    def _tbs_digest(
        self, seal_der: bytes, signed_at: dt.datetime, data_hash: bytes, identifier: str
    ) -> bytes:
        """SHA-256 of TBS_Sign{4, seal, timeInfo, dataHash, propertyInfo}, the seal prefix
        hashed once per seal and content length (as :class:`SealingContext` does to sign)."""
        time = self._times.get(signed_at)
        if time is None:
            utc = signed_at.astimezone(dt.UTC) if signed_at.tzinfo else signed_at
            time = b"\x18\x0f" + utc.strftime("%Y%m%d%H%M%SZ").encode("ascii")
            _put(self._times, signed_at, time)
        info = identifier.encode("ascii")
        tail = (
            time
            + b"\x03" + _der_len(len(data_hash) + 1) + b"\x00" + data_hash
            + b"\x16" + _der_len(len(info)) + info
        )
        length = 3 + len(seal_der) + len(tail)
        key = (seal_der, length)
        state = self._prefixes.get(key)
        if state is None:
            state = hashlib.sha256(b"\x30" + _der_len(length) + b"\x02\x01\x04" + seal_der)
            _put(self._prefixes, key, state)
        digest = state.copy()
        digest.update(tail)
        return digest.digest()

    def _verify_parsed(
        self,
        record: bytes,
        sig: ParsedSignature,
        digest: bytes,
        format_check: CheckResult,
        subject: str,
        extra: tuple[bytes, ...],
        status: str | None,
        log: LogEvidence | None,
        poe: dt.datetime | None,
        superseded: Supersession | None,
    ) -> VerificationReport:
        log_check, log_poe = self._log_inclusion(log, sig)
        if log_poe is not None and (poe is None or log_poe < poe):
            poe = log_poe
        integrity, elements = self._integrity(record, sig)
        signer = self._cert(sig.cert_der)
        seal = self._seal(sig.seal_der)
        checks = (
            format_check,
            integrity,
            self._signature(sig, digest, signer),
            self._seal_in_time(sig.seal_der, seal, sig.signed_at),
            self._chain(signer, seal, extra, sig.signed_at, poe),
            self._authorization(sig, signer, seal, elements),
            self._status(status, superseded),
            log_check,
        )
        return VerificationReport.from_checks(
            subject=subject,
            identifier=sig.property_info,
            checks=checks,
            validation_time=self._at,
            superseded=superseded if status == "SUPERSEDED" else None,
        )

    def _integrity(
        self, record: bytes, sig: ParsedSignature
    ) -> tuple[CheckResult, dict[str, Any] | None]:
        # (2) integrity: the record is the signed one, and it is the license the signature names.
        try:
            parsed = json.loads(record)
        except (ValueError, UnicodeDecodeError):
            parsed = None
        elements = parsed if isinstance(parsed, dict) else None
        if hashlib.sha256(record).digest() != sig.data_hash:
            return (
                _bad("integrity", HASH_FAILURE, _("SHA-256 of the record differs from dataHash")),
                elements,
            )
        if elements is None:
            return (_bad("integrity", HASH_FAILURE, _("the signed record is not a JSON object")),
                    None)
        zzbs = elements.get("ZZBS")
        if zzbs != sig.property_info:
            detail = _("the signature is for {signed}, the record is {record!r}",
                       signed=sig.property_info, record=zzbs)
            return _bad("integrity", HASH_FAILURE, detail), elements
        return self._shared("integrity"), elements

    def _signature(self, sig: ParsedSignature, digest: bytes, signer: _Cert | str) -> CheckResult:
        # (3) signature: the signer's signature over DER(TBS_Sign) (``digest`` is its SHA-256),
        # with the embedded certificate.
        if isinstance(signer, str):
            return _bad("signature", FORMAT_FAILURE,
                        _("signer certificate is {problem}", problem=signer))
        if signer.public_key is None:
            return _bad("signature", SIG_CRYPTO_FAILURE,
                        _("{subject} has no EC public key", subject=signer.label))
        try:
            signer.public_key.verify(sig.signature, digest, _ECDSA_PREHASHED)
        except InvalidSignature:
            detail = _("the signature over TBS_Sign does not verify with {subject}",
                       subject=signer.label)
            return _bad("signature", SIG_CRYPTO_FAILURE, detail)
        key = ("signature", signer.der)
        found = self._results.get(key)
        if found is None:
            found = _ok("signature", _("ECDSA P-256/SHA-256 over TBS_Sign verifies with {subject}",
                                       subject=signer.label))
            _put(self._results, key, found)
        return found

    def _seal_in_time(self, der: bytes, seal: _Seal, signed_at: dt.datetime) -> CheckResult:
        # (4) seal: maker signature (cached), then timeInfo within [validStart, validEnd].
        if seal.problem is not None:
            return seal.problem
        key = ("seal", der, signed_at)
        found = self._results.get(key)
        if found is None:
            assert seal.info is not None  # a seal without a problem was parsed
            info = seal.info
            if not info.valid_start <= signed_at <= info.valid_end:
                detail = _("signed at {signed}, outside seal {seal}'s validity {start} .. {end}, "
                           "and no proof of existence", signed=_iso(signed_at), seal=info.es_id,
                           start=_iso(info.valid_start), end=_iso(info.valid_end))
                found = _unsure("seal", OUT_OF_BOUNDS_NO_POE, detail)
            else:
                found = _ok("seal", _("seal {seal} ({name}) verifies with the maker certificate "
                                      "and was valid at {signed}", seal=info.es_id,
                                      name=info.name, signed=_iso(signed_at)))
            _put(self._results, key, found)
        return found

    def _chain(
        self,
        signer: _Cert | str,
        seal: _Seal,
        extra: tuple[bytes, ...],
        signed_at: dt.datetime,
        poe: dt.datetime | None,
    ) -> CheckResult:
        # (5) signer_certificate: signer → maker/extra → anchor, and the maker → anchor too.
        name = "signer_certificate"
        if isinstance(signer, str):
            return _skip(name, "no certificate",
                         _("signer certificate is {problem}", problem=signer))
        maker_der = seal.maker.der if seal.maker is not None else None
        key = (name, signer.der, maker_der, extra, signed_at, poe)
        found = self._results.get(key)
        if found is None:
            found = self._chain_uncached(signer, seal, extra, signed_at, poe)
            _put(self._results, key, found)
        return found

    def _chain_uncached(
        self,
        signer: _Cert,
        seal: _Seal,
        extra: tuple[bytes, ...],
        signed_at: dt.datetime,
        poe: dt.datetime | None,
    ) -> CheckResult:
        name = "signer_certificate"
        pool = ((seal.maker.der,) if seal.maker is not None else ()) + extra
        paths = [self._path(signer, pool)]
        if seal.maker is not None:
            paths.append(self._path(seal.maker, extra))
        for path in paths:
            if path.problem is not None:
                return _unsure(name, NO_CERTIFICATE_CHAIN_FOUND, path.problem)
        certs: dict[bytes, _Cert] = {}
        issued: dict[bytes, tuple[_Cert, _Cert]] = {}  # cert → (cert, issuer), anchors excluded
        for path in paths:
            for i, cert in enumerate(path.certs):
                certs[cert.der] = cert
                if cert.der not in self._anchor_ders and i + 1 < len(path.certs):
                    issued[cert.der] = (cert, path.certs[i + 1])
        failed: list[CheckResult] = []
        unsure: list[CheckResult] = []
        notes: list[str] = []
        poe_text = _("none") if poe is None else _iso(poe)
        # (5a) every certificate valid at the signing time.
        for cert in certs.values():
            if signed_at < cert.not_before:
                failed.append(_bad(name, NOT_YET_VALID, _(
                    "signed at {signed}, before {subject} became valid ({start})",
                    signed=_iso(signed_at), subject=cert.label, start=_iso(cert.not_before))))
            elif signed_at > cert.not_after:
                unsure.append(_unsure(name, OUT_OF_BOUNDS_NO_POE, _(
                    "signed at {signed}, after {subject} expired ({end}), and no proof of "
                    "existence before that",
                    signed=_iso(signed_at), subject=cert.label, end=_iso(cert.not_after))))
        # (5b) revocation, from the CRLs of each issuer, as known at the validation time.
        checked = 0
        for cert, issuer in issued.values():
            rev = self._revocation(cert, issuer)
            if rev.crl_time is not None:
                checked += 1
            if rev.revoked_at is None or rev.revoked_at > self._at:
                continue
            if signed_at >= rev.revoked_at:
                failed.append(_bad(name, REVOKED, _(
                    "{subject} was revoked at {revoked}, before the signing time {signed}",
                    subject=cert.label, revoked=_iso(rev.revoked_at), signed=_iso(signed_at))))
            elif poe is not None and poe < rev.revoked_at:
                notes.append(_(
                    "{subject} revoked at {revoked}, after the proof of existence at {poe}",
                    subject=cert.label, revoked=_iso(rev.revoked_at), poe=_iso(poe)))
            else:
                unsure.append(_unsure(name, REVOKED_NO_POE, _(
                    "{subject} was revoked at {revoked}; signed at {signed} by its own claim, "
                    "but no proof of existence before the revocation (proof of existence: "
                    "{poe})", subject=cert.label, revoked=_iso(rev.revoked_at),
                    signed=_iso(signed_at), poe=poe_text)))
        # (5c) a certificate that expired before the validation time needs a POE within it.
        for cert in certs.values():
            if cert.not_after < self._at and signed_at <= cert.not_after:
                if poe is not None and poe <= cert.not_after:
                    notes.append(_(
                        "{subject} expired {end}, after the proof of existence at {poe}",
                        subject=cert.label, end=_iso(cert.not_after), poe=_iso(poe)))
                else:
                    unsure.append(_unsure(name, OUT_OF_BOUNDS_NO_POE, _(
                        "{subject} expired at {end}, before the validation time {at}, and no "
                        "proof of existence before that (proof of existence: {poe})",
                        subject=cert.label, end=_iso(cert.not_after), at=_iso(self._at),
                        poe=poe_text)))
        if failed:
            return failed[0]
        if unsure:
            return unsure[0]
        reason = "ok"
        if not self._crls:
            reason, revocation = "no revocation info", _("revocation not checked (no revocation "
                                                         "info)")
        elif checked < len(issued):
            reason = "partial revocation info"
            revocation = _("revocation checked for {checked} of {total} certificates (no CRL)",
                           checked=checked, total=len(issued))
        else:
            revocation = _("not revoked per the CRLs")
        detail = _("{path}; valid at signing time; {revocation}", path=paths[0].description,
                   revocation=revocation)
        for note in notes:
            detail = _("{detail}; {note}", detail=detail, note=note)
        return CheckResult(name, CheckStatus.VALID, reason, detail)

    def _authorization(
        self,
        sig: ParsedSignature,
        signer: _Cert | str,
        seal: _Seal,
        elements: dict[str, Any] | None,
    ) -> CheckResult:
        # (6) authorization: the signer is bound to the seal, the seal may seal this license
        # type, and the seal belongs to the department that issued the license.
        name = "authorization"
        info = seal.info
        if info is None:
            return _skip(name, "no seal", _("the seal could not be read"))
        type_code = None if elements is None else elements.get("ZZLXDM")
        issuer = None if elements is None else elements.get("ZZBFJGDM")
        key = (name, sig.seal_der, sig.cert_der, elements is None, type_code, issuer)
        try:
            found = self._results.get(key)
        except TypeError:  # an unhashable element value: not cacheable, just compute
            return self._authorize(sig, signer, info, elements, type_code, issuer)
        if found is None:
            found = self._authorize(sig, signer, info, elements, type_code, issuer)
            _put(self._results, key, found)
        return found

    @staticmethod
    def _authorize(
        sig: ParsedSignature,
        signer: _Cert | str,
        info: SealInfo,
        elements: dict[str, Any] | None,
        type_code: Any,
        issuer: Any,
    ) -> CheckResult:
        name = "authorization"
        if info.cert_list_type == CERT_LIST_CERTS:
            bound = sig.cert_der in info.cert_list
        else:
            digest = hashlib.sha256(sig.cert_der).digest()
            bound = any(t.upper() in _DIGEST_NAMES and v == digest for t, v in info.cert_digests)
        if not bound:
            detail = _("the signer certificate is not in seal {seal}'s certList", seal=info.es_id)
            return _bad(name, NOT_AUTHORIZED, detail)
        if elements is None:
            return _skip(name, "no record",
                         _("signer is in the certList; the record is unreadable"))
        if type_code not in info.authorized_types:
            detail = _("seal {seal} is not authorized for license type {type!r}",
                       seal=info.es_id, type=type_code)
            return _bad(name, NOT_AUTHORIZED, detail)
        department = None if isinstance(signer, str) else signer.department
        if department is None or issuer != department:
            detail = _("the license's issuer {issuer!r} is not the seal's department "
                       "{department!r}", issuer=issuer, department=department)
            return _bad(name, NOT_AUTHORIZED, detail)
        return _ok(name, _("signer in seal {seal}'s certList; type {type} authorized; "
                           "department {department}", seal=info.es_id, type=type_code,
                           department=department))

    def _status(self, status: str | None, superseded: Supersession | None) -> CheckResult:
        # (7) status: the license's own status from the registry or the platform. A version
        # replaced by a later one was in force until then: history, valid when issued.
        if status is None:
            return self._shared("status")
        if status == "SUPERSEDED" and superseded is not None:
            return CheckResult("status", CheckStatus.VALID, "LICENSE_SUPERSEDED", _(
                "valid when issued; superseded by {successor} on {time}",
                successor=superseded.successor, time=_iso(superseded.at)))
        key = ("status", status)
        found = self._results.get(key)
        if found is None:
            upper = status.upper()
            if upper == "VALID":
                found = _ok("status", _("the license status is {status}",
                                        status=license_status_text(upper)))
            else:
                found = _bad("status", f"LICENSE_{upper}", _("the license status is {status}",
                                                             status=license_status_text(upper)))
            _put(self._results, key, found)
        return found

    def _log_inclusion(
        self, log: LogEvidence | None, sig: ParsedSignature
    ) -> tuple[CheckResult, dt.datetime | None]:
        # (8) log inclusion: the log's sealing leaf is this signature's license and record.
        name = "log_inclusion"
        if log is None:
            return self._shared("log"), None
        if log.status is not CheckStatus.VALID:
            return CheckResult(name, log.status, log.reason, log.detail), None
        if log.identifier != sig.property_info:
            detail = _("the log's leaf is for {leaf}, the signature for {signed}",
                       leaf=log.identifier, signed=sig.property_info)
            return _bad(name, LOG_INCLUSION_FAILURE, detail), None
        if log.data_hash != sig.data_hash:
            detail = _("the log recorded dataHash {logged} when the license was sealed; the "
                       "signature carries {signed}", logged=(log.data_hash or b"").hex(),
                       signed=sig.data_hash.hex())
            return _bad(name, LOG_INCLUSION_FAILURE, detail), None
        key = (name, log.detail)  # licenses of one checkpoint share one result
        found = self._results.get(key)
        if found is None:
            found = _ok(name, log.detail)
            _put(self._results, key, found)
        return found, log.poe
