"""The signing seam: a SHA-256 digest in, a DER ECDSA signature out.

An HSM, a cloud KMS or an SM2 signer replaces :class:`SoftwareSigner` by implementing
:class:`Signer`; nothing else in the registry touches private keys.

Example::

    signer = SoftwareSigner(key, cert_der)
    signature = signer.sign_digest(hashlib.sha256(b"to be signed").digest())
"""

from __future__ import annotations

from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from registry.errors import SealError
from registry.i18n import _

__all__ = ["DIGEST_SIZE", "Signer", "SoftwareSigner"]

DIGEST_SIZE = 32
"""Bytes in a SHA-256 digest, the only digest a signer accepts."""


class Signer(Protocol):
    """Signs SHA-256 digests with the key of one signer certificate."""

    @property
    def certificate_der(self) -> bytes:
        """The signer certificate (DER) whose public key verifies the signatures."""
        ...

    def sign_digest(self, digest: bytes) -> bytes:
        """The DER ECDSA signature (SEQUENCE {r, s}) over a 32-byte SHA-256 digest."""
        ...


class SoftwareSigner:
    """A :class:`Signer` holding a decrypted P-256 key in process memory (TEST ONLY keys)."""

    __slots__ = ("_algorithm", "_certificate_der", "_key")

    def __init__(self, key: ec.EllipticCurvePrivateKey, certificate_der: bytes) -> None:
        try:
            cert = x509.load_der_x509_certificate(certificate_der)
        except ValueError as exc:
            raise SealError(_("the signer certificate is not a DER X.509 certificate")) from exc
        # A key/certificate mix-up would produce signatures nobody can verify; catch it here,
        # once, rather than in every verifier.
        raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if cert.public_key().public_bytes(*raw) != key.public_key().public_bytes(*raw):
            raise SealError(_("the signer key does not belong to the certificate {subject}",
                              subject=cert.subject.rfc4514_string()))
        self._key = key
        self._certificate_der = certificate_der
        self._algorithm = ec.ECDSA(utils.Prehashed(hashes.SHA256()))

    @property
    def certificate_der(self) -> bytes:
        return self._certificate_der

    def sign_digest(self, digest: bytes) -> bytes:
        if len(digest) != DIGEST_SIZE:
            raise SealError(_("expected a {size}-byte SHA-256 digest, got {got} bytes",
                              size=DIGEST_SIZE, got=len(digest)))
        return self._key.sign(digest, self._algorithm)
