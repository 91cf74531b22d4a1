"""Revoking signer certificates: the seal-maker CA's CRL (TEST ONLY keys).

When a seal is reported lost (挂失), cancelled (注销) or re-made (重新制作), its signer certificate
is revoked: the seal-maker CA re-issues its certificate revocation list with one more entry, the
revocation time and an RFC 5280 reason. The CRL lives in the keystore::

    keystore/crl/maker.crl.der      DER CertificateList, signed by the seal-maker CA

``licreg seal crl --out FILE`` hands it to auditors (:func:`maker_crl_der`; an empty list is
signed when nothing was revoked yet), for ``licreg verify --crl FILE``.

Each revocation rewrites the whole list (previous entries kept, CRL number + 1) under a file
lock, and replaces the file atomically, so a reader never sees half a CRL.

Example::

    revoke_certificate(keystore, passphrase, signer_cert_der, at=now,
                       reason=x509.ReasonFlags.cessation_of_operation)
    crls = load_crls(keystore)
    assert revocation_of(x509.load_der_x509_certificate(signer_cert_der), crls) == now

A verifier combines :func:`revocation_of` with the license's signing time and a proof of
existence: revoked at or before the signing time → FAILED/REVOKED; revoked later → the license
stands if something other than the signer proves it existed before the revocation.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from registry.errors import SealError
from registry.i18n import _
from registry.seal.pki import CertifiedKey, load_maker

__all__ = [
    "CRL_DIR", "MAKER_CRL", "load_crls", "maker_crl_der", "revocation_of", "revoke_certificate",
]

CRL_DIR = "crl"
"""Keystore-relative folder of the CRLs."""
MAKER_CRL = f"{CRL_DIR}/maker.crl.der"
"""Keystore-relative path of the seal-maker CA's CRL."""
NEXT_UPDATE = dt.timedelta(days=7)
"""How long a CRL is announced to stay current (nextUpdate − thisUpdate)."""


