"""The TEST ONLY PKI: root CA → seal-maker (制章) CA → one signer certificate per seal.

Everything is ECDSA P-256 with SHA-256 (standing in for SM2/SM3). Every certificate's CN starts
with "TEST ONLY", and the keystore holds a ``README.TEST-ONLY`` saying so. Keys are encrypted
PKCS#8 PEM files with mode 0600 (:mod:`registry.seal.keyfile`: PBES2, PBKDF2-HMAC-SHA256 with
600,000 iterations, AES-256-CBC), certificates 0400, folders 0700::

    keystore/
      README.TEST-ONLY
      root.pem   root.key.pem          self-signed root CA (pathlen 1)
      maker.pem  maker.key.pem         seal-maker CA (pathlen 0); also signs SES_SealInfo
      signers/<esID>.pem               signer certificate of one seal
      signers/<esID>.key.pem           its key

Example::

    create_test_pki(ks, pw, now=now)       # pw: 12 characters or more, not a common password
    signer = issue_signer(ks, pw, es_id="3301000000001", department_name="某市市场监督管理局",
                          department_uscc="11330100MB0000000X", now=now, not_after=later)
    key = load_signer_key(ks, signer.key_file, pw)

The signer certificate names its department by name (O) and by USCC in
``organizationIdentifier`` (2.5.4.97); :func:`department_code_of` reads the USCC back.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from registry.clock import china_text
from registry.errors import SealError
from registry.i18n import N_, _, os_reason
from registry.seal.keyfile import (
    check_new_passphrase,
    encrypt_key,
    load_key,
    upgrade_key_file,
    write_private,
    write_public,
)

__all__ = [
    "CertifiedKey",
    "IssuedSigner",
    "create_test_pki",
    "department_code_of",
    "es_id_of",
    "issue_signer",
    "load_maker",
    "load_root_cert",
    "load_signer_key",
    "upgrade_keystore",
]

README_NAME = "README.TEST-ONLY"
_README = """\
TEST ONLY KEYS. DO NOT USE FOR ANY REAL SEAL.

This keystore was made by registry.seal.pki.create_test_pki. It holds a test root CA, a test
seal-maker (制章) CA and test signer keys. ECDSA P-256 with SHA-256 stands in for SM2 with SM3.
A legally effective electronic seal needs certified cryptographic devices and a licensed
seal-making authority; these keys are neither. Every certificate's CN says "TEST ONLY".
"""

_ES_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CN_SEAL_PREFIX = "TEST ONLY seal "


@dataclass(frozen=True)
class CertifiedKey:
    """A CA's certificate and private key, as loaded from the keystore."""

    cert: x509.Certificate
    """The CA certificate."""
    key: ec.EllipticCurvePrivateKey
    """Its private key (decrypted)."""


@dataclass(frozen=True)
class IssuedSigner:
    """What :func:`issue_signer` wrote: where the key is and the certificate itself."""

    key_file: str
    """Path of the encrypted signer key, relative to the keystore (store this, not the key)."""
    cert_der: bytes
    """The signer certificate (DER)."""


def _utc(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        raise SealError(_("{what} {time} has no time zone; pass an aware datetime", what="time",
                          time=when.isoformat()))
    return when.astimezone(dt.UTC).replace(microsecond=0)


def _name(cn: str, *, org: str | None = None, org_id: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN")]
    if org is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if org_id is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, org_id))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _build(
    *,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer: CertifiedKey | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    path_length: int | None,
    is_ca: bool,
    key_usage: x509.KeyUsage,
) -> x509.Certificate:
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    if issuer is None:
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        issuer_name = subject
    else:
        issuer_ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski.value)
        issuer_name = issuer.cert.subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=path_length), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(ski, critical=False)
        .add_extension(aki, critical=False)
    )
    return builder.sign(issuer_key, hashes.SHA256())


def _key_usage(*, cert_sign: bool, digital_signature: bool, non_repudiation: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey, passphrase: bytes) -> None:
    write_private(path, encrypt_key(key, passphrase))


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    write_public(path, cert.public_bytes(serialization.Encoding.PEM))


