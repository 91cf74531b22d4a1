"""The auditor's verifier beyond the spine: revocation with proof of existence, log evidence,
bundles with proof.json, what ``licreg verify`` accepts, the HTML report and the exit codes.

Each negative case asserts its specific sub-indication.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

import registry.verify.inputs as inputs
from registry.cli import cli
from registry.errors import ConfigError
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
from registry.tlog.checkpoint import DEFAULT_ORIGIN, Checkpoint, checkpoint_body
from registry.tlog.keys import ensure_log_key
from registry.tlog.leaves import leaf_data
from registry.tlog.merkle import ListHashes, inclusion_path, leaf_hash, tree_root
from registry.tlog.proof import InclusionProof
from registry.verify import CheckStatus, Indication, VerificationReport, Verifier
from registry.verify.bundle import PROOF_FILE, read_crl_files, verify_bundle, write_bundle
from registry.verify.evidence import LogEvidence
from registry.verify.html import render_html
from registry.verify.inputs import verify_paths
from registry.verify.report import CHECK_NAMES, CheckResult
from tests.conftest import FIXTURES

PASS = b"TEST-ONLY-audit-tests"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SIGNED = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
CHECKPOINTED = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
AT = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
TYPE = "11100000MB0143028R001"
DEPT = "11330100MB1703218R"
AUDIT = FIXTURES / "audit"


@dataclasses.dataclass(frozen=True)
class Pki:
    keystore: Path
    root: x509.Certificate
    maker: CertifiedKey
    seal: SealingContext
    root_key: ec.EllipticCurvePrivateKey


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    from cryptography.hazmat.primitives import serialization

    ks = tmp_path_factory.mktemp("audit") / "keystore"
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


def evidence(ident: str, record: bytes, poe: dt.datetime = CHECKPOINTED) -> LogEvidence:
    return LogEvidence.included(identifier=ident, data_hash=hashlib.sha256(record).digest(),
                                poe=poe, detail="leaf 0 in checkpoint of size 1")


def verdict(report: VerificationReport) -> tuple[Indication, str | None]:
    return report.indication, report.sub_indication


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


# -- bundles -----------------------------------------------------------------------------------


def proof_for(pki: Pki, record: bytes, ident: str, *, size: int = 3) -> bytes:
    """A one-checkpoint log of ``size`` leaves whose leaf 1 is this license's sealing."""
    signer = ensure_log_key(pki.keystore, PASS, now=T0)
    mine = leaf_data(identifier=ident, operate_type="01", status="VALID",
                     data_hash=hashlib.sha256(record).digest(), at=SIGNED)
    leaves = [b"other-0", mine, *(f"other-{i}".encode() for i in range(2, size))]
    hashes = [leaf_hash(d) for d in leaves]
    root = tree_root(hashes)
    cp = Checkpoint(DEFAULT_ORIGIN, size, root, CHECKPOINTED, signer.certificate_der,
                    signer.sign(checkpoint_body(DEFAULT_ORIGIN, size, root, CHECKPOINTED)))
    path = inclusion_path(1, size, ListHashes(hashes).subtree)
    return InclusionProof(1, mine, tuple(path), cp).to_json()


def bundle(pki: Pki, out: Path, serial: str = "A0001", *, proof: bool = True) -> str:
    record, der, ident = sealed(pki, serial)
    write_bundle(out, record=record, signature_der=der, seal_der=pki.seal.seal_der,
                 chain=[pki.maker.cert, pki.root],
                 proof=proof_for(pki, record, ident) if proof else None)
    return ident


def test_bundle_with_proof_json(pki: Pki, tmp_path: Path) -> None:
    ident = bundle(pki, tmp_path / "b")
    assert (tmp_path / "b" / PROOF_FILE).exists()
    report = verify_bundle(tmp_path / "b", anchors=[pki.root], at=AT)
    assert verdict(report) == (Indication.PASSED, None)
    log = report.check("log_inclusion")
    assert log.status is CheckStatus.VALID and "signed 2026-03-01T09:00:00Z" in log.detail
    assert report.identifier == ident


@pytest.mark.parametrize("junk", [b"", b"{}", b'{"type": "licreg-tlog-inclusion-proof/1"}',
                                  b"\xff\xfe"])