def _utc(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        raise SealError(_("{what} {time} has no time zone; pass an aware datetime", what="time",
                          time=when.isoformat()))
    return when.astimezone(dt.UTC).replace(microsecond=0)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    # Two processes revoking at once must not each drop the other's entry.
    with (folder / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_crl(path: Path) -> x509.CertificateRevocationList | None:
    if not path.exists():
        return None
    try:
        return x509.load_der_x509_crl(path.read_bytes())
    except ValueError as exc:
        raise SealError(_("{file} is not a DER CRL; refusing to overwrite it",
                          file=path)) from exc


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return 0


def _reason_of(entry: x509.RevokedCertificate) -> x509.ReasonFlags | None:
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return None


def _entry(
    serial: int, at: dt.datetime, reason: x509.ReasonFlags | None
) -> x509.RevokedCertificate:
    builder = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(at)
    if reason is not None and reason is not x509.ReasonFlags.unspecified:
        # RFC 5280 5.3.1: reasonCode unspecified SHOULD be absent rather than present.
        builder = builder.add_extension(x509.CRLReason(reason), critical=False)
    return builder.build()


@contextmanager
def _locked_crl(keystore: Path) -> Iterator[Path]:
    """The seal-maker CA's CRL file, locked against another process rewriting it."""
    folder = keystore / CRL_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    with _locked(folder):
        yield keystore / MAKER_CRL


def _publish(path: Path, maker: CertifiedKey, entries: Sequence[x509.RevokedCertificate],
             previous: x509.CertificateRevocationList | None, when: dt.datetime) -> bytes:
    """Sign a CRL of ``entries`` (CRL number + 1, thisUpdate never going backwards) and
    replace ``path`` with it atomically; returns its DER."""
    this_update = when
    if previous is not None and previous.last_update_utc > this_update:
        this_update = previous.last_update_utc
    ski = maker.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(maker.cert.subject)
        .last_update(this_update)
        .next_update(this_update + NEXT_UPDATE)
        .add_extension(x509.CRLNumber(_crl_number(previous) + 1 if previous else 1),
                       critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
            critical=False,
        )
    )
    for entry in entries:
        builder = builder.add_revoked_certificate(
            _entry(entry.serial_number, entry.revocation_date_utc, _reason_of(entry))
        )
    der = builder.sign(maker.key, hashes.SHA256()).public_bytes(Encoding.DER)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(der)
    os.replace(tmp, path)
    return der


def maker_crl_der(keystore: Path, passphrase: bytes | None, *, at: dt.datetime) -> bytes:
    """The seal-maker CA's CRL as DER, the form ``licreg verify --crl FILE`` reads. Before
    any revocation there is none: an empty one is signed (at ``at``, with the keystore's
    ``passphrase``) and kept, so an auditor can tell "nothing revoked" from "revocation not
    checked"."""
    with _locked_crl(keystore) as path:
        if path.exists():
            _read_crl(path)  # refuse to hand out a file that is not a CRL
            return path.read_bytes()
        if not passphrase:
            raise SealError(_("no certificate has been revoked yet, so there is no CRL; signing "
                              "an empty one needs the keystore passphrase "
                              "(LICREG_KEY_PASSPHRASE)"))
        return _publish(path, load_maker(keystore, passphrase), [], None, _utc(at))


def revoke_certificate(
    keystore: Path,
    passphrase: bytes,
    cert_der: bytes,
    *,
    at: dt.datetime,
    reason: x509.ReasonFlags,
) -> dt.datetime:
    """Revoke a signer certificate in the seal-maker CA's CRL; return its revocation time.

    Revoking a certificate already on the list changes nothing and returns the time it was
    first revoked (a lost seal that is later cancelled stays revoked from the loss). Raises
    SealError when the certificate was not issued by this keystore's seal-maker CA.
    """
    when = _utc(at)
    try:
        cert = x509.load_der_x509_certificate(cert_der)
    except ValueError as exc:
        raise SealError(_("the certificate to revoke is not a DER X.509 certificate")) from exc
    maker = load_maker(keystore, passphrase)
    try:
        cert.verify_directly_issued_by(maker.cert)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise SealError(_("{subject} was not issued by the seal-maker CA {maker}; it cannot be "
                          "revoked here", subject=cert.subject.rfc4514_string(),
                          maker=maker.cert.subject.rfc4514_string())) from exc
    with _locked_crl(keystore) as path:
        previous = _read_crl(path)
        entries = list(previous) if previous is not None else []
        for entry in entries:
            if entry.serial_number == cert.serial_number:
                return entry.revocation_date_utc
        entries.append(_entry(cert.serial_number, when, reason))
        _publish(path, maker, entries, previous, when)
    return when


def load_crls(keystore: Path) -> list[x509.CertificateRevocationList]:
    """Every CRL in ``keystore/crl`` (``*.crl.der``); an empty list when none was published."""
    folder = keystore / CRL_DIR
    if not folder.is_dir():
        return []
    crls = []
    for path in sorted(folder.glob("*.crl.der")):
        crl = _read_crl(path)
        if crl is not None:
            crls.append(crl)
    return crls


def revocation_of(
    cert: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    *,
    issuer: x509.Certificate | None = None,
) -> dt.datetime | None:
    """When ``cert`` was revoked according to ``crls`` (the earliest entry), or None.

    Only CRLs whose issuer name is the certificate's issuer count. With ``issuer`` (the CA
    certificate), a CRL counts only if its signature verifies with that CA's key as well; a
    verifier should pass it, since anyone can write a file named ``maker.crl.der``.
    """
    found: dt.datetime | None = None
    for crl in crls:
        if crl.issuer != cert.issuer:
            continue
        if issuer is not None:
            key = issuer.public_key()
            if not isinstance(key, ec.EllipticCurvePublicKey) or not crl.is_signature_valid(key):
                continue
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None and (found is None or entry.revocation_date_utc < found):
            found = entry.revocation_date_utc
    return found
