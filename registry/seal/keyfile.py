"""Key files of the keystore: encrypted PKCS#8 keys (0600) and certificates (0400).

Every private key licreg writes (root, seal-maker, signer and log keys) is a PEM
``EncryptedPrivateKeyInfo`` with PBES2 (RFC 8018): PBKDF2-HMAC-SHA256 with
:data:`KDF_ITERATIONS` iterations (OWASP's current count) and a 16-byte random salt, then
AES-256-CBC. OpenSSL reads these files as they are (``openssl pkey -in root.key.pem``).

One derivation costs about 75 ms on an idle core of the machines this was measured on
(README, "State and configuration"), so this module does each derivation once per process:
a process that writes several keys derives one key-encryption key (with one random salt) and
encrypts each file under it with its own random IV, and any derivation it has made is reused
when it loads a file with the same salt (DECISIONS.md, "The keystore and file modes", says
why a shared salt costs nothing). Files written with fewer iterations (licreg before this
module used 2,048) still load; :func:`upgrade_key_file` re-encrypts one at the current
count. New keystores need a passphrase :func:`check_new_passphrase` accepts.

Example::

    write_private(path, encrypt_key(key, b"a long keystore passphrase"))
    key = load_key(path, b"a long keystore passphrase", N_("signer key"))
    key_file_parameters(path.read_bytes()).iterations    # 600000
"""

from __future__ import annotations

import functools
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import algos, keys, pem
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from registry.config import PASSPHRASE_VAR
from registry.errors import SealError, WeakPassphraseError
from registry.i18n import _, ngettext, os_reason

__all__ = [
    "KDF_ITERATIONS",
    "MIN_PASSPHRASE_LENGTH",
    "KeyFileParameters",
    "check_new_passphrase",
    "encrypt_key",
    "key_file_parameters",
    "load_key",
    "upgrade_key_file",
    "write_private",
    "write_public",
]

KDF_ITERATIONS = 600_000
"""PBKDF2-HMAC-SHA256 iterations of every key file licreg writes (OWASP Password Storage
Cheat Sheet, 2023 onwards)."""
MIN_PASSPHRASE_LENGTH = 12
"""The fewest characters a new keystore's passphrase may have (NIST SP 800-63B asks 8 of a
memorized secret and more of one that guards keys offline)."""
_SALT_BYTES = 16
_PEM_LABEL = "ENCRYPTED PRIVATE KEY"


# NIST SP 800-63B 3.1.1.2: refuse commonly used passwords, words naming the service, and
# repetitive or sequential characters. Compared on the letters of the passphrase, case folded
# ("Password-2026!" is "password").
_COMMON_WORDS = frozenset({
    "password", "passwort", "passphrase", "motdepasse", "secret", "changeme", "letmein",
    "welcome", "iloveyou", "admin", "administrator", "root", "default", "qwerty", "qwertz",
    "azerty", "asdfgh", "zxcvbn", "monkey", "dragon", "master", "sunshine", "princess",
    "football", "baseball", "trustno", "licreg", "keystore", "registry", "seal", "test",
})
_RUNS = ("0123456789012345678901234567890123456789", "abcdefghijklmnopqrstuvwxyz",
         "qwertyuiopasdfghjklzxcvbnm", "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
         "zaq12wsxcde34rfvbgt56yhnmju78ik9ol0p")


