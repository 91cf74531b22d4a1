"""The spine, as a user runs it: CLI in-process, the provincial endpoint in its own process.

init --demo → ingest a department CSV → province serve → push (twice) → export → verify, and the
three tamper verdicts an auditor must get.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from registry.cli import cli
from tests.conftest import FIXTURES, PASSPHRASE
from tests.support.province import serve_endpoint

pytestmark = pytest.mark.slow
BIZ = "11100000MB0143028R001"
MARKET = "11330100MB1703218R"


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> dict[str, str]:
    return {"LICREG_HOME": str(tmp_path / "var"), "LICREG_DATABASE_URL": db_url,
            "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode()}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def endpoint(env: dict[str, str]) -> Iterator[str]:
    """``licreg province serve`` in its own process, as an operator starts it."""
    assert run(env, "init", "--demo").exit_code == 0
    with serve_endpoint(env) as url:
        yield url


def test_csv_to_province_to_auditor(env: dict[str, str], endpoint: str, tmp_path: Path) -> None:
    departments = json.loads(run(env, "department", "list", "--json").output)
    market = next(d for d in departments if d["uscc"] == MARKET)
    assert set(market["type_codes"]) >= {BIZ, "11100000MB0143028R002"}
    types = {t["code"]: t["name"] for t in json.loads(run(env, "type", "list", "--json").output)}
    assert types[BIZ] == "营业执照" and all(len(c) == 21 for c in types)

    result = run(env, "ingest", str(FIXTURES / "batches" / "business-licenses.csv"),
                 "--department", MARKET, "--type", BIZ, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rows_read"] == report["accepted"] + report["filtered"] + report["rejected"]
    assert report["accepted"] > 0 and report["rejected"] > 0 and report["filtered"] > 0
    accepted = [r for r in report["rows"] if r["outcome"] == "accepted"]
    assert all(r["identifier"].startswith("1.2.156.3005.2." + BIZ) for r in accepted)

    pushed = run(env, "push", "--endpoint", endpoint, "--json")
    assert pushed.exit_code == 0, pushed.output
    assert json.loads(pushed.output)["accepted"] == report["accepted"]
    assert httpx.get(f"{endpoint}/stats").json()["licenses"] == report["accepted"]
    again = json.loads(run(env, "push", "--endpoint", endpoint, "--json").output)
    assert again["sent"] == 0
    assert httpx.get(f"{endpoint}/stats").json()["licenses"] == report["accepted"]

    ident = accepted[0]["identifier"]
    shown = json.loads(run(env, "license", "show", ident).output)
    assert shown["elements"]["ZZBS"] == ident
    listed = json.loads(run(env, "license", "list", "--json").output)
    assert len(listed) == report["accepted"]

    early = run(env, "export", ident, "--out", str(tmp_path / "early"), "--json")
    assert early.exit_code == 0 and json.loads(early.output)["log_proof"] is False
    said = CliRunner().invoke(cli, ["export", ident, "--out", str(tmp_path / "early")], env=env)
    assert "no log proof in this bundle" in said.stderr and "licreg log checkpoint" in said.stderr
    bundle = tmp_path / "bundle"
    assert run(env, "log", "checkpoint").exit_code == 0  # else the bundle has no log proof
    exported = run(env, "export", ident, "--out", str(bundle), "--json")
    assert exported.exit_code == 0 and json.loads(exported.output)["log_proof"] is True
    assert {f["name"] for f in json.loads(exported.output)["files"]} >= {"proof.json",
                                                                          "manifest.json"}
    assert {"chain.pem", "license.json", "seal.der", "signature.der", "license.pdf"} <= {
        p.name for p in bundle.iterdir()}
    anchors = tmp_path / "root.pem"
    assert run(env, "pki", "anchors", "--out", str(anchors)).exit_code == 0

    ok = run(env, "verify", str(bundle), "--anchors", str(anchors), "--json")
    assert ok.exit_code == 0, ok.output
    verdict = json.loads(ok.output)
    assert verdict["indication"] == "PASSED" and verdict["sub_indication"] is None
    assert {c["name"] for c in verdict["checks"]} >= {"integrity", "signature", "seal",
                                                      "signer_certificate", "authorization"}

    # An edited element: FAILED / HASH_FAILURE.
    edited = tmp_path / "edited"
    shutil.copytree(bundle, edited)
    record = (edited / "license.json").read_bytes()
    (edited / "license.json").write_bytes(record.replace(b'"CZZT":"',
                                                         b'"CZZT":"X', 1))
    # A changed signature byte: FAILED / SIG_CRYPTO_FAILURE.
    flipped = tmp_path / "flipped"
    shutil.copytree(bundle, flipped)
    der = bytearray((flipped / "signature.der").read_bytes())
    der[-5] ^= 0x01  # inside the ECDSA signature value, the last field
    (flipped / "signature.der").write_bytes(bytes(der))

    out = run(env, "verify", str(bundle), str(edited), str(flipped), "--anchors", str(anchors))
    assert out.exit_code == 1
    lines = out.output.splitlines()
    assert lines[0].startswith("PASSED")
    assert any(line.startswith("FAILED HASH_FAILURE") and "edited" in line for line in lines)
    assert any(line.startswith("FAILED SIG_CRYPTO_FAILURE") and "flipped" in line
               for line in lines)

    # An unrelated anchor: INDETERMINATE / NO_CERTIFICATE_CHAIN_FOUND, exit 3.
    other = tmp_path / "other"
    other_env = {**env, "LICREG_HOME": str(other),
                 "LICREG_DATABASE_URL": f"sqlite:///{other / 'r.db'}"}
    assert run(other_env, "init", "--demo").exit_code == 0
    assert run(other_env, "pki", "anchors", "--out", str(tmp_path / "other.pem")).exit_code == 0
    unrelated = run(env, "verify", str(bundle), "--anchors", str(tmp_path / "other.pem"), "--json")
    assert unrelated.exit_code == 3
    assert json.loads(unrelated.output)["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"


def test_push_refused_with_wrong_credentials(env: dict[str, str], endpoint: str) -> None:
    run(env, "ingest", str(FIXTURES / "batches" / "business-licenses.csv"),
        "--department", MARKET, "--type", BIZ)
    result = CliRunner().invoke(cli, ["push", "--endpoint", endpoint],
                                env={**env, "LICREG_PROVINCE_TOKEN": "wrong"})
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert "401" in result.output or "credential" in result.output.lower()
    assert httpx.get(f"{endpoint}/stats").json()["licenses"] == 0