def _check_passphrase(passphrase: bytes) -> None:
    if not passphrase:
        raise SealError(_("the keystore passphrase must not be empty"))


def create_test_pki(
    keystore: Path, passphrase: bytes, *, now: dt.datetime, root_years: int = 20
) -> None:
    """Create the TEST ONLY root and seal-maker CAs under ``keystore``.

    The root is valid ``root_years`` from ``now``; the maker CA for the same period. Refuses
    (SealError) when a root already exists, so a keystore is never silently replaced, and
    (WeakPassphraseError) a passphrase :func:`~registry.seal.keyfile.check_new_passphrase`
    finds too weak: every key of the keystore will be encrypted with it.
    """
    check_new_passphrase(passphrase)
    start = _utc(now)
    if (keystore / "root.pem").exists() or (keystore / "root.key.pem").exists():
        raise SealError(_("{keystore} already holds a root CA; refusing to overwrite it",
                          keystore=keystore))
    try:
        end = start.replace(year=start.year + root_years)
    except ValueError:  # 29 February
        end = start.replace(year=start.year + root_years, day=28)
    keystore.mkdir(mode=0o700, parents=True, exist_ok=True)
    keystore.chmod(0o700)
    (keystore / "signers").mkdir(mode=0o700, exist_ok=True)
    readme = keystore / README_NAME
    if not readme.exists():
        write_public(readme, _README.encode())

    root_key = ec.generate_private_key(ec.SECP256R1())
    root_cert = _build(
        subject=_name("TEST ONLY licreg root CA", org="TEST ONLY licreg"),
        public_key=root_key.public_key(),
        issuer=None,
        issuer_key=root_key,
        not_before=start,
        not_after=end,
        path_length=1,
        is_ca=True,
        key_usage=_key_usage(cert_sign=True, digital_signature=False, non_repudiation=False),
    )
    maker_key = ec.generate_private_key(ec.SECP256R1())
    maker_cert = _build(
        subject=_name("TEST ONLY licreg seal maker CA", org="TEST ONLY licreg"),
        public_key=maker_key.public_key(),
        issuer=CertifiedKey(root_cert, root_key),
        issuer_key=root_key,
        not_before=start,
        not_after=end,
        path_length=0,
        is_ca=True,
        # digitalSignature too: besides issuing signer certificates, the maker signs each
        # SES_SealInfo (the SESeal's signedValue).
        key_usage=_key_usage(cert_sign=True, digital_signature=True, non_repudiation=False),
    )
    _write_key(keystore / "root.key.pem", root_key, passphrase)
    _write_cert(keystore / "root.pem", root_cert)
    _write_key(keystore / "maker.key.pem", maker_key, passphrase)
    _write_cert(keystore / "maker.pem", maker_cert)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SealError(_("cannot read the {what} {file}: {detail}", what=_(what), file=path,
                          detail=os_reason(exc))) from exc