def _repeats(text: str) -> bool:
    """One short unit over and over: "aaaaaaaa", "abcabcabc", "2026202620262026"."""
    return any(len(text) >= 2 * k and text == (text[:k] * len(text))[: len(text)]
               for k in range(1, len(text) // 2 + 1))


def _weakness(text: str) -> str | None:
    if len(text) < MIN_PASSPHRASE_LENGTH:
        return ngettext("it has only {count} character", "it has only {count} characters",
                        len(text), count=len(text))
    folded = text.casefold()
    letters = "".join(ch for ch in folded if ch.isalpha())
    if letters and any(letters == w * (len(letters) // len(w)) for w in _COMMON_WORDS):
        return _("it is a common password, or a word naming this system, with digits or "
                 "symbols around it")
    compact = "".join(folded.split())
    if _repeats(compact) or any(compact in run or compact in run[::-1] for run in _RUNS):
        return _("it repeats characters or runs through a sequence of them")
    return None


def check_new_passphrase(passphrase: bytes) -> None:
    """Refuse (WeakPassphraseError) a passphrase too weak to encrypt a new keystore with:
    fewer than :data:`MIN_PASSPHRASE_LENGTH` characters, a common password or a word naming
    licreg (digits and symbols aside), or repeated or sequential characters."""
    reason = _weakness(passphrase.decode("utf-8", "replace"))
    if reason is not None:
        raise WeakPassphraseError(_(
            "{var} is too weak for a new keystore: {reason}. A keystore passphrase needs at "
            "least {n} characters and must not be a common password, a word naming this "
            "system, or repeated or sequential characters (a few unrelated words will do)",
            var=PASSPHRASE_VAR, reason=reason, n=MIN_PASSPHRASE_LENGTH))


@dataclass(frozen=True)
class KeyFileParameters:
    """How a key file is encrypted, as its ``EncryptedPrivateKeyInfo`` says."""

    scheme: str
    """The encryption scheme (``pbes2`` for every file licreg writes)."""
    kdf: str
    """The key derivation function (``pbkdf2``)."""
    prf: str
    """PBKDF2's pseudo-random function (``sha256`` = HMAC-SHA256)."""
    iterations: int
    """PBKDF2's iteration count."""
    salt: bytes
    """PBKDF2's salt."""
    cipher: str
    """The content cipher (``aes256_cbc``)."""
    iv: bytes
    """Its IV."""
    ciphertext: bytes
    """The encrypted PKCS#8 ``PrivateKeyInfo``."""

    @property
    def current(self) -> bool:
        """Encrypted exactly as licreg encrypts keys now."""
        return (self.scheme, self.kdf, self.prf, self.cipher) == _CURRENT and \
            self.iterations >= KDF_ITERATIONS


_CURRENT = ("pbes2", "pbkdf2", "sha256", "aes256_cbc")


def key_file_parameters(data: bytes) -> KeyFileParameters | None:
    """The encryption parameters of a PEM key file; None when it is not an encrypted PKCS#8
    key with PBES2 and PBKDF2 (an unencrypted key, or another scheme)."""
    try:
        label, _headers, der = pem.unarmor(data)
        if label != _PEM_LABEL:
            return None
        info = keys.EncryptedPrivateKeyInfo.load(der)
        alg = info["encryption_algorithm"]
        if alg["algorithm"].native != "pbes2":
            return None
        pbes2 = alg["parameters"]
        kdf, scheme = pbes2["key_derivation_func"], pbes2["encryption_scheme"]
        if kdf["algorithm"].native != "pbkdf2":
            return None
        params = kdf["parameters"]
        return KeyFileParameters(
            scheme="pbes2", kdf="pbkdf2", prf=params["prf"]["algorithm"].native,
            iterations=params["iteration_count"].native, salt=params["salt"].native,
            cipher=scheme["algorithm"].native, iv=scheme["parameters"].native,
            ciphertext=info["encrypted_data"].native)
    except (ValueError, TypeError, KeyError):  # not PEM, or DER that is not this structure
        return None


@functools.lru_cache(maxsize=64)
def _derive(passphrase: bytes, salt: bytes, iterations: int) -> bytes:
    # The one costly step, once per (passphrase, salt, count) per process.
    return PBKDF2HMAC(hashes.SHA256(), 32, salt, iterations).derive(passphrase)


@functools.lru_cache(maxsize=8)
def _write_salt(passphrase: bytes) -> bytes:
    # One random salt per passphrase per writing process: the files of a keystore share its
    # one passphrase, so a shared salt costs an attacker nothing extra and spares a derivation
    # per file (DECISIONS.md, "The keystore and file modes").
    return secrets.token_bytes(_SALT_BYTES)


def encrypt_key(key: ec.EllipticCurvePrivateKey, passphrase: bytes) -> bytes:
    """``key`` as a PEM encrypted PKCS#8 file at the current parameters."""
    salt, iv = _write_salt(passphrase), secrets.token_bytes(16)
    plain = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(_derive(passphrase, salt, KDF_ITERATIONS)),
                       modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()
    alg = algos.EncryptionAlgorithm({
        "algorithm": "pbes2",
        "parameters": {
            "key_derivation_func": {"algorithm": "pbkdf2", "parameters": {
                "salt": algos.Pbkdf2Salt(name="specified", value=salt),
                "iteration_count": KDF_ITERATIONS, "prf": {"algorithm": "sha256"}}},
            "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": iv},
        },
    })
    info = keys.EncryptedPrivateKeyInfo({"encryption_algorithm": alg,
                                         "encrypted_data": ciphertext})
    armored: bytes = pem.armor(_PEM_LABEL, info.dump())
    return armored


def _decrypt(data: bytes, passphrase: bytes) -> object:
    """The private key in ``data``; ValueError or TypeError when it cannot be opened."""
    params = key_file_parameters(data)
    if params is None or (params.scheme, params.kdf, params.prf, params.cipher) != _CURRENT:
        # Anything licreg did not write: cryptography (OpenSSL) reads it, or says why not.
        return serialization.load_pem_private_key(data, password=passphrase)
    decryptor = Cipher(algorithms.AES(_derive(passphrase, params.salt, params.iterations)),
                       modes.CBC(params.iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    padded = decryptor.update(params.ciphertext) + decryptor.finalize()
    plain = unpadder.update(padded) + unpadder.finalize()  # ValueError: wrong passphrase
    return serialization.load_der_private_key(plain, password=None)


def load_key(path: Path, passphrase: bytes, what: str) -> ec.EllipticCurvePrivateKey:
    """Decrypt the EC key in the key file ``path`` (``what`` names it in errors, a msgid)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SealError(_("cannot read the {what} {file}: {detail}", what=_(what), file=path,
                          detail=os_reason(exc))) from exc
    try:
        key = _decrypt(data, passphrase)
    except (ValueError, TypeError) as exc:
        # A wrong passphrase fails the padding or the DER inside; cryptography raises
        # TypeError for an unencrypted key. Either way this file cannot be used as given.
        raise SealError(_("cannot decrypt the {what} {file}: wrong keystore passphrase, or not an "
                          "encrypted PKCS#8 key", what=_(what), file=path)) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SealError(_("{file} holds a {kind}, not an EC key ({what})", file=path,
                          kind=type(key).__name__, what=_(what)))
    return key


def _write_new(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL: never overwrite (two processes making a key at once must not overwrite each
    # other's); the mode from the first byte, whatever the umask, not chmod after the fact.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # os.open's mode passes through the umask; this does not
        os.write(fd, data)
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Write a new key file, 0600; SealError when ``path`` exists."""
    try:
        _write_new(path, data, 0o600)
    except FileExistsError as exc:
        raise SealError(_("{file} already exists; refusing to overwrite a key",
                          file=path)) from exc


def write_public(path: Path, data: bytes) -> None:
    """Write a new certificate, 0400: readable by its owner only, like everything under
    LICREG_HOME, and read-only, so a trust anchor is not changed in place by mistake
    (auditors get theirs from ``licreg pki anchors`` or an export)."""
    try:
        _write_new(path, data, 0o400)
    except FileExistsError as exc:
        raise SealError(_("{file} already exists; refusing to overwrite it", file=path)) from exc


def upgrade_key_file(path: Path, passphrase: bytes, what: str) -> bool:
    """Re-encrypt the key file ``path`` at the current parameters when it is weaker (an older
    licreg's 2,048 iterations); True when it did. The new file replaces the old atomically."""
    params = key_file_parameters(path.read_bytes())
    if params is not None and params.current:
        return False
    key = load_key(path, passphrase, what)
    fresh = path.with_name(path.name + ".new")
    fresh.unlink(missing_ok=True)
    write_private(fresh, encrypt_key(key, passphrase))
    fresh.replace(path)
    return True
