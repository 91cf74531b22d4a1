"""``licreg verify --registry``: every license in the database, reconciled with the log.

A registry of the 30 licenses of fixtures/batches/business-licenses.csv, checkpointed, then
changed behind the product's back in one way per test; each test asserts the specific
sub-indication and that the report names the license.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from sqlalchemy import Engine, delete, insert, select, update

from registry.batch.run import ingest_file
from registry.city.demo import MARKET
from registry.cli import cli
from registry.clock import china_text
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import License, OutboxEvent, Seal
from registry.license.canonical import canonical_bytes
from registry.seal.pki import load_root_cert
from registry.seal.queries import SealMaterial, sealing_context
from registry.tlog.checkpoint import checkpoint_body, sign_checkpoint
from registry.tlog.keys import ensure_log_key
from registry.tlog.merkle import leaf_hash
from registry.tlog.models import LogCheckpoint, LogLeaf
from registry.verify import Indication, VerificationReport
from registry.verify.audit_runs import AuditRun
from registry.verify.registry_audit import RegistryAudit, audit_registry
from tests.conftest import FIXTURES, NOW, PASSPHRASE, TODAY

BIZ = "11100000MB0143028R001"
CSV = FIXTURES / "batches" / "business-licenses.csv"
CHECKPOINT_AT = NOW + dt.timedelta(hours=1)
AT = NOW + dt.timedelta(days=1)


def ingest(engine: Engine, settings: Settings, path: Path = CSV,
           at: dt.datetime = NOW) -> None:
    report = ingest_file(engine, settings, path, department_uscc=MARKET.uscc, type_code=BIZ,
                         uploader="clerk", at=at, today=TODAY, workers=0)
    assert report.accepted > 0


def checkpoint(engine: Engine, settings: Settings, at: dt.datetime = CHECKPOINT_AT) -> None:
    with session_scope(engine) as s:
        sign_checkpoint(s, keystore=settings.keystore, passphrase=PASSPHRASE, now=at)


@pytest.fixture
def registry(world: Engine, settings: Settings) -> Engine:
    """30 sealed licenses, all covered by one checkpoint."""
    ingest(world, settings)
    checkpoint(world, settings)
    return world


def audit(engine: Engine, settings: Settings, *, at: dt.datetime = AT,
          crls: list[x509.CertificateRevocationList] | None = None,
          workers: int = 0) -> RegistryAudit:
    return audit_registry(engine, anchors=[load_root_cert(settings.keystore)], at=at,
                          crls=crls or [], workers=workers)


def by_subject(result: RegistryAudit) -> dict[str, VerificationReport]:
    return {r.subject: r for r in result.reports}


def not_passed(result: RegistryAudit) -> list[tuple[str, str | None, str]]:
    return [(r.indication.value, r.sub_indication, r.subject) for r in result.reports
            if r.indication is not Indication.PASSED]


def identifiers(engine: Engine) -> list[str]:
    with session_scope(engine) as s:
        return list(s.scalars(select(License.identifier).order_by(License.id)))


def test_a_clean_registry_passes(registry: Engine, settings: Settings) -> None:
    result = audit(registry, settings)
    assert (result.licenses, result.log_size, result.log_pending) == (30, 30, 0)
    assert (result.checkpoints, result.valid_checkpoints) == (1, 1)
    assert not_passed(result) == []
    assert [r.subject for r in result.reports] == identifiers(registry)
    first = result.reports[0]
    assert first.check("status").detail == "the license status is VALID"
    assert "checkpoint #1 (size 30" in first.check("log_inclusion").detail


def test_license_row_deleted(registry: Engine, settings: Settings) -> None:
    victim = identifiers(registry)[4]
    with session_scope(registry) as s:
        lic_id = s.scalar(select(License.id).where(License.identifier == victim))
        s.execute(delete(OutboxEvent).where(OutboxEvent.license_id == lic_id))
        s.execute(delete(License).where(License.id == lic_id))
    result = audit(registry, settings)
    assert not_passed(result) == [("FAILED", "RECORD_MISSING", victim)]
    report = by_subject(result)[victim]
    assert report.identifier == victim
    assert "deleted outside the product" in report.check("integrity").detail


def test_license_added_outside_the_product(registry: Engine, settings: Settings) -> None:
    # Sealed with the real seal key, so every signature check passes; only the log knows.
    with session_scope(registry) as s:
        template = s.scalars(select(License)).first()
        assert template is not None
        seal = s.get_one(Seal, template.seal_id)
        ctx = sealing_context(SealMaterial.of(seal, keystore=settings.keystore,
                                              passphrase=PASSPHRASE))
        elements = json.loads(template.record)
        elements["ZZBH"] = "330100999999999"
        ident = elements["ZZBS"] = elements["ZZBS"].replace(".001.", ".002.")
        record = canonical_bytes(elements)
        digest = hashlib.sha256(record).digest()
        s.execute(insert(License).values(
            identifier=ident, type_code=template.type_code, department_id=template.department_id,
            number="330100999999999", holder_code=template.holder_code, version="002",
            predecessor=None, status="VALID", valid_to=template.valid_to, record=record,
            data_hash=digest, seal_id=template.seal_id, template_id=template.template_id,
            signed_at=NOW, signature=ctx.sign(digest, NOW, ident), batch_id=None,
            created_at=NOW))
    result = audit(registry, settings)
    assert not_passed(result) == [("FAILED", "LOG_INCLUSION_FAILURE", ident)]
    report = by_subject(result)[ident]
    assert report.check("signature").reason == "ok"
    assert "added to the database outside the product" in report.check("log_inclusion").detail


@pytest.mark.parametrize("element", ["CZZT", "KZ_JYFW"], ids=["base element", "face field"])
def test_license_record_edited(registry: Engine, settings: Settings, element: str) -> None:
    victim = identifiers(registry)[7]
    with session_scope(registry) as s:
        record = s.scalar(select(License.record).where(License.identifier == victim))
        assert record is not None
        elements = json.loads(record)
        elements[element] += "（改）"
        s.execute(update(License).where(License.identifier == victim)
                  .values(record=canonical_bytes(elements)))
    result = audit(registry, settings)
    assert not_passed(result) == [("FAILED", "HASH_FAILURE", victim)]


def test_record_and_hash_edited_together(registry: Engine, settings: Settings) -> None:
    victim = identifiers(registry)[8]
    with session_scope(registry) as s:
        record = s.scalar(select(License.record).where(License.identifier == victim))
        assert record is not None
        forged = record.replace(b'"CZZT":"', b'"CZZT":"X', 1)
        s.execute(update(License).where(License.identifier == victim)
                  .values(record=forged, data_hash=hashlib.sha256(forged).digest()))
    result = audit(registry, settings)
    report = by_subject(result)[victim]
    assert (report.indication, report.sub_indication) == (Indication.FAILED,
                                                          "SIG_CRYPTO_FAILURE")
    assert report.check("log_inclusion").reason == "LOG_INCLUSION_FAILURE"
    assert "changed outside the product" in report.check("log_inclusion").detail


def test_status_changed_outside_the_product(registry: Engine, settings: Settings) -> None:
    victim = identifiers(registry)[2]
    with session_scope(registry) as s:
        s.execute(update(License).where(License.identifier == victim).values(status="REVOKED"))
    result = audit(registry, settings)
    assert not_passed(result) == [("FAILED", "LOG_INCLUSION_FAILURE", victim)]
    report = by_subject(result)[victim]
    assert "the database says REVOKED but the log's events say VALID" in (
        report.check("log_inclusion").detail)
    assert report.check("status").reason == "ok"  # the log's status, not the edited one


def test_log_leaf_modified(registry: Engine, settings: Settings) -> None:
    victim = identifiers(registry)[3]
    with session_scope(registry) as s:
        data = s.scalar(select(LogLeaf.data).where(LogLeaf.identifier == victim))
        assert data is not None
        s.execute(update(LogLeaf).where(LogLeaf.identifier == victim)
                  .values(data=data.replace(b'"VALID"', b'"REVOKED"')))
    result = audit(registry, settings)
    assert Counter(not_passed(result)) == Counter([
        ("FAILED", "LOG_INCLUSION_FAILURE", victim),
        ("FAILED", "LOG_INCLUSION_FAILURE", "log leaf 3"),
    ])
    assert by_subject(result)["log leaf 3"].identifier == victim


def test_log_leaf_modified_with_its_hash(registry: Engine, settings: Settings) -> None:
    # A careful forger rehashes the leaf: the signed checkpoint no longer matches the log.
    victim = identifiers(registry)[3]
    with session_scope(registry) as s:
        data = s.scalar(select(LogLeaf.data).where(LogLeaf.identifier == victim))
        assert data is not None
        forged = data.replace(b'"VALID"', b'"REVOKED"')
        s.execute(update(LogLeaf).where(LogLeaf.identifier == victim)
                  .values(data=forged, leaf_hash=leaf_hash(forged)))
    result = audit(registry, settings)
    subs = Counter(r.sub_indication for r in result.reports)
    assert subs == {"LOG_INCLUSION_FAILURE": 30, "LOG_CONSISTENCY_FAILURE": 1}
    assert result.valid_checkpoints == 0
    assert "the log was changed after it was signed" in by_subject(result)[
        next(r.subject for r in result.reports if r.subject.startswith("log checkpoint #1"))
    ].reasons[0]


def test_forked_log(registry: Engine, settings: Settings) -> None:
    signer = ensure_log_key(settings.keystore, PASSPHRASE, now=NOW)
    other = hashlib.sha256(b"a history shown to someone else").digest()
    when = CHECKPOINT_AT + dt.timedelta(minutes=5)
    with session_scope(registry) as s:
        s.add(LogCheckpoint(origin="licreg.test/tlog", tree_size=30, root_hash=other,
                            created_at=when, certificate=signer.certificate_der,
                            signature=signer.sign(checkpoint_body("licreg.test/tlog", 30,
                                                                  other, when))))
    result = audit(registry, settings)
    kinds = Counter(r.sub_indication for r in result.reports
                    if r.indication is not Indication.PASSED)
    assert kinds == {"LOG_FORK": 1, "LOG_CONSISTENCY_FAILURE": 1}
    fork = next(r for r in result.reports if r.sub_indication == "LOG_FORK")
    assert fork.subject == "log checkpoints #1, #2 (size 30)"
    assert fork.indication is Indication.FAILED


def test_not_yet_checkpointed(world: Engine, settings: Settings) -> None:
    ingest(world, settings)
    result = audit(world, settings)
    assert {(r.indication, r.sub_indication) for r in result.reports} == {
        (Indication.INDETERMINATE, "LOG_NOT_CHECKPOINTED")}
    assert result.log_pending == 30


def test_revoked_seal_with_and_without_proof_of_existence(world: Engine,
                                                          settings: Settings) -> None:
    crl_module = pytest.importorskip("registry.seal.crl")
    from cryptography.x509 import ReasonFlags

    ingest(world, settings)
    checkpoint(world, settings)  # 08:00 sealed, 09:00 checkpointed
    with session_scope(world) as s:
        cert_der = s.scalars(select(Seal.cert_der)).first()
    assert cert_der is not None
    revoked = crl_module.revoke_certificate(
        settings.keystore, PASSPHRASE, cert_der, at=NOW + dt.timedelta(hours=2),
        reason=ReasonFlags.key_compromise)
    crls = crl_module.load_crls(settings.keystore)
    result = audit(world, settings, crls=crls)
    assert not_passed(result) == []  # the checkpoint at 09:00 is before the 10:00 revocation
    detail = result.reports[0].check("signer_certificate").detail
    assert f"revoked at {china_text(revoked, seconds=True)}" in detail  # Beijing time
    # Without the log's checkpoint, the same licenses cannot be vouched for.
    with session_scope(world) as s:
        s.execute(delete(LogCheckpoint))
        s.execute(update(LogLeaf).values(seq=None))
    checkpoint(world, settings, at=NOW + dt.timedelta(hours=3))  # after the revocation
    late = audit(world, settings, crls=crls)
    assert {(r.indication, r.sub_indication) for r in late.reports} == {
        (Indication.INDETERMINATE, "REVOKED_NO_POE")}


def test_superseded_version(registry: Engine, settings: Settings, tmp_path: Path) -> None:
    lines = CSV.read_text(encoding="utf-8").splitlines()
    changed = lines[1].replace("100万元人民币", "200万元人民币")
    assert changed != lines[1]
    (tmp_path / "change.csv").write_text("\n".join([lines[0], changed]) + "\n", encoding="utf-8")
    ingest(registry, settings, tmp_path / "change.csv", at=NOW + dt.timedelta(hours=2))
    checkpoint(registry, settings, at=NOW + dt.timedelta(hours=3))
    result = audit(registry, settings)
    old, new = identifiers(registry)[0], identifiers(registry)[-1]
    assert not_passed(result) == []  # history does not make the audit INDETERMINATE
    assert [r.subject for r in result.reports if r.history] == [old]
    report = by_subject(result)[old]
    assert report.superseded is not None
    assert (report.superseded.successor, report.superseded.at) == (new,
                                                                   NOW + dt.timedelta(hours=2))
    status = report.check("status")
    assert (status.status.value, status.reason) == ("VALID", "LICENSE_SUPERSEDED")  # the code
    assert status.detail == (f"valid when issued; superseded by {new} on "
                             f"{china_text(NOW + dt.timedelta(hours=2), seconds=True)}")
    assert report.check("log_inclusion").reason == "ok"
    doc = report.to_dict()
    assert (doc["indication"], doc["history"], doc["superseded_by"]["identifier"]) == (
        "PASSED", True, new)
    assert not by_subject(result)[new].history
    # Before the change, the old version was the valid one, and no history.
    earlier = audit(registry, settings, at=NOW + dt.timedelta(hours=1))
    assert by_subject(earlier)[old].indication is Indication.PASSED
    assert not by_subject(earlier)[old].history
    assert by_subject(earlier)[new].sub_indication == "LICENSE_NOT_ISSUED"


def test_an_offline_bundle_of_a_superseded_version_says_what_it_did_not_check(
        registry: Engine, settings: Settings, tmp_path: Path) -> None:
    from registry.verify.export import export_bundle

    lines = CSV.read_text(encoding="utf-8").splitlines()
    (tmp_path / "change.csv").write_text(
        "\n".join([lines[0], lines[1].replace("100万元人民币", "200万元人民币")]) + "\n",
        encoding="utf-8")
    ingest(registry, settings, tmp_path / "change.csv", at=NOW + dt.timedelta(hours=2))
    old, new = identifiers(registry)[0], identifiers(registry)[-1]
    exported = NOW + dt.timedelta(hours=3)
    with session_scope(registry) as s:
        export_bundle(s, old, tmp_path / "old", at=exported)
    anchors = tmp_path / "root.pem"
    anchors.write_bytes((settings.keystore / "root.pem").read_bytes())
    out = CliRunner().invoke(cli, ["verify", str(tmp_path / "old"), "--anchors", str(anchors),
                                   "--at", AT.isoformat()])
    assert out.exit_code == 0, out.output  # the seal holds; the status is not known offline
    assert out.output.splitlines() == [
        f"PASSED  {tmp_path / 'old'}  {old}",
        "checked: format, integrity, signature, seal, signer_certificate, authorization, "
        "log_inclusion",
        "signer_certificate: revocation not checked (no CRL given)",
        "status not checked: no license status was supplied; the bundle's manifest (unsigned, "
        f"not checked) says the registry held it as SUPERSEDED (superseded by {new}) when it "
        f"was exported at {china_text(exported, seconds=True)}",
        "PASSED 1"]


def test_history_in_the_cli_and_the_html_report(registry: Engine, settings: Settings,
                                                tmp_path: Path) -> None:
    """Two ordinary 变更 re-uploads: versions 001 and 002 are history, 003 is in force."""
    lines = CSV.read_text(encoding="utf-8").splitlines()
    for n, capital in enumerate(("200万元人民币", "300万元人民币"), 1):
        (tmp_path / f"change{n}.csv").write_text(
            "\n".join([lines[0], lines[1].replace("100万元人民币", capital)]) + "\n",
            encoding="utf-8")
        ingest(registry, settings, tmp_path / f"change{n}.csv",
               at=NOW + dt.timedelta(hours=1 + n))
    checkpoint(registry, settings, at=NOW + dt.timedelta(hours=4))
    first, *_rest, second, third = identifiers(registry)
    env = {"LICREG_HOME": str(settings.home), "LICREG_DATABASE_URL": settings.database_url,
           "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode()}
    anchors, page = tmp_path / "root.pem", tmp_path / "report.html"
    runner = CliRunner()
    assert runner.invoke(cli, ["pki", "anchors", "--out", str(anchors)], env=env).exit_code == 0
    out = runner.invoke(cli, ["verify", "--registry", "--anchors", str(anchors), "--at",
                              AT.isoformat(), "--report", str(page)], env=env)
    assert out.exit_code == 0, out.output  # not INDETERMINATE (3)
    text = out.output.splitlines()
    start = text.index("history: superseded versions, valid when issued (2)")
    when = [china_text(NOW + dt.timedelta(hours=h), seconds=True) for h in (2, 3)]
    assert text[start + 1:start + 3] == [
        f"    {first}  valid when issued; superseded by {second} on {when[0]}",
        f"    {second}  valid when issued; superseded by {third} on {when[1]}"]
    assert not any(line.startswith(("PASSED  " + first, "PASSED  " + second)) for line in text)
    assert text[-1] == "PASSED 30, history 2"
    html = page.read_text(encoding="utf-8")
    assert "<h2>Not passed (0)</h2>" in html
    assert "<h2>history: superseded versions, valid when issued (2)</h2>" in html
    assert f"<tr><td>{first}</td><td>{second}</td><td>{when[0]}</td></tr>" in html
    assert "<tr><td>history (superseded versions)</td><td>2</td></tr>" in html
    assert '<td><span class="PASSED" title="PASSED">PASSED</span></td><td>30</td>' in html
    docs = json.loads(runner.invoke(cli, ["verify", "--registry", "--anchors", str(anchors),
                                          "--at", AT.isoformat(), "--json"], env=env).output)
    assert [(d["subject"], d["indication"]) for d in docs if d["history"]] == [
        (first, "PASSED"), (second, "PASSED")]
    with session_scope(registry) as s:  # the bulletin counts them as history, not as passes
        run = s.scalars(select(AuditRun).order_by(AuditRun.id.desc())).first()
        assert run is not None
        assert (run.passed, run.failed, run.not_in_force) == (30, 0, 2)


def test_worker_processes_give_the_same_reports(registry: Engine, settings: Settings) -> None:
    victim = identifiers(registry)[5]
    with session_scope(registry) as s:
        s.execute(update(License).where(License.identifier == victim).values(status="EXPIRED"))
    alone = audit(registry, settings)
    spread = audit(registry, settings, workers=2)
    assert [r.to_dict() for r in spread.reports] == [r.to_dict() for r in alone.reports]
    assert not_passed(spread) == [("FAILED", "LOG_INCLUSION_FAILURE", victim)]


def test_cli_verify_registry(registry: Engine, settings: Settings, tmp_path: Path) -> None:
    env = {"LICREG_HOME": str(settings.home), "LICREG_DATABASE_URL": settings.database_url,
           "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode()}
    anchors = tmp_path / "root.pem"
    runner = CliRunner()
    assert runner.invoke(cli, ["pki", "anchors", "--out", str(anchors)], env=env).exit_code == 0
    ok = runner.invoke(cli, ["verify", "--registry", "--anchors", str(anchors),
                             "--at", AT.isoformat()], env=env)
    assert ok.exit_code == 0, ok.output
    lines = ok.output.splitlines()
    assert len(lines) == 30 + 4
    assert lines[-4:] == [
        "registry: 30 licenses; log: 30 leaves in checkpoints, 0 pending; 1 checkpoints (1 valid)",
        "checked: format, integrity, signature, seal, signer_certificate, authorization, status, "
        "log_inclusion",
        "signer_certificate: revocation not checked (no CRL given)",  # no seal revoked yet
        "PASSED 30"]
    victim = identifiers(registry)[0]
    with session_scope(registry) as s:
        s.execute(update(License).where(License.identifier == victim).values(status="SUSPENDED"))
    page = tmp_path / "report.html"
    bad = runner.invoke(cli, ["verify", "--registry", "--anchors", str(anchors), "--json",
                              "--report", str(page), "--at", AT.isoformat()], env=env)
    assert bad.exit_code == 1
    docs = json.loads(bad.output)
    assert isinstance(docs, list) and len(docs) == 30
    assert [d["subject"] for d in docs if d["indication"] != "PASSED"] == [victim]
    html = page.read_text(encoding="utf-8")
    assert "registry: 30 licenses" in html and victim in html


def test_exported_bundles_carry_the_log_proof_and_their_pdf(registry: Engine, settings: Settings,
                                                            tmp_path: Path) -> None:
    pytest.importorskip("registry.render.renditions")
    from registry.verify.export import export_bundle

    first, second = identifiers(registry)[:2]
    with session_scope(registry) as s:
        files = export_bundle(s, first, tmp_path / "a", settings=settings, at=NOW)
        export_bundle(s, second, tmp_path / "b", settings=settings, at=NOW)
    assert "proof.json" in [f.name for f in files]
    anchors = tmp_path / "root.pem"
    anchors.write_bytes((settings.keystore / "root.pem").read_bytes())

    def verify(*paths: Path) -> list[dict[str, Any]]:
        out = CliRunner().invoke(cli, ["verify", *map(str, paths), "--anchors", str(anchors),
                                       "--at", AT.isoformat(), "--json"])
        docs = json.loads(out.output)
        return docs if isinstance(docs, list) else [docs]

    [good] = verify(tmp_path / "a")
    assert (good["indication"], good["identifier"]) == ("PASSED", first)
    log = next(c for c in good["checks"] if c["name"] == "log_inclusion")
    assert log["status"] == "VALID" and "signed " in log["detail"]
    # The PDF of the second license put in the first license's bundle.
    (tmp_path / "a" / "license.pdf").write_bytes((tmp_path / "b" / "license.pdf").read_bytes())
    [swapped, pdf] = verify(tmp_path / "a", tmp_path / "b" / "license.pdf")
    assert (swapped["indication"], swapped["sub_indication"]) == ("FAILED", "HASH_FAILURE")
    assert f"rendition of {second}" in str(swapped["reasons"])
    assert (pdf["indication"], pdf["identifier"]) == ("PASSED", second)


def test_an_export_before_any_checkpoint_says_it_has_no_proof(world: Engine, settings: Settings,
                                                              tmp_path: Path) -> None:
    from registry.verify.export import export_bundle

    ingest(world, settings)
    first = identifiers(world)[0]
    with session_scope(world) as s:
        files = export_bundle(s, first, tmp_path / "early", at=NOW)
    assert [f.name for f in files] == ["chain.pem", "license.json", "manifest.json", "seal.der",
                                       "signature.der"]
    manifest = json.loads((tmp_path / "early" / "manifest.json").read_bytes())
    assert (manifest["identifier"], manifest["log_proof"], manifest["status"]) == (
        first, None, "VALID")
    assert manifest["no_log_proof"] == (f"the leaf of {first} is not in a checkpoint yet: run "
                                        "`licreg log checkpoint`")
    anchors = tmp_path / "root.pem"
    anchors.write_bytes((settings.keystore / "root.pem").read_bytes())
    early = CliRunner().invoke(cli, ["verify", str(tmp_path / "early"), "--anchors",
                                     str(anchors), "--at", AT.isoformat(), "--json"])
    assert early.exit_code == 3
    doc = json.loads(early.output)
    assert (doc["indication"], doc["sub_indication"]) == ("INDETERMINATE", "LOG_PROOF_MISSING")
    assert manifest["no_log_proof"] in doc["reasons"][0]
    checkpoint(world, settings)
    with session_scope(world) as s:
        export_bundle(s, first, tmp_path / "later", at=NOW)
    assert json.loads((tmp_path / "later" / "manifest.json").read_bytes())["log_proof"] == (
        "proof.json")
    later = CliRunner().invoke(cli, ["verify", str(tmp_path / "later"), "--anchors",
                                     str(anchors), "--at", AT.isoformat()])
    assert later.exit_code == 0, later.output


def test_licenses_sealed_during_the_audit_are_not_false_alarms(
        registry: Engine, settings: Settings, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import registry.verify.registry_audit as registry_audit

    lines = CSV.read_text(encoding="utf-8").splitlines()
    (tmp_path / "change.csv").write_text(
        "\n".join([lines[0], lines[1].replace("100万元人民币", "300万元人民币")]) + "\n",
        encoding="utf-8")
    real_scan = registry_audit.scan_log

    def scan_then_seal(*args: Any, **kwargs: Any) -> Any:
        scanned = real_scan(*args, **kwargs)
        # A clerk's batch commits between the log scan and the reading of the licenses.
        ingest(registry, settings, tmp_path / "change.csv", at=NOW + dt.timedelta(hours=2))
        return scanned

    monkeypatch.setattr(registry_audit, "scan_log", scan_then_seal)
    result = audit(registry, settings)
    assert (result.licenses, not_passed(result)) == (30, [])
    assert len(identifiers(registry)) == 31  # it was sealed, just after the audit's snapshot
