"""The verifier's verdicts that need more than the license (registry.verify.core with
registry.verify.evidence): revocation in the seal maker's CRLs with and without a proof of
existence, log evidence of this license or another, and verify_parts (the same checks without
the DER).

Each negative case asserts its specific sub-indication.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from registry.seal.pki import CertifiedKey
from registry.verify import CheckStatus, Indication, Verifier
from registry.verify.evidence import LogEvidence
from tests.support.verify import AT, CHECKPOINTED, SIGNED, Pki, crl, make_pki, sealed, verdict


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("audit") / "keystore")


def evidence(ident: str, record: bytes, poe: dt.datetime = CHECKPOINTED) -> LogEvidence:
    return LogEvidence.included(identifier=ident, data_hash=hashlib.sha256(record).digest(),
                                poe=poe, detail="leaf 0 in checkpoint of size 1")


# -- revocation and proof of existence --------------------------------------------------------


def test_revoked_after_signing_needs_a_proof_of_existence(pki: Pki) -> None:
    record, der, ident = sealed(pki)
    crls = [crl(pki.maker, [(pki.seal.certificate_der, dt.datetime(2026, 4, 1, tzinfo=dt.UTC))])]
    verifier = Verifier(anchors=[pki.root], at=AT, crls=crls)
    no_poe = verifier.verify(record, der, subject=ident)
    assert verdict(no_poe) == (Indication.INDETERMINATE, "REVOKED_NO_POE")
    assert verdict(verifier.verify(record, der, subject=ident, log=evidence(ident, record))) == (
        Indication.PASSED, None)
    assert verdict(verifier.verify(record, der, subject=ident, poe=CHECKPOINTED)) == (
        Indication.PASSED, None)
    # A proof of existence that comes after the revocation proves nothing useful.
    late = dt.datetime(2026, 4, 2, tzinfo=dt.UTC)
    assert verdict(verifier.verify(record, der, subject=ident, poe=late)) == (
        Indication.INDETERMINATE, "REVOKED_NO_POE")
    # Audited as of before the revocation, there was nothing to prove.
    before = Verifier(anchors=[pki.root], at=dt.datetime(2026, 3, 15, tzinfo=dt.UTC), crls=crls)
    assert verdict(before.verify(record, der, subject=ident)) == (Indication.PASSED, None)


def test_revoked_before_signing_fails_whatever_the_proof(pki: Pki) -> None:
    record, der, ident = sealed(pki)
    crls = [crl(pki.maker, [(pki.seal.certificate_der, dt.datetime(2026, 2, 1, tzinfo=dt.UTC))])]
    report = Verifier(anchors=[pki.root], at=AT, crls=crls).verify(
        record, der, subject=ident, log=evidence(ident, record))
    assert verdict(report) == (Indication.FAILED, "REVOKED")
    assert report.check("log_inclusion").status is CheckStatus.VALID


def test_a_revoked_maker_ca_revokes_its_seals(pki: Pki) -> None:
    record, der, ident = sealed(pki)
    root = CertifiedKey(pki.root, pki.root_key)
    maker_der = pki.maker.cert.public_bytes(Encoding.DER)
    crls = [crl(root, [(maker_der, dt.datetime(2026, 2, 1, tzinfo=dt.UTC))])]
    report = Verifier(anchors=[pki.root], at=AT, crls=crls).verify(record, der, subject=ident)
    assert verdict(report) == (Indication.FAILED, "REVOKED")
    assert "seal maker CA" in report.check("signer_certificate").detail


def test_a_crl_not_signed_by_the_issuer_is_ignored(pki: Pki) -> None:
    record, der, ident = sealed(pki)
    forged = crl(pki.maker, [(pki.seal.certificate_der, dt.datetime(2026, 2, 1, tzinfo=dt.UTC))],
                 key=ec.generate_private_key(ec.SECP256R1()))
    report = Verifier(anchors=[pki.root], at=AT, crls=[forged]).verify(record, der, subject=ident)
    assert verdict(report) == (Indication.PASSED, None)
    assert "checked for 0 of 2" in report.check("signer_certificate").detail


def test_an_empty_crl_is_a_clean_bill(pki: Pki) -> None:
    record, der, ident = sealed(pki)
    root = CertifiedKey(pki.root, pki.root_key)
    report = Verifier(anchors=[pki.root], at=AT, crls=[crl(pki.maker, []), crl(root, [])]).verify(
        record, der, subject=ident)
    assert verdict(report) == (Indication.PASSED, None)
    assert "not revoked per the CRLs" in report.check("signer_certificate").detail


# -- log evidence ------------------------------------------------------------------------------


def test_log_evidence_must_be_for_this_license(pki: Pki) -> None:
    record, der, ident = sealed(pki)
    other_record, _, other_ident = sealed(pki, "A0002")
    crls = [crl(pki.maker, [(pki.seal.certificate_der, dt.datetime(2026, 4, 1, tzinfo=dt.UTC))])]
    verifier = Verifier(anchors=[pki.root], at=AT, crls=crls)
    for wrong in (evidence(other_ident, record), evidence(ident, other_record)):
        report = verifier.verify(record, der, subject=ident, log=wrong)
        # The log check fails, and its checkpoint is no proof of existence for this license.
        assert report.check("log_inclusion").reason == "LOG_INCLUSION_FAILURE"
        assert report.check("signer_certificate").reason == "REVOKED_NO_POE"
        assert verdict(report) == (Indication.FAILED, "LOG_INCLUSION_FAILURE")


def test_undecided_log_evidence_is_indeterminate(pki: Pki) -> None:
    record, der, ident = sealed(pki)
    pending = LogEvidence.undecided("LOG_NOT_CHECKPOINTED", "no checkpoint yet")
    report = Verifier(anchors=[pki.root], at=AT).verify(record, der, subject=ident, log=pending)
    assert verdict(report) == (Indication.INDETERMINATE, "LOG_NOT_CHECKPOINTED")


def test_verify_parts_is_verify_without_the_der(pki: Pki) -> None:
    record, der, ident = sealed(pki)
    digest = hashlib.sha256(record).digest()
    signature = pki.seal.sign(digest, SIGNED, ident)
    der = pki.seal.assemble(SIGNED, digest, ident, signature)
    verifier = Verifier(anchors=[pki.root], at=AT)
    parts: dict[str, Any] = dict(seal_der=pki.seal.seal_der, cert_der=pki.seal.certificate_der,
                                 signed_at=SIGNED, data_hash=digest, identifier=ident,
                                 signature=signature, subject=ident)
    whole = verifier.verify(record, der, subject=ident)
    split = verifier.verify_parts(record, **parts)
    assert [(c.name, c.status, c.reason) for c in split.checks] == [
        (c.name, c.status, c.reason) for c in whole.checks]
    assert split.indication is Indication.PASSED
    flipped = bytes([signature[0]]) + bytes([signature[1] ^ 1]) + signature[2:]
    assert verdict(verifier.verify_parts(record, **{**parts, "signature": flipped})) in {
        (Indication.FAILED, "SIG_CRYPTO_FAILURE"), (Indication.FAILED, "FORMAT_FAILURE")}
    moved = {**parts, "signed_at": SIGNED + dt.timedelta(seconds=1)}
    assert verdict(verifier.verify_parts(record, **moved)) == (
        Indication.FAILED, "SIG_CRYPTO_FAILURE")
    assert verdict(verifier.verify_parts(b"{}", **parts)) == (Indication.FAILED, "HASH_FAILURE")
    assert verdict(verifier.verify_parts(record, **{**parts, "identifier": "标识"})) == (
        Indication.FAILED, "FORMAT_FAILURE")


def test_passing_reports_share_their_check_results(pki: Pki) -> None:
    verifier = Verifier(anchors=[pki.root], at=AT)
    first = verifier.verify(*sealed(pki, "A0001")[:2], subject="a")
    second = verifier.verify(*sealed(pki, "A0002")[:2], subject="b")
    assert all(a is b for a, b in zip(first.checks, second.checks, strict=True))