def _load_cert(path: Path, what: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(_read(path, what))
    except ValueError as exc:
        raise SealError(_("{file} is not a PEM certificate ({what})", file=path,
                          what=_(what))) from exc


def load_root_cert(keystore: Path) -> x509.Certificate:
    """The TEST ONLY root certificate (what auditors use as their trust anchor)."""
    return _load_cert(keystore / "root.pem", N_("root certificate"))


def load_maker(keystore: Path, passphrase: bytes) -> CertifiedKey:
    """The seal-maker CA certificate and its decrypted key."""
    cert = _load_cert(keystore / "maker.pem", N_("seal-maker certificate"))
    key = load_key(keystore / "maker.key.pem", passphrase, N_("seal-maker key"))
    return CertifiedKey(cert=cert, key=key)


def issue_signer(
    keystore: Path,
    passphrase: bytes,
    *,
    es_id: str,
    department_name: str,
    department_uscc: str,
    now: dt.datetime,
    not_after: dt.datetime,
) -> IssuedSigner:
    """Make a signer key and certificate for the seal ``es_id``, issued by the maker CA.

    The key goes to ``signers/<es_id>.key.pem`` (encrypted, 0600), the certificate to
    ``signers/<es_id>.pem``. ``not_after`` must lie within the maker CA's validity.
    """
    _check_passphrase(passphrase)
    if not _ES_ID_RE.match(es_id):
        raise SealError(_("esID {es_id} must be 1-64 characters of A-Z a-z 0-9 . _ - (it names "
                          "key files)", es_id=repr(es_id)))
    if len(department_uscc) != 18:
        raise SealError(_("department USCC {uscc} must be 18 characters",
                          uscc=repr(department_uscc)))
    start, end = _utc(now), _utc(not_after)
    if end <= start:
        raise SealError(_("signer validity is empty: {start} .. {end}",
                          start=china_text(start, seconds=True),
                          end=china_text(end, seconds=True)))
    maker = load_maker(keystore, passphrase)
    if end > maker.cert.not_valid_after_utc or start < maker.cert.not_valid_before_utc:
        raise SealError(_("signer validity {start} .. {end} is outside the seal-maker CA's "
                          "({ca_start} .. {ca_end})", start=china_text(start, seconds=True),
                          end=china_text(end, seconds=True),
                          ca_start=china_text(maker.cert.not_valid_before_utc, seconds=True),
                          ca_end=china_text(maker.cert.not_valid_after_utc, seconds=True)))
    cert_path = keystore / "signers" / f"{es_id}.pem"
    if cert_path.exists():
        raise SealError(_("{file} already exists; a new seal needs a new esID", file=cert_path))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _build(
        subject=_name(f"{_CN_SEAL_PREFIX}{es_id}", org=department_name, org_id=department_uscc),
        public_key=key.public_key(),
        issuer=maker,
        issuer_key=maker.key,
        not_before=start,
        not_after=end,
        path_length=None,
        is_ca=False,
        key_usage=_key_usage(cert_sign=False, digital_signature=True, non_repudiation=True),
    )
    (keystore / "signers").mkdir(mode=0o700, exist_ok=True)
    key_file = f"signers/{es_id}.key.pem"
    _write_key(keystore / key_file, key, passphrase)
    _write_cert(cert_path, cert)
    return IssuedSigner(key_file=key_file, cert_der=cert.public_bytes(serialization.Encoding.DER))


def load_signer_key(keystore: Path, key_file: str, passphrase: bytes) -> ec.EllipticCurvePrivateKey:
    """Decrypt the signer key at ``key_file`` (relative to ``keystore``)."""
    root = keystore.resolve()
    path = (root / key_file).resolve()
    if not path.is_relative_to(root):
        raise SealError(_("signer key file {file} lies outside the keystore {keystore}",
                          file=repr(key_file), keystore=keystore))
    return load_key(path, passphrase, N_("signer key"))


def upgrade_keystore(keystore: Path, passphrase: bytes) -> list[Path]:
    """Re-encrypt every key file of ``keystore`` that an older licreg wrote with weaker
    parameters (2,048 PBKDF2 iterations) at the current ones; the files it rewrote. Every
    key is decrypted first, so a wrong passphrase changes nothing."""
    files = sorted([*keystore.glob("*.key.pem"), *(keystore / "signers").glob("*.key.pem")])
    if not files:
        raise SealError(_("{keystore} holds no keys", keystore=keystore))
    for path in files:
        load_key(path, passphrase, N_("key"))
    return [path for path in files if upgrade_key_file(path, passphrase, N_("key"))]


def department_code_of(cert: x509.Certificate) -> str | None:
    """The department USCC in the certificate's organizationIdentifier, or None."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    if len(attrs) != 1:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else None


def es_id_of(cert: x509.Certificate) -> str | None:
    """The seal esID named in a signer certificate's CN ("TEST ONLY seal <esID>"), or None."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(attrs) != 1 or not isinstance(attrs[0].value, str):
        return None
    cn = attrs[0].value
    return cn[len(_CN_SEAL_PREFIX) :] if cn.startswith(_CN_SEAL_PREFIX) else None
