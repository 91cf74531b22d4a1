"""The detection suite on fixtures/audit/ (made by fixtures/make_audit.py): ``licreg verify`` as
an auditor runs it, one case per defect, each asserting its specific sub-indication.

Cases that need a database (a deleted license row, a changed log leaf in the registry, a
forked stored log) are in tests/verify/test_registry_audit.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from registry.cli import cli
from tests.conftest import FIXTURES

AUDIT = FIXTURES / "audit"
AT = "2026-12-01T00:00:00Z"  # the validation time the fixtures are written for


def verify(*args: str, anchors: Path = AUDIT / "root.pem") -> Result:
    return CliRunner().invoke(
        cli,
        ["verify", *args, "--anchors", str(anchors), "--crl", str(AUDIT / "maker-crl.pem"),
         "--at", AT, "--json"],
        catch_exceptions=False,
    )


CASES = [
    # (fixture, exit code, indication, sub-indication, the check that decides)
    ("good", 0, "PASSED", None, None),
    ("tampered_base_element", 1, "FAILED", "HASH_FAILURE", "integrity"),
    ("tampered_face_field", 1, "FAILED", "HASH_FAILURE", "integrity"),
    ("swapped_record", 1, "FAILED", "HASH_FAILURE", "integrity"),
    ("flipped_signature_byte", 1, "FAILED", "SIG_CRYPTO_FAILURE", "signature"),
    ("other_department_seal", 1, "FAILED", "NOT_AUTHORIZED", "authorization"),
    ("unauthorized_type_seal", 1, "FAILED", "NOT_AUTHORIZED", "authorization"),
    ("revoked_before_signing", 1, "FAILED", "REVOKED", "signer_certificate"),
    ("revoked_after_signing_with_poe", 0, "PASSED", None, None),
    ("revoked_after_signing_no_poe", 3, "INDETERMINATE", "REVOKED_NO_POE", "signer_certificate"),
    ("expired_signer_no_poe", 3, "INDETERMINATE", "OUT_OF_BOUNDS_NO_POE", "signer_certificate"),
    ("expired_signer_with_poe", 0, "PASSED", None, None),
    ("log_leaf_modified", 1, "FAILED", "LOG_INCLUSION_FAILURE", "log_inclusion"),
]


@pytest.mark.parametrize(("name", "code", "indication", "sub", "check"), CASES,
                         ids=[c[0] for c in CASES])
def test_detection_suite(name: str, code: int, indication: str, sub: str | None,
                         check: str | None) -> None:
    result = verify(str(AUDIT / name))
    assert result.exit_code == code, result.output
    report = json.loads(result.output)
    assert (report["indication"], report["sub_indication"]) == (indication, sub)
    statuses = {c["name"]: c for c in report["checks"]}
    if check is None:
        assert report["reasons"] == []
        assert statuses["log_inclusion"]["status"] in {"VALID", "SKIPPED"}
    else:
        assert statuses[check]["reason"] == sub
        assert report["reasons"][0].startswith(f"{check}: ")


def test_poe_comes_from_the_checkpoint() -> None:
    # The same license, revoked 2026-04-01: its checkpoint (2026-03-01 09:00) is what keeps it.
    with_poe = json.loads(verify(str(AUDIT / "revoked_after_signing_with_poe")).output)
    detail = {c["name"]: c["detail"] for c in with_poe["checks"]}
    assert ("after the proof of existence at 2026-03-01 17:00:00 Beijing time"
            in detail["signer_certificate"])
    assert "signed 2026-03-01 17:00:00 Beijing time" in detail["log_inclusion"]


def test_without_the_crl_revocation_is_not_checked() -> None:
    result = CliRunner().invoke(cli, [
        "verify", str(AUDIT / "revoked_before_signing"), "--anchors", str(AUDIT / "root.pem"),
        "--at", AT, "--json"])
    report = json.loads(result.output)
    assert report["indication"] == "PASSED"
    detail = next(c["detail"] for c in report["checks"] if c["name"] == "signer_certificate")
    assert "revocation not checked" in detail


def test_untrusted_root() -> None:
    result = verify(str(AUDIT / "good"), anchors=AUDIT / "stranger-root.pem")
    assert result.exit_code == 3
    report = json.loads(result.output)
    assert (report["indication"], report["sub_indication"]) == (
        "INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")
    checks = {c["name"]: c for c in report["checks"]}
    # Neither the seal's chain nor the log key reaches the stranger's root.
    assert checks["signer_certificate"]["reason"] == "NO_CERTIFICATE_CHAIN_FOUND"
    assert checks["log_inclusion"]["reason"] == "NO_CERTIFICATE_CHAIN_FOUND"


def test_forked_log_between_two_bundles() -> None:
    result = verify(str(AUDIT / "forked_log"))
    assert result.exit_code == 1
    reports = json.loads(result.output)
    assert [r["indication"] for r in reports] == ["PASSED", "PASSED", "FAILED"]
    fork = reports[2]
    assert fork["sub_indication"] == "LOG_FORK"
    assert "forked_log/a" in fork["subject"] and "forked_log/b" in fork["subject"]
    # Each bundle alone is fine: only seeing both shows the log told two stories.
    alone = verify(str(AUDIT / "forked_log" / "a"))
    assert alone.exit_code == 0


def test_whole_folder_exit_code_is_chosen_once() -> None:
    result = CliRunner().invoke(cli, [
        "verify", str(AUDIT), "--anchors", str(AUDIT / "root.pem"),
        "--crl", str(AUDIT / "maker-crl.pem"), "--at", AT])
    assert result.exit_code == 1  # any FAILED wins over INDETERMINATE
    lines = result.output.splitlines()
    items = [line for line in lines if not line.startswith("    ")]
    # 15 bundles (forked_log holds two) and the fork between them, what was and was not
    # checked for all of them, then the counts.
    assert len(items) == 15 + 1 + 2 + 1
    assert items[-3:] == [
        "checked: format, integrity, signature, seal, signer_certificate, authorization, "
        "log_inclusion",
        "status not checked: no license status was supplied",
        "PASSED 5, FAILED 9, INDETERMINATE 2"]
