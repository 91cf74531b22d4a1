"""The TEST ONLY PKI and keystore (registry.seal.pki)."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from registry.errors import SealError, WeakPassphraseError
from registry.seal.pki import (
    create_test_pki,
    department_code_of,
    es_id_of,
    issue_signer,
    load_maker,
    load_root_cert,
    load_signer_key,
)

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PASS = b"test-only-passphrase"
DEPT_USCC = "11330105002500287C"
DEPT_NAME = "某市市场监督管理局"


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ks = tmp_path_factory.mktemp("pki") / "keystore"
    create_test_pki(ks, PASS, now=NOW)
    issue_signer(
        ks,
        PASS,
        es_id="3301000000001",
        department_name=DEPT_NAME,
        department_uscc=DEPT_USCC,
        now=NOW,
        not_after=NOW.replace(year=2029),
    )
    return ks


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _cn(cert: x509.Certificate) -> str:
    value = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(value, str)
    return value


def test_keystore_layout_and_modes(keystore: Path) -> None:
    files = {p.relative_to(keystore).as_posix() for p in keystore.rglob("*") if p.is_file()}
    assert files == {
        "README.TEST-ONLY",
        "root.pem",
        "root.key.pem",
        "maker.pem",
        "maker.key.pem",
        "signers/3301000000001.pem",
        "signers/3301000000001.key.pem",
    }
    for key_file in ("root.key.pem", "maker.key.pem", "signers/3301000000001.key.pem"):
        path = keystore / key_file
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, key_file
        assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert "TEST ONLY" in (keystore / "README.TEST-ONLY").read_text(encoding="utf-8")


def test_every_certificate_says_test_only(keystore: Path) -> None:
    for cert_file in ("root.pem", "maker.pem", "signers/3301000000001.pem"):
        assert _cn(_cert(keystore / cert_file)).startswith("TEST ONLY"), cert_file


def test_chain_links_and_extensions(keystore: Path) -> None:
    root = load_root_cert(keystore)
    maker = load_maker(keystore, PASS).cert
    signer = _cert(keystore / "signers/3301000000001.pem")
    root.verify_directly_issued_by(root)
    maker.verify_directly_issued_by(root)
    signer.verify_directly_issued_by(maker)

    def ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension:
        return cert.extensions.get_extension_for_class(kind)

    assert ext(root, x509.BasicConstraints).value == x509.BasicConstraints(True, 1)
    assert ext(maker, x509.BasicConstraints).value == x509.BasicConstraints(True, 0)
    assert ext(signer, x509.BasicConstraints).value == x509.BasicConstraints(False, None)
    assert ext(signer, x509.BasicConstraints).critical
    root_ku, signer_ku = ext(root, x509.KeyUsage).value, ext(signer, x509.KeyUsage).value
    assert root_ku.key_cert_sign
    assert root_ku.crl_sign
    assert not root_ku.digital_signature
    assert signer_ku.digital_signature
    assert signer_ku.content_commitment
    assert not signer_ku.key_cert_sign
    # AuthorityKeyIdentifier of each cert is its issuer's SubjectKeyIdentifier.
    for child, issuer in ((maker, root), (signer, maker)):
        aki = ext(child, x509.AuthorityKeyIdentifier).value.key_identifier
        assert aki == ext(issuer, x509.SubjectKeyIdentifier).value.key_identifier
    assert signer.not_valid_after_utc == NOW.replace(year=2029)
    assert root.not_valid_after_utc == NOW.replace(year=2046)


def test_signer_subject_names_department_and_seal(keystore: Path) -> None:
    signer = _cert(keystore / "signers/3301000000001.pem")
    assert department_code_of(signer) == DEPT_USCC
    assert es_id_of(signer) == "3301000000001"
    org = signer.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert org == DEPT_NAME
    assert department_code_of(load_root_cert(keystore)) is None
    assert es_id_of(load_root_cert(keystore)) is None


def test_signer_key_matches_certificate(keystore: Path) -> None:
    key = load_signer_key(keystore, "signers/3301000000001.key.pem", PASS)
    cert = _cert(keystore / "signers/3301000000001.pem")
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)


def test_issue_signer_returns_key_file_and_der(keystore: Path) -> None:
    issued = issue_signer(
        keystore,
        PASS,
        es_id="3301000000002",
        department_name=DEPT_NAME,
        department_uscc=DEPT_USCC,
        now=NOW,
        not_after=NOW.replace(year=2027),
    )
    assert issued.key_file == "signers/3301000000002.key.pem"
    pem_cert = _cert(keystore / "signers/3301000000002.pem")
    assert issued.cert_der == pem_cert.public_bytes(serialization.Encoding.DER)


def test_wrong_passphrase_names_the_file(keystore: Path) -> None:
    with pytest.raises(SealError, match=r"3301000000001\.key\.pem.*wrong keystore passphrase"):
        load_signer_key(keystore, "signers/3301000000001.key.pem", b"not the passphrase")
    with pytest.raises(SealError, match=r"maker\.key\.pem"):
        load_maker(keystore, b"not the passphrase")


def test_key_file_outside_keystore_is_refused(keystore: Path) -> None:
    with pytest.raises(SealError, match="outside the keystore"):
        load_signer_key(keystore, "../elsewhere.key.pem", PASS)


def test_missing_key_file_is_a_seal_error(keystore: Path) -> None:
    with pytest.raises(SealError, match="cannot read"):
        load_signer_key(keystore, "signers/nope.key.pem", PASS)


def test_create_refuses_to_overwrite_root(keystore: Path) -> None:
    before = (keystore / "root.pem").read_bytes()
    with pytest.raises(SealError, match="refusing to overwrite"):
        create_test_pki(keystore, PASS, now=NOW)
    assert (keystore / "root.pem").read_bytes() == before


def test_issue_signer_refuses_reuse_of_es_id(keystore: Path) -> None:
    with pytest.raises(SealError, match="new esID"):
        issue_signer(
            keystore,
            PASS,
            es_id="3301000000001",
            department_name=DEPT_NAME,
            department_uscc=DEPT_USCC,
            now=NOW,
            not_after=NOW.replace(year=2027),
        )


@pytest.mark.parametrize(
    ("es_id", "uscc", "not_after", "message"),
    [
        ("../escape", DEPT_USCC, NOW.replace(year=2027), "esID"),
        ("ok-id", "SHORT", NOW.replace(year=2027), "18 characters"),
        ("ok-id", DEPT_USCC, NOW, "validity is empty"),
        ("ok-id", DEPT_USCC, NOW.replace(year=2050), "outside the seal-maker"),
    ],
)
def test_issue_signer_rejects_bad_input(
    keystore: Path, es_id: str, uscc: str, not_after: dt.datetime, message: str
) -> None:
    with pytest.raises(SealError, match=message):
        issue_signer(
            keystore,
            PASS,
            es_id=es_id,
            department_name=DEPT_NAME,
            department_uscc=uscc,
            now=NOW,
            not_after=not_after,
        )


def test_naive_time_and_empty_passphrase_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SealError, match="time zone"):
        create_test_pki(tmp_path / "a", PASS, now=dt.datetime(2026, 1, 1))
    with pytest.raises(WeakPassphraseError, match="LICREG_KEY_PASSPHRASE is too weak"):
        create_test_pki(tmp_path / "b", b"", now=NOW)
    assert not (tmp_path / "b").exists()
