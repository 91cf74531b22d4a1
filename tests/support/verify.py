"""A TEST ONLY PKI for the auditor's verifier tests, made without a database: a root, a
seal maker and one seal of a department authorized for 营业执照; licenses sealed with it,
the maker's CRLs (no tests here)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from registry.license.canonical import canonical_bytes
from registry.license.codes import license_identifier
from registry.seal.making import make_seal, seal_picture_png
from registry.seal.pki import (
    CertifiedKey,
    create_test_pki,
    issue_signer,
    load_maker,
    load_root_cert,
    load_signer_key,
)
from registry.seal.signature import SealingContext
from registry.seal.signer import SoftwareSigner
from registry.verify import Indication, VerificationReport

PASS = b"TEST-ONLY-audit-tests"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SIGNED = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
CHECKPOINTED = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
AT = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
TYPE = "11100000MB0143028R001"
DEPT = "11330100MB1703218R"


@dataclasses.dataclass(frozen=True)
class Pki:
    keystore: Path
    root: x509.Certificate
    maker: CertifiedKey
    seal: SealingContext
    root_key: ec.EllipticCurvePrivateKey


def make_pki(ks: Path) -> Pki:
    """The PKI in keystore ``ks``: root, maker, and seal A1 of DEPT authorized for TYPE."""
    create_test_pki(ks, PASS, now=T0)
    maker = load_maker(ks, PASS)
    issued = issue_signer(ks, PASS, es_id="A1", department_name="示范市市场监督管理局",
                          department_uscc=DEPT, now=T0, not_after=T0.replace(year=2029))
    signer = SoftwareSigner(load_signer_key(ks, issued.key_file, PASS), issued.cert_der)
    seal = make_seal(maker=maker, es_id="A1", kind=2, name="电子证照专用章",
                     signer_cert_der=issued.cert_der, authorized_types=[TYPE], created=T0,
                     valid_start=T0, valid_end=T0.replace(year=2028),
                     picture_png=seal_picture_png("示范市", "专用章", size_px=64))
    root_key = serialization.load_pem_private_key((ks / "root.key.pem").read_bytes(), PASS)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    return Pki(ks, load_root_cert(ks), maker, SealingContext(seal, signer), root_key)


def sealed(pki: Pki, serial: str = "A0001") -> tuple[bytes, bytes, str]:
    ident = license_identifier(TYPE, DEPT, serial)
    record = canonical_bytes({"ZZBS": ident, "ZZLXDM": TYPE, "ZZBFJGDM": DEPT, "CZZT": "某公司"})
    digest = hashlib.sha256(record).digest()
    der = pki.seal.assemble(SIGNED, digest, ident, pki.seal.sign(digest, SIGNED, ident))
    return record, der, ident


def crl(issuer: CertifiedKey, entries: list[tuple[bytes, dt.datetime]],
        key: ec.EllipticCurvePrivateKey | None = None) -> x509.CertificateRevocationList:
    builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer.cert.subject)
               .last_update(T0).next_update(AT))
    for der, when in entries:
        serial = x509.load_der_x509_certificate(der).serial_number
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build())
    return builder.sign(key or issuer.key, hashes.SHA256())


def verdict(report: VerificationReport) -> tuple[Indication, str | None]:
    return report.indication, report.sub_indication
