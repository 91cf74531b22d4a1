"""What ``licreg verify`` accepts (registry.verify.inputs, registry.verify.bundle): export
bundles with proof.json, CRL files, folders, PDFs and nonsense; the HTML report
(registry.verify.html) and the exit codes.

Each negative case asserts its specific sub-indication.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import Encoding

import registry.verify.inputs as inputs
from registry.cli import cli
from registry.errors import ConfigError
from registry.license.codes import license_identifier
from registry.tlog.checkpoint import DEFAULT_ORIGIN, Checkpoint, checkpoint_body
from registry.tlog.keys import ensure_log_key
from registry.tlog.leaves import leaf_data
from registry.tlog.merkle import ListHashes, inclusion_path, leaf_hash, tree_root
from registry.tlog.proof import InclusionProof
from registry.verify import CheckStatus, Indication, VerificationReport, Verifier
from registry.verify.bundle import (
    MANIFEST_FILE,
    PROOF_FILE,
    read_crl_files,
    verify_bundle,
    write_bundle,
)
from registry.verify.html import render_html
from registry.verify.inputs import verify_paths
from registry.verify.report import CHECK_NAMES, CheckResult
from tests.conftest import FIXTURES
from tests.support.verify import (
    AT,
    CHECKPOINTED,
    DEPT,
    PASS,
    SIGNED,
    T0,
    TYPE,
    Pki,
    crl,
    make_pki,
    sealed,
    verdict,
)

AUDIT = FIXTURES / "audit"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("audit") / "keystore")


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
    assert log.status is CheckStatus.VALID
    assert "signed 2026-03-01 17:00:00 Beijing time" in log.detail  # times in Beijing time
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


def test_a_bundle_without_its_log_proof_is_indeterminate(pki: Pki, tmp_path: Path) -> None:
    bundle(pki, tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / MANIFEST_FILE).read_bytes())
    assert (manifest["type"], manifest["log_proof"]) == ("licreg-export-bundle/1", PROOF_FILE)
    (tmp_path / "b" / PROOF_FILE).unlink()  # the manifest still lists it
    removed = verify_bundle(tmp_path / "b", anchors=[pki.root], at=AT)
    assert verdict(removed) == (Indication.INDETERMINATE, "LOG_PROOF_MISSING")
    assert "the manifest lists proof.json but the bundle does not carry it" in (
        removed.check("log_inclusion").detail)
    (tmp_path / "b" / MANIFEST_FILE).unlink()  # a bundle from before manifests
    old = verify_bundle(tmp_path / "b", anchors=[pki.root], at=AT)
    assert verdict(old) == (Indication.INDETERMINATE, "LOG_PROOF_MISSING")
    assert "no proof.json and no manifest" in old.check("log_inclusion").detail
    (tmp_path / "b" / MANIFEST_FILE).write_text('{"type": "something else"}', encoding="utf-8")
    junk = verify_bundle(tmp_path / "b", anchors=[pki.root], at=AT)
    assert verdict(junk) == (Indication.FAILED, "FORMAT_FAILURE")
    assert "manifest.json is not a licreg-export-bundle/1 manifest" in junk.reasons[0]


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
        ("y", "INDETERMINATE", "LOG_PROOF_MISSING",
         ("log_inclusion: the bundle carries no proof.json: nothing shows the license is in "
          "the transparency log; the exporter says: no reason given",)),
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
    assert '<td><span class="PASSED" title="PASSED">PASSED</span></td><td>1</td>' in page
    assert '<td><span class="FAILED" title="FAILED">FAILED</span></td><td>2</td>' in page
    assert ("<td>the record does not match what was signed <code>HASH_FAILURE</code></td>"
            "<td>2</td>") in page
    assert '<html lang="en">' in page  # the reader asked for English (conftest)
    assert page.count("<section") == 2  # only what did not pass
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<p>registry: 3 licenses</p>" in page
    alone = render_html([good], validation_time=AT)
    assert "<p>Every item passed.</p>" in alone
    # What the verdict covers: every check made but status and log (no source, no proof).
    assert ("<p>checked: format, integrity, signature, seal, signer_certificate, "
            "authorization</p>") in alone
    assert ('<p class="SKIPPED">status not checked: no license status was supplied</p>'
            in alone)
    assert ('<p class="SKIPPED">signer_certificate: revocation not checked (no CRL given)</p>'
            in alone)
    assert good.to_dict()["not_checked"] == ["revocation", "status", "log_inclusion"]
    assert '<section id="history">' not in alone


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


@pytest.mark.parametrize("where", ["path", "--anchors", "--crl"])
def test_a_missing_path_is_a_usage_error_naming_it(tmp_path: Path, where: str) -> None:
    absent = str(tmp_path / "nonexistent-path")
    args = {"path": [absent, "--anchors", str(AUDIT / "root.pem")],
            "--anchors": [str(AUDIT / "good"), "--anchors", absent],
            "--crl": [str(AUDIT / "good"), "--anchors", str(AUDIT / "root.pem"), "--crl", absent]}
    result = CliRunner().invoke(cli, ["verify", *args[where]])
    assert result.exit_code == 2
    assert f"'{absent}' does not exist" in result.output
    assert "FORMAT_FAILURE" not in result.output


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
