"""The transparency-log checkpoint and the registry audit as flows, under the Prefect harness.

After an ingest every license waits for a checkpoint: the audit is INDETERMINATE (a Completed
run named Indeterminate) until the checkpoint flow runs, then PASSED; a record changed behind
the registry's back makes the audit a Failed run. The checkpoint flow signs nothing when
nothing changed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func, select

from registry.city.demo import MARKET
from registry.clock import utc_now
from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.seal.pki import load_root_cert
from registry.verify.audit_runs import AuditRun
from registry.verify.registry_audit import audit_registry
from registry.verify.report import LOG_NOT_CHECKPOINTED, Indication
from tests.conftest import FIXTURES
from tests.flows.runs import newest_artifact, recorded_state, tamper

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
BIZ = "11100000MB0143028R001"


def _ingest() -> int:
    from flows.ingest import ingest_and_seal

    report = asyncio.run(ingest_and_seal(str(FIXTURES / "batches" / "business-licenses.csv"),
                                         MARKET.uscc, BIZ))
    assert report["status"] == "done"
    return int(report["accepted"])


def test_the_checkpoint_flow_checkpoints_an_ingest_once(harness: None,
                                                        demo_env: Settings) -> None:
    from flows.checkpoint import checkpoint_flow

    accepted = _ingest()
    engine = make_engine(demo_env.database_url)
    anchors = [load_root_cert(demo_env.keystore)]
    before = audit_registry(engine, anchors=anchors, at=utc_now())
    assert before.licenses == accepted and before.log_pending >= accepted
    assert {r.sub_indication for r in before.reports} == {LOG_NOT_CHECKPOINTED}

    first = checkpoint_flow()
    assert first["made"] and first["tree_size"] == before.log_size + before.log_pending
    again = checkpoint_flow()  # nothing written since: nothing signed
    assert (again["made"], again["tree_size"], again["root_hash"]) == (
        False, first["tree_size"], first["root_hash"])

    after = audit_registry(engine, anchors=anchors, at=utc_now())
    assert (after.log_pending, after.checkpoints, after.valid_checkpoints) == (0, 1, 1)
    assert {r.indication for r in after.reports} == {Indication.PASSED}
    engine.dispose()


def test_the_audit_flow_is_indeterminate_passed_then_failed(harness: None, demo_env: Settings,
                                                            tmp_path: Path) -> None:
    from flows.audit import ARTIFACT_KEY, INDETERMINATE_STATE, registry_audit
    from flows.checkpoint import checkpoint_flow
    from flows.outcome import summary

    accepted = _ingest()
    waiting = registry_audit(return_state=True)  # nothing checkpointed yet
    recorded = recorded_state(waiting)
    assert waiting.is_completed() and recorded.is_completed()
    assert recorded.name == INDETERMINATE_STATE
    assert recorded.message == (f"registry audit INDETERMINATE: {accepted} of {accepted} reports "
                                f"(INDETERMINATE LOG_NOT_CHECKPOINTED {accepted})")
    artifact = newest_artifact(ARTIFACT_KEY)
    assert artifact.type == "markdown" and artifact.description == recorded.message
    assert f"| INDETERMINATE LOG_NOT_CHECKPOINTED | {accepted} |" in str(artifact.data)

    checkpoint_flow()
    anchors = tmp_path / "anchors.pem"  # an auditor's own copy of the trust anchor
    anchors.write_bytes(load_root_cert(demo_env.keystore).public_bytes(Encoding.PEM))
    passed = registry_audit(anchors=str(anchors), return_state=True)
    assert recorded_state(passed).type == "COMPLETED" and recorded_state(passed).name == "Completed"
    assert (summary(passed)["verdict"], summary(passed)["passed"]) == ("PASSED", accepted)
    assert f"# registry audit PASSED: {accepted} reports" in str(newest_artifact(ARTIFACT_KEY).data)

    tamper(demo_env, 1)
    failed = registry_audit(return_state=True)
    recorded = recorded_state(failed)
    assert failed.is_failed() and recorded.is_failed()
    assert recorded.message == (f"registry audit FAILED: 1 of {accepted} reports "
                                "(FAILED HASH_FAILURE 1)")
    result = summary(failed)
    (problem,) = result["problems"]
    assert problem["verdict"].startswith("FAILED HASH_FAILURE")
    text = str(newest_artifact(ARTIFACT_KEY).data)
    assert f"| {problem['subject']} | FAILED HASH_FAILURE" in text

    engine = make_engine(demo_env.database_url)
    with session_scope(engine) as s:  # every run recorded, for the weekly bulletin
        assert s.scalar(select(func.count()).select_from(AuditRun)) == 3
    engine.dispose()


def test_a_checkpoint_without_the_passphrase_is_a_failed_flow_run(
        harness: None, demo_env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.checkpoint import checkpoint_flow

    _ingest()
    monkeypatch.delenv("LICREG_KEY_PASSPHRASE")
    state = checkpoint_flow(return_state=True)
    recorded = recorded_state(state)
    assert state.is_failed() and recorded.is_failed()
    assert recorded.message.startswith("log checkpoint not signed: ")
    assert "LICREG_KEY_PASSPHRASE" in recorded.message
    assert newest_artifact("checkpoint").description == recorded.message