def test_unreadable_proof_json(pki: Pki, tmp_path: Path, junk: bytes) -> None:
    bundle(pki, tmp_path / "b")
    (tmp_path / "b" / PROOF_FILE).write_bytes(junk)
    report = verify_bundle(tmp_path / "b", anchors=[pki.root], at=AT)
    assert verdict(report) == (Indication.FAILED, "LOG_INCLUSION_FAILURE")


def test_proof_of_another_license(pki: Pki, tmp_path: Path) -> None:
    bundle(pki, tmp_path / "a", "A0001")
    bundle(pki, tmp_path / "b", "A0002")
    shutil.copyfile(tmp_path / "b" / PROOF_FILE, tmp_path / "a" / PROOF_FILE)
    report = verify_bundle(tmp_path / "a", anchors=[pki.root], at=AT)
    assert verdict(report) == (Indication.FAILED, "LOG_INCLUSION_FAILURE")
    assert "A0002" in report.check("log_inclusion").detail


def test_read_crl_files(pki: Pki, tmp_path: Path) -> None:
    one = crl(pki.maker, [(pki.seal.certificate_der, T0)])
    two = crl(pki.maker, [])
    (tmp_path / "both.pem").write_bytes(one.public_bytes(Encoding.PEM)
                                        + two.public_bytes(Encoding.PEM))
    (tmp_path / "one.der").write_bytes(one.public_bytes(Encoding.DER))
    (tmp_path / "junk.crl").write_bytes(b"junk")
    assert len(read_crl_files([tmp_path / "both.pem", tmp_path / "one.der"])) == 3
    with pytest.raises(ConfigError, match="no readable CRL"):
        read_crl_files([tmp_path / "junk.crl"])
    with pytest.raises(ConfigError, match="cannot read"):
        read_crl_files([tmp_path / "absent.pem"])


# -- what verify accepts -----------------------------------------------------------------------


def fake_pdf(identifier: str | None, indication: Indication = Indication.PASSED) -> Any:
    def verify_pdf(path: Path, *, anchors: Any, at: dt.datetime) -> VerificationReport:
        status = CheckStatus.VALID if indication is Indication.PASSED else CheckStatus.INVALID
        reason = "ok" if status is CheckStatus.VALID else "HASH_FAILURE"
        return VerificationReport.from_checks(
            subject=str(path), identifier=identifier, validation_time=at,
            checks=[CheckResult(n, status if n == "integrity" else CheckStatus.VALID,
                                reason if n == "integrity" else "ok", "pdf")
                    for n in CHECK_NAMES])
    return verify_pdf


