"""The log key (TEST ONLY): an ECDSA P-256 key in the keystore that signs checkpoints.

Its certificate is issued by the keystore's test root CA, so an auditor who trusts the root
(``licreg pki anchors``) can check checkpoints with the same anchors as seals::

    keystore/log.key.pem   encrypted PKCS#8 (registry.seal.keyfile), mode 0600
    keystore/log.pem       "TEST ONLY licreg transparency log", issued by root.pem, 0400

Example::

    signer = ensure_log_key(keystore, passphrase, now=now)   # made on first use
    signature = signer.sign(body)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from registry.clock import china_text
from registry.errors import SealError
from registry.i18n import N_, _
from registry.seal.keyfile import encrypt_key, load_key, write_private, write_public

__all__ = ["LOG_CERT_FILE", "LOG_KEY_FILE", "LogSigner", "ensure_log_key", "load_log_cert"]

LOG_KEY_FILE = "log.key.pem"
LOG_CERT_FILE = "log.pem"
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


@dataclass(frozen=True)
class LogSigner:
    """The log key with its certificate."""

    key: ec.EllipticCurvePrivateKey
    """The decrypted log key."""
    certificate: x509.Certificate
    """Its certificate, issued by the test root."""

    @property
    def certificate_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def sign(self, body: bytes) -> bytes:
        """DER ECDSA P-256/SHA-256 over ``body``."""
        return self.key.sign(body, _ECDSA_SHA256)


def load_log_cert(keystore: Path) -> x509.Certificate | None:
    """The log certificate, or None when no checkpoint was ever signed with this keystore."""
    path = keystore / LOG_CERT_FILE
    if not path.exists():
        return None
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError as exc:
        raise SealError(_("{path} is not a PEM certificate", path=path)) from exc


def ensure_log_key(keystore: Path, passphrase: bytes, *, now: dt.datetime) -> LogSigner:
    """Load the log key, making it (and its certificate from the root CA) on first use."""
    key_path, cert_path = keystore / LOG_KEY_FILE, keystore / LOG_CERT_FILE
    if key_path.exists() and cert_path.exists():
        cert = load_log_cert(keystore)
        assert cert is not None  # it exists
        return LogSigner(load_key(key_path, passphrase, N_("log key")), cert)
    root_pem = keystore / "root.pem"
    if not root_pem.exists():
        raise SealError(_("{keystore} has no root CA: run `licreg init` first",
                          keystore=keystore))
    root = x509.load_pem_x509_certificate(root_pem.read_bytes())
    root_key = load_key(keystore / "root.key.pem", passphrase, N_("root CA key"))
    key = ec.generate_private_key(ec.SECP256R1())
    start = now.astimezone(dt.UTC).replace(microsecond=0)
    if not root.not_valid_before_utc <= start < root.not_valid_after_utc:
        raise SealError(_("the root CA is not valid at {time}",
                          time=china_text(start, seconds=True)))
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "TEST ONLY licreg"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "TEST ONLY licreg transparency log"),
                ]
            )
        )
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(root.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    if key_path.exists():
        raise SealError(_("{key} exists without {cert}; refusing to replace it", key=key_path,
                          cert=cert_path))
    write_private(key_path, encrypt_key(key, passphrase))
    write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return LogSigner(key, cert)
