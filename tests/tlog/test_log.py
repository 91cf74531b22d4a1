"""The stored transparency log (registry.tlog): leaves, tiles, signed checkpoints, proofs from
the database, the scan that finds changed, lost or forked history, ``licreg log``, and the
upgrade that gives a registry sealed before the log its leaves."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from sqlalchemy import Engine, delete, func, select, update

import registry.tlog.audit as tlog_audit
import registry.tlog.tree as tlog_tree
from registry.cli import cli
from registry.config import Settings
from registry.db import session_scope
from registry.errors import NotInLog, SealError, VerificationError
from registry.seal.pki import create_test_pki, load_root_cert
from registry.tlog import (
    CheckpointChecker,
    check_inclusion,
    ensure_log_key,
    make_checkpoint,
    parse_proof,
    prove_consistency,
    prove_identifier,
    scan_log,
    sign_checkpoint,
)
from registry.tlog.checkpoint import Checkpoint, checkpoint_body, latest_checkpoint
from registry.tlog.keys import LOG_KEY_FILE
from registry.tlog.leaves import append_leaves, leaf_data
from registry.tlog.merkle import (
    EMPTY_ROOT,
    ListHashes,
    consistency_proof,
    inclusion_path,
    leaf_hash,
    tree_root,
    verify_consistency,
)
from registry.tlog.models import LogCheckpoint, LogLeaf, LogTile
from registry.tlog.tree import StoredTree
from tests.conftest import NOW, PASSPHRASE

H = bytes.fromhex


# -- the stored log ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Event:
    identifier: str
    operate_type: str = "01"
    status: str = "VALID"
    data_hash: bytes = b"\x11" * 32


def _ident(i: int) -> str:
    return f"1.2.156.3005.2.11100000MB0143028R001.11330100MB1703218R.T{i:07d}.001.X"


def _append(engine: Engine, start: int, count: int, *, at: dt.datetime = NOW) -> list[bytes]:
    """``count`` synthetic sealing leaves; returns their leaf hashes."""
    events = [Event(_ident(i), data_hash=hashlib.sha256(str(i).encode()).digest())
              for i in range(start, start + count)]
    with session_scope(engine) as s:
        assert append_leaves(s, events, at=at) == count
    return [leaf_hash(leaf_data(identifier=e.identifier, operate_type="01", status="VALID",
                                data_hash=e.data_hash, at=at)) for e in events]


@pytest.fixture
def keystore(tmp_path: Path) -> Path:
    ks = tmp_path / "keystore"
    create_test_pki(ks, PASSPHRASE, now=NOW - dt.timedelta(days=30))
    return ks


@pytest.fixture
def anchors(keystore: Path) -> list[x509.Certificate]:
    return [load_root_cert(keystore)]


def _checkpoint(engine: Engine, keystore: Path, at: dt.datetime = NOW) -> tuple[Checkpoint, bool]:
    with session_scope(engine) as s:
        return sign_checkpoint(s, keystore=keystore, passphrase=PASSPHRASE, now=at)


def test_checkpoints_sequence_tile_and_sign(engine: Engine, keystore: Path,
                                            anchors: list[x509.Certificate]) -> None:
    hashes = _append(engine, 0, 700)
    cp, created = _checkpoint(engine, keystore)
    assert created and cp.tree_size == 700
    assert cp.root_hash == tree_root(hashes)
    CheckpointChecker(anchors).check(cp)
    with session_scope(engine) as s:
        tiles = s.execute(select(LogTile.level, LogTile.number)).all()
        assert sorted(tiles) == [(8, 0), (8, 1)]
        seqs = s.scalars(select(LogLeaf.seq).order_by(LogLeaf.id)).all()
        assert seqs == list(range(700))
    # Nothing new: the latest checkpoint is returned, nothing is written.
    again, created = _checkpoint(engine, keystore, NOW + dt.timedelta(hours=1))
    assert not created and again.id == cp.id
    # More leaves: the next checkpoint extends the log, and the two are consistent.
    hashes += _append(engine, 700, 333)
    cp2, created = _checkpoint(engine, keystore, NOW + dt.timedelta(hours=2))
    assert created and (cp2.tree_size, cp2.root_hash) == (1033, tree_root(hashes))
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(LogTile)) == 4
        proof = prove_consistency(s, 700, 1033)
    assert (proof.old_root, proof.new_root) == (cp.root_hash, cp2.root_hash)
    assert verify_consistency(700, 1033, cp.root_hash, cp2.root_hash, proof.path)


def test_stored_proofs_equal_in_memory_proofs(engine: Engine, keystore: Path) -> None:
    hashes = _append(engine, 0, 600)
    _checkpoint(engine, keystore)
    memory = ListHashes(hashes)
    with session_scope(engine) as s:
        s.execute(delete(LogTile).where(LogTile.number == 1))  # a lost tile is rebuilt
        tree = StoredTree(s, 600)
        for i in (0, 255, 256, 511, 512, 599):
            assert inclusion_path(i, 600, tree.subtree) == inclusion_path(i, 600, memory.subtree)
        for m in (1, 256, 300, 599):
            assert (consistency_proof(m, 600, tree.subtree)
                    == consistency_proof(m, 600, memory.subtree))


def test_higher_tile_levels(engine: Engine, keystore: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Tiles of 4 and 16 leaves stand in for 256 and 65,536: the same code, a small log.
    monkeypatch.setattr(tlog_tree, "TILE_LEVELS", (2, 4))
    monkeypatch.setattr(tlog_audit, "TILE_LEVELS", (2, 4))
    hashes = _append(engine, 0, 37)
    cp, _ = _checkpoint(engine, keystore)
    hashes += _append(engine, 37, 30)
    cp2, _ = _checkpoint(engine, keystore, NOW + dt.timedelta(hours=1))
    assert (cp.root_hash, cp2.root_hash) == (tree_root(hashes[:37]), tree_root(hashes))
    with session_scope(engine) as s:
        levels = {level: count for level, count in s.execute(
            select(LogTile.level, func.count()).group_by(LogTile.level))}
        assert levels == {2: 16, 4: 4}
        tree = StoredTree(s, 67)
        assert all(inclusion_path(i, 67, tree.subtree)
                   == inclusion_path(i, 67, ListHashes(hashes).subtree) for i in range(67))
        assert scan_log(s, checker=CheckpointChecker([])).size == 67


def test_pending_leaves_wait_for_the_next_checkpoint(engine: Engine, keystore: Path) -> None:
    _append(engine, 0, 3)
    _checkpoint(engine, keystore)
    _append(engine, 3, 2)  # written after the checkpoint: no position yet
    with session_scope(engine) as s:
        with pytest.raises(NotInLog, match="not in a checkpoint yet"):
            prove_identifier(s, _ident(4))
        with pytest.raises(NotInLog, match="no leaf"):
            prove_identifier(s, "1.2.156.3005.2.NOPE")
        with pytest.raises(NotInLog, match="latest checkpoint"):
            prove_consistency(s, 1, 5)
    cp, _ = _checkpoint(engine, keystore, NOW + dt.timedelta(hours=1))
    assert cp.tree_size == 5
    with session_scope(engine) as s:
        assert prove_identifier(s, _ident(4)).leaf_index == 4


def test_inclusion_proof_uses_the_earliest_checkpoint(engine: Engine, keystore: Path,
                                                      anchors: list[x509.Certificate]) -> None:
    _append(engine, 0, 5)
    first, _ = _checkpoint(engine, keystore)
    _append(engine, 5, 5)
    _checkpoint(engine, keystore, NOW + dt.timedelta(days=1))
    with session_scope(engine) as s:
        proof = prove_identifier(s, _ident(2))
    assert proof.checkpoint.id == first.id and proof.checkpoint.time == NOW
    again = parse_proof(proof.to_json())
    assert again.checkpoint.to_dict() == proof.checkpoint.to_dict()
    leaf = check_inclusion(again, CheckpointChecker(anchors))
    assert leaf.identifier == _ident(2)
    moved = dataclasses.replace(again, leaf_index=3)
    with pytest.raises(VerificationError) as err:
        check_inclusion(moved, CheckpointChecker(anchors))
    assert err.value.sub_indication == "LOG_INCLUSION_FAILURE"


def test_checkpoint_signatures_and_keys(engine: Engine, keystore: Path, tmp_path: Path,
                                        anchors: list[x509.Certificate]) -> None:
    _append(engine, 0, 3)
    cp, _ = _checkpoint(engine, keystore)
    checker = CheckpointChecker(anchors)
    checker.check(cp)
    for changed in (dataclasses.replace(cp, tree_size=2),
                    dataclasses.replace(cp, root_hash=EMPTY_ROOT),
                    dataclasses.replace(cp, time=cp.time + dt.timedelta(seconds=1))):
        with pytest.raises(VerificationError) as err:
            checker.check(changed)
        assert err.value.sub_indication == "SIG_CRYPTO_FAILURE"
    stranger = tmp_path / "stranger"
    create_test_pki(stranger, PASSPHRASE, now=NOW)
    with pytest.raises(VerificationError) as err:
        CheckpointChecker([load_root_cert(stranger)]).check(cp)
    assert err.value.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    with pytest.raises(VerificationError) as err:
        checker.check(dataclasses.replace(cp, certificate_der=b"junk"))
    assert err.value.sub_indication == "FORMAT_FAILURE"
    # A checkpoint claiming a time before the log key existed.
    signer = ensure_log_key(keystore, PASSPHRASE, now=NOW)
    early = NOW - dt.timedelta(days=3650)
    body = checkpoint_body(cp.origin, cp.tree_size, cp.root_hash, early)
    backdated = dataclasses.replace(cp, time=early, signature=signer.sign(body))
    with pytest.raises(VerificationError) as err:
        checker.check(backdated)
    assert err.value.sub_indication == "OUT_OF_BOUNDS_NO_POE"


def test_log_key_is_made_once_from_the_root(keystore: Path, tmp_path: Path) -> None:
    signer = ensure_log_key(keystore, PASSPHRASE, now=NOW)
    assert os.stat(keystore / LOG_KEY_FILE).st_mode & 0o777 == 0o600
    signer.certificate.verify_directly_issued_by(load_root_cert(keystore))
    assert "TEST ONLY" in signer.certificate.subject.rfc4514_string()
    again = ensure_log_key(keystore, PASSPHRASE, now=NOW + dt.timedelta(days=1))
    assert again.certificate_der == signer.certificate_der
    with pytest.raises(SealError, match="passphrase"):
        ensure_log_key(keystore, b"wrong", now=NOW)
    with pytest.raises(SealError, match="no root CA"):
        ensure_log_key(tmp_path / "empty", PASSPHRASE, now=NOW)


# -- scanning the log --------------------------------------------------------------------------


@pytest.fixture
def checkpointed(engine: Engine, keystore: Path) -> Engine:
    """600 leaves (two complete tiles) under one checkpoint."""
    _append(engine, 0, 600)
    _checkpoint(engine, keystore)
    return engine


def _scan(engine: Engine, anchors: list[x509.Certificate]) -> tlog_audit.LogScan:
    with session_scope(engine) as s:
        return scan_log(s, checker=CheckpointChecker(anchors))


def test_a_clean_log_scans_clean(checkpointed: Engine, anchors: list[x509.Certificate]) -> None:
    scan = _scan(checkpointed, anchors)
    assert (scan.size, scan.pending, scan.valid_checkpoints, scan.findings) == (600, 0, 1, ())
    history = scan.histories[_ident(7)]
    assert (history.sealing_seq, history.poe, history.problem) == (7, NOW, None)
    assert history.status_at(NOW) == "VALID"
    assert history.status_at(NOW - dt.timedelta(seconds=1)) is None


def test_changed_leaf_data_is_found_by_its_hash(checkpointed: Engine,
                                                anchors: list[x509.Certificate]) -> None:
    with session_scope(checkpointed) as s:
        data = s.scalar(select(LogLeaf.data).where(LogLeaf.seq == 5))
        assert data is not None
        s.execute(update(LogLeaf).where(LogLeaf.seq == 5)
                  .values(data=data.replace(b"VALID", b"REVOKED")))
    scan = _scan(checkpointed, anchors)
    assert [(f.sub_indication, f.subject, f.identifier) for f in scan.findings] == [
        ("LOG_INCLUSION_FAILURE", "log leaf 5", _ident(5))]
    assert "changed after it was written" in (scan.histories[_ident(5)].problem or "")
    # The stored hashes still match the checkpoint: every other license keeps its proof.
    assert scan.histories[_ident(6)].poe == NOW


def test_leaf_changed_with_its_hash_is_found_by_its_tile(checkpointed: Engine,
                                                         anchors: list[x509.Certificate]) -> None:
    with session_scope(checkpointed) as s:
        data = s.scalar(select(LogLeaf.data).where(LogLeaf.seq == 300))
        assert data is not None
        forged = data.replace(b"VALID", b"REVOKED")
        s.execute(update(LogLeaf).where(LogLeaf.seq == 300)
                  .values(data=forged, leaf_hash=leaf_hash(forged)))
    scan = _scan(checkpointed, anchors)
    subjects = {(f.sub_indication, f.subject) for f in scan.findings}
    assert ("LOG_CONSISTENCY_FAILURE", "log tile 8/1") in subjects
    assert scan.histories[_ident(300)].problem is not None
    assert scan.histories[_ident(260)].problem is not None  # same tile: cannot be proven
    assert scan.histories[_ident(100)].poe == NOW  # other tile: still proven


def test_a_lost_leaf_breaks_the_log(checkpointed: Engine,
                                    anchors: list[x509.Certificate]) -> None:
    with session_scope(checkpointed) as s:
        s.execute(delete(LogLeaf).where(LogLeaf.seq == 10))
    scan = _scan(checkpointed, anchors)
    assert {f.sub_indication for f in scan.findings} == {"LOG_CONSISTENCY_FAILURE"}
    assert any("first: 10" in f.detail and "deleted" in f.detail for f in scan.findings)
    assert any(f.subject == "log tile 8/0" for f in scan.findings)
    # The stored tiles still match the checkpoint: it vouches for the leaves outside tile 0.
    assert scan.histories[_ident(11)].problem is not None
    assert scan.histories[_ident(300)].poe == NOW
    with session_scope(checkpointed) as s:
        s.execute(delete(LogLeaf).where(LogLeaf.seq >= 500))
    scan = _scan(checkpointed, anchors)
    assert any("covers 600 leaves but the log holds 500" in f.detail for f in scan.findings)


def test_a_fork_is_reported(checkpointed: Engine, keystore: Path,
                            anchors: list[x509.Certificate]) -> None:
    signer = ensure_log_key(keystore, PASSPHRASE, now=NOW)
    other_root = hashlib.sha256(b"another history").digest()
    later = NOW + dt.timedelta(hours=1)
    with session_scope(checkpointed) as s:
        s.add(LogCheckpoint(
            origin="licreg.test/tlog", tree_size=600, root_hash=other_root, created_at=later,
            certificate=signer.certificate_der,
            signature=signer.sign(checkpoint_body("licreg.test/tlog", 600, other_root, later))))
    scan = _scan(checkpointed, anchors)
    kinds = sorted(f.sub_indication for f in scan.findings)
    assert kinds == ["LOG_CONSISTENCY_FAILURE", "LOG_FORK"]
    fork = next(f for f in scan.findings if f.sub_indication == "LOG_FORK")
    assert "#1" in fork.subject and "#2" in fork.subject and "size 600" in fork.subject
    assert scan.histories[_ident(1)].poe == NOW  # the good checkpoint still proves it


def test_a_checkpoint_with_a_bad_signature_proves_nothing(checkpointed: Engine,
                                                          anchors: list[x509.Certificate]) -> None:
    with session_scope(checkpointed) as s:
        s.execute(update(LogCheckpoint).values(tree_size=599))
    scan = _scan(checkpointed, anchors)
    assert [f.sub_indication for f in scan.findings] == ["SIG_CRYPTO_FAILURE"]
    assert "no valid checkpoint" in (scan.histories[_ident(1)].problem or "")


# -- the CLI -----------------------------------------------------------------------------------


def _env(settings: Settings) -> dict[str, str]:
    return {"LICREG_HOME": str(settings.home), "LICREG_DATABASE_URL": settings.database_url,
            "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode()}


def test_log_commands(world: Engine, settings: Settings, tmp_path: Path) -> None:
    _append(world, 0, 10)
    run = CliRunner().invoke
    env = _env(settings)
    out = run(cli, ["log", "checkpoint"], env=env)
    assert out.exit_code == 0, out.output
    assert out.output.startswith("signed checkpoint #1: 10 leaves, root ")
    again = run(cli, ["log", "checkpoint", "--json"], env=env)
    assert json.loads(again.output)["created"] is False

    proof_file = tmp_path / "proof.json"
    shown = run(cli, ["log", "prove", _ident(3), "--json", "--out", str(proof_file)], env=env)
    doc = json.loads(shown.output)
    assert doc["leaf"]["index"] == 3 and doc["checkpoint"]["tree_size"] == 10
    assert json.loads(proof_file.read_text(encoding="utf-8")) == doc
    check_inclusion(parse_proof(proof_file.read_bytes()),
                    CheckpointChecker([load_root_cert(settings.keystore)]))
    missing = run(cli, ["log", "prove", "1.2.156.3005.2.NOPE"], env=env)
    assert missing.exit_code == 1 and "no leaf" in missing.output

    cons = json.loads(run(cli, ["log", "consistency", "4", "10", "--json"], env=env).output)
    with session_scope(world) as s:
        latest = latest_checkpoint(s)
    assert latest is not None and cons["new_root"] == latest.root_hash.hex()
    assert verify_consistency(4, 10, H(cons["old_root"]), H(cons["new_root"]),
                              [H(p) for p in cons["consistency_path"]])

    ok = run(cli, ["log", "verify"], env=env)
    assert ok.exit_code == 0
    assert ok.output.splitlines() == ["10 leaves in checkpoints, 0 pending; 1 checkpoints, 1 valid",
                                      "ok: every checkpoint matches the leaves"]
    with session_scope(world) as s:
        s.execute(update(LogLeaf).where(LogLeaf.seq == 2).values(data=b"{}"))
    bad = run(cli, ["log", "verify", "--json"], env=env)
    assert bad.exit_code == 1
    findings = json.loads(bad.output)["findings"]
    assert {(f["sub_indication"], f["identifier"]) for f in findings} == {
        ("LOG_INCLUSION_FAILURE", _ident(2))}


def test_checkpoint_needs_the_passphrase(world: Engine, settings: Settings) -> None:
    env = {**_env(settings), "LICREG_KEY_PASSPHRASE": ""}
    out = CliRunner().invoke(cli, ["log", "checkpoint"], env=env)
    assert out.exit_code == 1 and "LICREG_KEY_PASSPHRASE" in out.output


def test_make_checkpoint_needs_an_aware_time(engine: Engine, keystore: Path) -> None:
    signer = ensure_log_key(keystore, PASSPHRASE, now=NOW)
    with session_scope(engine) as s, pytest.raises(ValueError, match="aware"):
        make_checkpoint(s, signer, now=dt.datetime(2026, 1, 1))


def test_upgrading_a_registry_gives_its_licenses_leaves(world: Engine, settings: Settings) -> None:
    # A registry sealed before the log existed: migration 0003 writes the sealing leaves the
    # product would have written, byte for byte.
    from alembic import command
    from alembic.config import Config

    from registry.batch.run import ingest_file
    from registry.city.demo import MARKET
    from registry.db import MIGRATIONS, migrate
    from tests.conftest import FIXTURES, TODAY

    ingest_file(world, settings, FIXTURES / "batches" / "business-licenses.csv",
                department_uscc=MARKET.uscc, type_code="11100000MB0143028R001",
                uploader="clerk", at=NOW, today=TODAY, workers=0)
    with session_scope(world) as s:
        written = s.execute(select(LogLeaf.identifier, LogLeaf.data, LogLeaf.leaf_hash)
                            .order_by(LogLeaf.id)).all()
    assert len(written) == 30
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with world.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003@0001")  # only the log's branch
    migrate(world)
    with session_scope(world) as s:
        backfilled = s.execute(select(LogLeaf.identifier, LogLeaf.data, LogLeaf.leaf_hash)
                               .order_by(LogLeaf.id)).all()
    assert backfilled == written