def test_folders_pdfs_and_nonsense(pki: Pki, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    tree = tmp_path / "inbox"
    bundle(pki, tree / "x" / "first", "A0001")
    bundle(pki, tree / "y", "A0002", proof=False)
    (tree / "scan.pdf").write_bytes(b"%PDF-1.7")
    (tree / "notes.txt").write_text("ignored: not a bundle or PDF", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    monkeypatch.setattr(inputs, "pdf_verifier", lambda: None)
    reports = verify_paths([tree, tmp_path / "empty", tmp_path / "absent", tmp_path / "t.txt"],
                           anchors=[pki.root], at=AT)
    got = [(Path(r.subject).name, r.indication.value, r.sub_indication, r.reasons[:1])
           for r in reports]
    assert got == [
        ("scan.pdf", "FAILED", "FORMAT_FAILURE",
         ("format: PDF verification not available",)),
        ("first", "PASSED", None, ()),
        ("y", "PASSED", None, ()),
        ("empty", "FAILED", "FORMAT_FAILURE",
         ("format: the folder holds no export bundle and no PDF",)),
        ("absent", "FAILED", "FORMAT_FAILURE", ("format: no such file or folder",)),
        ("t.txt", "FAILED", "FORMAT_FAILURE", ("format: no such file or folder",)),
    ]
    monkeypatch.setattr(inputs, "pdf_verifier", lambda: fake_pdf("1.2.156.3005.2.X"))
    pdf = verify_paths([tree / "scan.pdf"], anchors=[pki.root], at=AT)
    assert [(r.indication, r.identifier) for r in pdf] == [(Indication.PASSED, "1.2.156.3005.2.X")]


def test_a_bundle_pdf_of_another_license_is_a_hash_failure(
        pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ident = bundle(pki, tmp_path / "b")
    (tmp_path / "b" / "license.pdf").write_bytes(b"%PDF-1.7")
    monkeypatch.setattr(inputs, "pdf_verifier", lambda: fake_pdf(ident))
    [ok] = verify_paths([tmp_path / "b"], anchors=[pki.root], at=AT)
    assert verdict(ok) == (Indication.PASSED, None)
    other = license_identifier(TYPE, DEPT, "A0099")
    monkeypatch.setattr(inputs, "pdf_verifier", lambda: fake_pdf(other))
    [swapped] = verify_paths([tmp_path / "b"], anchors=[pki.root], at=AT)
    assert verdict(swapped) == (Indication.FAILED, "HASH_FAILURE")
    assert f"rendition of {other}" in swapped.check("integrity").detail
    monkeypatch.setattr(inputs, "pdf_verifier", lambda: fake_pdf(ident, Indication.FAILED))
    [broken] = verify_paths([tmp_path / "b"], anchors=[pki.root], at=AT)
    assert verdict(broken) == (Indication.FAILED, "HASH_FAILURE")
    assert broken.check("integrity").detail.startswith("license.pdf: ")


def test_the_real_pdf_verifier_is_found_when_installed() -> None:
    found = inputs.pdf_verifier()
    try:
        from registry.verify.pdf import verify_pdf
    except ImportError:
        assert found is None
    else:
        assert found is verify_pdf


# -- the HTML report ---------------------------------------------------------------------------


def test_html_report(pki: Pki) -> None:
    record, der, _ = sealed(pki)
    verifier = Verifier(anchors=[pki.root], at=AT)
    good = verifier.verify(record, der, subject="good")
    bad = verifier.verify(record + b" ", der, subject="<script>alert(1)</script>")
    page = render_html([good, bad, bad], validation_time=AT, notes=["registry: 3 licenses"])
    assert page.startswith("<!DOCTYPE html>")
    assert '<td><span class="PASSED">PASSED</span></td><td>1</td>' in page
    assert '<td><span class="FAILED">FAILED</span></td><td>2</td>' in page
    assert '<td>HASH_FAILURE</td><td>2</td>' in page
    assert page.count("<section") == 2  # only what did not pass
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<p>registry: 3 licenses</p>" in page
    assert "<p>Every item passed.</p>" in render_html([good], validation_time=AT)


# -- the CLI -----------------------------------------------------------------------------------


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_verify_usage_errors_exit_2(tmp_path: Path) -> None:
    anchors = str(AUDIT / "root.pem")
    assert run("verify", "--anchors", anchors).exit_code == 2
    (tmp_path / "junk.pem").write_text("junk", encoding="utf-8")
    bad = run("verify", str(AUDIT / "good"), "--anchors", str(tmp_path / "junk.pem"))
    assert bad.exit_code == 2 and "no PEM certificates" in bad.output
    assert run("verify", str(AUDIT / "good"), "--anchors", anchors, "--at", "soon").exit_code == 2
    assert run("verify", str(AUDIT / "good"), "--anchors", anchors,
               "--crl", str(AUDIT / "root.pem")).exit_code == 2


def test_verify_json_and_report(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    many = run("verify", str(AUDIT / "good"), str(AUDIT / "tampered_face_field"), "--anchors",
               str(AUDIT / "root.pem"), "--at", "2026-12-01T00:00:00Z", "--json",
               "--report", str(page))
    assert many.exit_code == 1
    docs = json.loads(many.output)
    assert [d["sub_indication"] for d in docs] == [None, "HASH_FAILURE"]
    html = page.read_text(encoding="utf-8")
    assert "tampered_face_field" in html and html.count("<section") == 1
    one = run("verify", str(AUDIT / "good"), "--anchors", str(AUDIT / "root.pem"),
              "--at", "2026-12-01T00:00:00Z")
    assert one.exit_code == 0
    assert one.output.splitlines()[0].startswith("PASSED  ")
    assert one.output.splitlines()[-1] == "PASSED 1"
