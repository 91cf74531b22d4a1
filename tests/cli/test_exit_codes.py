"""Every command exits 1 when anything it handled failed (0 all went well, 2 a usage error),
on real failing inputs: files that make a failed or no batch, licenses the real platform
refuses, a platform that does not answer, a time-stamping authority that does not answer,
a keystore that does not open."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from registry.city.demo import MARKET
from registry.config import Settings
from registry.mockprovince.process import start_endpoint
from registry.seal.pki import load_root_cert
from tests.conftest import FIXTURES
from tests.province.test_sync import tamper
from tests.support.batches import BIZ, row, write_csv
from tests.support.province import TOKENS, cli_run, free_port, make_registry, token_file


@pytest.fixture
def reg(tmp_path: Path) -> Settings:
    """The demo world with six sealed licenses (SQLite)."""
    return make_registry(tmp_path / "var", n=6)


def test_inbox_run_exits_1_when_a_file_failed_or_was_refused(reg: Settings,
                                                             tmp_path: Path) -> None:
    inbox = {"LICREG_INBOX": str(tmp_path / "inbox"), "LICREG_ARCHIVE": str(tmp_path / "archive")}
    folder = tmp_path / "inbox" / MARKET.uscc / BIZ
    code, out = cli_run(reg, "inbox", "prepare", "--json", **inbox)
    assert code == 0 and str(folder) in json.loads(out)["made"] and folder.is_dir()
    write_csv(folder / "good.csv", row(1))
    assert cli_run(reg, "inbox", "run", "--settle", "0", **inbox)[0] == 0  # all went well

    write_csv(folder / "good2.csv", row(2))
    shutil.copy(FIXTURES / "batches" / "physicians.csv", folder)  # no batch columns: failed
    stranger = tmp_path / "inbox" / "91330100MA0000000X" / BIZ  # no such department: refused
    stranger.mkdir(parents=True)
    write_csv(stranger / "x.csv", row(3))
    code, out = cli_run(reg, "inbox", "run", "--settle", "0", **inbox)
    assert code == 1, out
    lines = out.splitlines()
    failed = next(line for line in lines if "physicians.csv" in line)
    assert failed.startswith(f"failed   {MARKET.uscc}/{BIZ}/physicians.csv: missing required "
                             "column(s): 类型 (KZ_LX)")
    refused = next(line for line in lines if "x.csv" in line)
    assert refused.startswith(f"refused  91330100MA0000000X/{BIZ}/x.csv: unknown department "
                              "91330100MA0000000X → ")
    assert failed.count("physicians.csv") == 2 and refused.count("x.csv") == 2  # path, archive
    assert ".processing" not in out

    write_csv(folder / "good3.csv", row(4))
    shutil.copy(FIXTURES / "batches" / "physicians.csv", folder / "p.csv")
    code, out = cli_run(reg, "inbox", "run", "--settle", "0", "--json", **inbox)
    assert code == 1
    by_file = {Path(o["file"]).name: o for o in json.loads(out)}
    assert (by_file["good3.csv"]["status"], by_file["good3.csv"]["status_text"]) == ("done",
                                                                                    "done")
    assert by_file["good3.csv"]["report"]["accepted"] == 1
    assert (by_file["p.csv"]["status"], by_file["p.csv"]["status_text"]) == ("failed", "failed")
    assert by_file["p.csv"]["report"]["error"].startswith("p.csv: missing required column(s)")


def test_ingest_exits_1_for_a_failed_batch_with_or_without_json(reg: Settings,
                                                                 tmp_path: Path) -> None:
    args = ("--department", MARKET.uscc, "--type", BIZ)
    code, out = cli_run(reg, "ingest", str(FIXTURES / "batches" / "business-licenses.csv"),
                        *args)
    assert code == 0 and "rejected 7" in out  # rejected rows are the batch's outcome
    physicians = str(FIXTURES / "batches" / "physicians.csv")
    code, out = cli_run(reg, "ingest", physicians, *args)
    assert code == 1 and out.startswith("error: physicians.csv: missing required column(s)")
    code, out = cli_run(reg, "ingest", physicians, *args, "--json")
    assert code == 1
    report = json.loads(out)  # --json: the failed batch's report, not an error line
    assert (report["status"], report["status_text"]) == ("failed", "failed")
    assert report["error"].startswith("physicians.csv: missing required column(s): 类型")
    code, out = cli_run(reg, "batch", "list", "--json", LICREG_LANG="zh")
    assert [(b["status"], b["status_text"]) for b in json.loads(out)] == [("failed", "失败"),
                                                                        ("done", "已完成")]


def _anchors(reg: Settings, tmp_path: Path) -> Path:
    anchors = tmp_path / "root.pem"
    anchors.write_bytes(load_root_cert(reg.keystore).public_bytes(Encoding.PEM))
    return anchors


@pytest.mark.slow
def test_push_and_sync_exit_1_when_the_platform_refused_or_did_not_answer(
        reg: Settings, tmp_path: Path) -> None:
    tamper(reg, 2)  # the platform refuses this one: HASH_FAILURE
    with start_endpoint(home=tmp_path / "province", anchors_path=_anchors(reg, tmp_path),
                        tokens=TOKENS) as url:
        auth = ("--endpoint", url, "--access-id", "city", "--token-file", token_file(tmp_path))
        code, out = cli_run(reg, "push", *auth, "--max-attempts", "2")
        assert code == 1
        assert out == ("sent 6: accepted 5, duplicates 0, held 0, rejected 1 in 1 batch\n"
                       "  HASH_FAILURE (the signed content does not match its hash): 1\n")
        code, out = cli_run(reg, "sync", "run", *auth, "--max-attempts", "2", "--json")
        assert code == 1
        pushed = json.loads(out)
        assert (pushed["sent"], pushed["rejected"], pushed["dead"]) == (1, 1, 1)  # now dead
        assert pushed["reasons"] == {"HASH_FAILURE": 1}
        assert pushed["reason_texts"] == {
            "HASH_FAILURE": "HASH_FAILURE (the signed content does not match its hash)"}
        code, out = cli_run(reg, "sync", "status", "--json")
        assert (code, json.loads(out)["last_run"]["state"]) == (0, "refused")
        code, out = cli_run(reg, "sync", "status")
        assert "completed, with items the province refused" in out
        code, out = cli_run(reg, "sync", "run", *auth)
        assert (code, out) == (0, "sent 0: accepted 0, duplicates 0, held 0, rejected 0 in 0 "
                                  "batches\n")  # nothing left to fail: the dead letter waits
        code, out = cli_run(reg, "sync", "full", *auth, "--json")
        assert code == 1
        full = json.loads(out)
        assert (full["pushed"], full["duplicates"], full["rejected"]) == (6, 5, 1)
        assert full["finished"] is True and full["reasons"] == {"HASH_FAILURE": 1}
        code, out = cli_run(reg, "sync", "full", *auth, "--restart")
        assert code == 1 and "HASH_FAILURE" in out
        code, out = cli_run(reg, "sync", "status", "--json")
        status = json.loads(out)
        assert code == 0 and (status["dead"], status["dead_reasons"]) == (1, {"HASH_FAILURE": 1})
        assert status["dead_reason_texts"]["HASH_FAILURE"].startswith("HASH_FAILURE (")
        code, out = cli_run(reg, "sync", "retry", "--json")
        assert (code, json.loads(out)) == (0, {"revived": 1})
    nobody = f"http://127.0.0.1:{free_port()}"
    code, out = cli_run(reg, "sync", "run", "--endpoint", nobody, "--attempts", "1")
    assert code == 1 and out.startswith("error: ") and "Traceback" not in out
    code, out = cli_run(reg, "push", "--endpoint", nobody, "--json")
    assert code == 1 and out.startswith("error: ")


def test_pdf_render_log_checkpoint_and_bulletin_exit_1_when_they_fail(reg: Settings) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    code, out = cli_run(reg, "pdf", "render", "--workers", "0", "--tsa-url", f"{nobody}/tsa")
    assert code == 1 and out.startswith(f"error: time-stamping authority {nobody}/tsa "
                                        "unreachable")
    code, out = cli_run(reg, "log", "checkpoint", LICREG_KEY_PASSPHRASE="not the passphrase")
    assert code == 1 and out.startswith("error: cannot decrypt ")
    code, out = cli_run(reg, "bulletin", "--week", "2026-W47", LICREG_PROVINCE_URL=nobody)
    assert code == 1 and out.startswith("error: gave up requesting /api/v1/share/uses")
