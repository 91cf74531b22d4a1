"""``licreg seal crl --out FILE``: the seal-maker CA's CRL written for auditors, in the DER form
``licreg verify --crl FILE`` reads and openssl parses."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Engine, select

from registry.config import Settings
from registry.db import session_scope
from registry.db.models import License
from registry.verify.bundle import read_crl_files
from tests.seal.conftest import run
from tests.verify.test_registry_audit import checkpoint, ingest


def openssl_text(path: Path) -> str:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    return subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(path), "-noout",
                           "-text"], check=True, capture_output=True, text=True).stdout


def signer_detail(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = run(env, "verify", *args, "--json")
    checks = {c["name"]: c for c in json.loads(result.output)["checks"]}
    return result.exit_code, checks["signer_certificate"]["detail"]


def test_the_written_crl_is_read_by_verify_and_by_openssl(
        world: Engine, settings: Settings, env: dict[str, str], tmp_path: Path) -> None:
    ingest(world, settings)
    checkpoint(world, settings)
    with session_scope(world) as s:
        first = s.scalars(select(License.identifier).order_by(License.id)).first()
    assert first is not None
    bundle, anchors = tmp_path / "bundle", tmp_path / "root.pem"
    assert run(env, "export", first, "--out", str(bundle)).exit_code == 0
    assert run(env, "pki", "anchors", "--out", str(anchors)).exit_code == 0
    verify = (str(bundle), "--anchors", str(anchors))

    # Nothing revoked yet: an empty CRL, signed, so revocation is checked and clean.
    empty = tmp_path / "empty.crl"
    written = run(env, "seal", "crl", "--out", str(empty))
    assert written.exit_code == 0, written.output
    assert written.output.startswith(f"wrote {empty} (")
    assert "No Revoked Certificates." in openssl_text(empty)
    assert "revocation not checked" in signer_detail(env, *verify)[1]
    code, detail = signer_detail(env, *verify, "--crl", str(empty))
    assert code == 0 and "revocation not checked" not in detail

    # The seal is cancelled after the checkpoint: the CRL names its certificate.
    assert run(env, "seal", "cancel", "330100MB17032180001", "--reason", "注销").exit_code == 0
    after = tmp_path / "maker.crl"
    assert run(env, "seal", "crl", "--out", str(after)).exit_code == 0
    [crl] = read_crl_files([after])
    assert after.read_bytes() == crl.public_bytes(Encoding.DER)  # DER, as written
    assert len(list(crl)) == 1
    text = openssl_text(after)
    assert "Revoked Certificates:" in text and "Cessation Of Operation" in text
    assert format(next(iter(crl)).serial_number, "X") in text.replace(":", "").upper()
    code, detail = signer_detail(env, *verify, "--crl", str(after))
    assert code == 0  # revoked after the checkpoint that proves the license existed
    assert "revoked at" in detail and "after the proof of existence" in detail
