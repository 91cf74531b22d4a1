"""Chinese first on the auditor's side: ``licreg verify`` (text, ``--json``, ``--report``),
``verify --registry``, ``licreg log …`` and the library's reports speak Chinese by default and
English on request, for the same input; the machine codes stay beside the words.

The suite runs in English (tests/conftest.py); each test here removes ``LICREG_LANG`` for the
default, or scopes ``language("zh")`` for the library, and asks for English with ``--lang en``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select, update

from registry.cli import cli
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import License
from registry.i18n import language
from registry.tlog.checkpoint import CheckpointChecker
from registry.tlog.models import LogLeaf
from registry.verify import Verifier, load_anchors, verify_bundle
from registry.verify.report import CHECK_NAMES
from tests.conftest import FIXTURES, PASSPHRASE
from tests.tlog.test_log import _append, _ident
from tests.verify.test_registry_audit import audit, checkpoint, ingest

AUDIT = FIXTURES / "audit"
AT = "2026-12-01T00:00:00Z"
ROOT = str(AUDIT / "root.pem")


@pytest.fixture
def chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    """No language asked for: licreg's default."""
    monkeypatch.delenv("LICREG_LANG", raising=False)


def licreg(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def both(*args: str, env: dict[str, str] | None = None) -> tuple[Result, Result]:
    """The same command by default (Chinese) and with ``--lang en``."""
    return licreg(*args, env=env), licreg("--lang", "en", *args, env=env)


# -- licreg verify: text, JSON, HTML -------------------------------------------------------------


def test_verify_text(chinese: None) -> None:
    zh, en = both("verify", str(AUDIT / "good"), str(AUDIT / "tampered_face_field"),
                  str(AUDIT / "revoked_after_signing_no_poe"), "--anchors", ROOT,
                  "--crl", str(AUDIT / "maker-crl.pem"), "--at", AT)
    assert zh.exit_code == en.exit_code == 1
    zh_lines, en_lines = zh.output.splitlines(), en.output.splitlines()
    assert len(zh_lines) == len(en_lines) == 10

    assert zh_lines[0].startswith("通过  ") and zh_lines[0].endswith("/good  " + _good_id())
    assert zh_lines[1] == "    签章人证书：仅核查了部分证书的撤销状态（其余无证书撤销列表）"
    assert zh_lines[2].startswith("未通过：证照数据与签名不符（HASH_FAILURE）  ")
    assert zh_lines[3] == "    完整性：证照数据的 SHA-256 与 dataHash 不一致"
    assert zh_lines[4].startswith("无法确定：已撤销且无撤销前的存在性证明（REVOKED_NO_POE）  ")
    assert zh_lines[5].startswith("    签章人证书：CN=TEST ONLY seal 330100FIX0004")
    assert ("于 2026-04-01 08:00:00 北京时间 被撤销；签名自称签章于 2026-03-01 16:00:00 北京时间，"
            "但无撤销前的存在性证明（存在性证明：无）") in zh_lines[5]
    assert zh_lines[6].startswith("    日志存证：")  # that bundle carries no proof.json
    assert zh_lines[7:] == ["已核验：格式、完整性、签名、印章、签章人证书、印章授权、日志存证",
                            "证照状态未核验：未提供证照状态", "通过 1、未通过 1、无法确定 1"]

    assert en_lines[0].startswith("PASSED  ") and en_lines[0].endswith("/good  " + _good_id())
    assert en_lines[1] == ("    signer_certificate: revocation checked for some certificates "
                           "only (no CRL for the others)")
    assert en_lines[2].startswith("FAILED HASH_FAILURE (the record does not match what was "
                                  "signed)  ")
    assert en_lines[3] == "    integrity: SHA-256 of the record differs from dataHash"
    assert en_lines[4].startswith("INDETERMINATE REVOKED_NO_POE (revoked, no proof of existence "
                                  "before)  ")
    assert ("was revoked at 2026-04-01 08:00:00 Beijing time; signed at 2026-03-01 16:00:00 "
            "Beijing time by its own claim, but no proof of existence before the revocation "
            "(proof of existence: none)") in en_lines[5]
    assert en_lines[6] == ("    log_inclusion: the bundle carries no proof.json and no manifest: "
                           "nothing shows the license is in the transparency log")
    assert en_lines[7:] == [
        "checked: format, integrity, signature, seal, signer_certificate, authorization, "
        "log_inclusion", "status not checked: no license status was supplied",
        "PASSED 1, FAILED 1, INDETERMINATE 1"]


def _good_id() -> str:
    return json.loads((AUDIT / "good" / "license.json").read_bytes())["ZZBS"]


def _check(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in doc["checks"] if c["name"] == name)


def test_verify_json_keeps_the_codes_beside_the_words(chinese: None) -> None:
    zh, en = both("verify", str(AUDIT / "tampered_face_field"), "--anchors", ROOT, "--at", AT,
                  "--json")
    assert zh.exit_code == en.exit_code == 1
    assert "\\u" not in zh.output and "未通过" in zh.output  # UTF-8, not escapes
    zh_doc, en_doc = json.loads(zh.output), json.loads(en.output)
    for doc in (zh_doc, en_doc):  # the machine-readable part is the same in every language
        assert (doc["indication"], doc["sub_indication"]) == ("FAILED", "HASH_FAILURE")
        assert [c["name"] for c in doc["checks"]] == list(CHECK_NAMES)
        assert [c["status"] for c in doc["checks"]][:2] == ["VALID", "INVALID"]
        assert doc["validation_time"] == "2026-12-01T00:00:00+00:00"

    assert (zh_doc["indication_text"], zh_doc["sub_indication_text"]) == (
        "未通过", "证照数据与签名不符")
    assert zh_doc["reasons"] == ["完整性：证照数据的 SHA-256 与 dataHash 不一致"]
    assert _check(zh_doc, "integrity") == {
        "name": "integrity", "title": "完整性", "status": "INVALID", "status_text": "不通过",
        "reason": "HASH_FAILURE", "reason_text": "证照数据与签名不符",
        "detail": "证照数据的 SHA-256 与 dataHash 不一致"}
    status = _check(zh_doc, "status")
    assert (status["title"], status["status_text"], status["reason"], status["reason_text"],
            status["detail"]) == ("证照状态", "未核验", "no status source", "无状态来源",
                                  "未提供证照状态")
    log = _check(zh_doc, "log_inclusion")["detail"]
    assert log.startswith("日志叶 0（2026-03-01 16:00:00 北京时间 01 有效）"
                          "在 licreg.test/tlog 的检查点中")

    assert (en_doc["indication_text"], en_doc["sub_indication_text"]) == (
        "FAILED", "the record does not match what was signed")
    assert en_doc["reasons"] == ["integrity: SHA-256 of the record differs from dataHash"]
    assert _check(en_doc, "integrity") == {
        "name": "integrity", "title": "integrity", "status": "INVALID", "status_text": "invalid",
        "reason": "HASH_FAILURE", "reason_text": "the record does not match what was signed",
        "detail": "SHA-256 of the record differs from dataHash"}
    assert _check(en_doc, "log_inclusion")["detail"].startswith(
        "leaf 0 (01 VALID at 2026-03-01 16:00:00 Beijing time) is in checkpoint licreg.test/tlog")


def test_html_report(chinese: None, tmp_path: Path) -> None:
    pages = []
    for lang in ("zh", "en"):
        page = tmp_path / f"{lang}.html"
        args = ["verify", str(AUDIT / "good"), str(AUDIT / "tampered_face_field"), "--anchors",
                ROOT, "--at", AT, "--report", str(page)]
        assert licreg(*(args if lang == "zh" else ["--lang", "en", *args])).exit_code == 1
        pages.append(page.read_text(encoding="utf-8"))
    zh, en = pages
    assert '<html lang="zh-CN">' in zh
    assert "<h1>licreg 证照核验报告</h1>" in zh
    assert "<p>核验时间：2026-12-01 08:00:00 北京时间。核验项数：2。</p>" in zh
    assert "<h2>汇总</h2>" in zh and "<h2>未通过或无法确定的项（1）</h2>" in zh
    assert '<td><span class="FAILED" title="FAILED">未通过</span></td><td>1</td>' in zh
    assert "<td>证照数据与签名不符 <code>HASH_FAILURE</code></td><td>1</td>" in zh
    assert "<tr><th>核验项</th><th>结果</th><th>原因</th><th>详情</th></tr>" in zh
    assert ('<tr><td>完整性</td><td><span class="INVALID" title="INVALID">不通过</span></td>'
            "<td>证照数据与签名不符 <code>HASH_FAILURE</code></td>"
            "<td>证照数据的 SHA-256 与 dataHash 不一致</td></tr>") in zh

    assert '<html lang="en">' in en and "<h1>licreg verification report</h1>" in en
    assert "<p>Validation time: 2026-12-01 08:00:00 Beijing time. Items: 2.</p>" in en
    assert "<h2>Summary</h2>" in en and "<h2>Not passed (1)</h2>" in en
    assert '<td><span class="FAILED" title="FAILED">FAILED</span></td><td>1</td>' in en
    assert ('<tr><td>integrity</td><td><span class="INVALID" title="INVALID">invalid</span>'
            "</td><td>the record does not match what was signed <code>HASH_FAILURE</code></td>"
            "<td>SHA-256 of the record differs from dataHash</td></tr>") in en


def test_usage_errors(chinese: None) -> None:
    zh, en = both("verify", "--anchors", ROOT)
    assert zh.exit_code == en.exit_code == 2
    assert "请给出要核验的核验包、PDF 或文件夹，或使用 --registry" in zh.output
    assert "give bundles, PDFs or folders to verify, or --registry" in en.output
    zh, en = both("verify", str(AUDIT / "good"), "--anchors", ROOT, "--at", "soon")
    assert "'soon' 不是 ISO 8601 时间" in zh.output
    assert "not an ISO 8601 time: 'soon'" in en.output
    absent = AUDIT / "nothing-here"
    zh, en = both("verify", str(absent), "--anchors", ROOT, "--json")
    assert zh.exit_code == en.exit_code == 2  # a usage error, not a FORMAT_FAILURE verdict
    # (click names its path type once, in the language of the first import: check the path)
    assert "'[PATHS]...' 取值无效" in zh.output and f"'{absent}'" in zh.output
    assert "Invalid value for '[PATHS]...'" in en.output and f"'{absent}'" in en.output


# -- the library: one Verifier, one checker, the reader's language of the moment -------------------


def test_a_verifier_speaks_the_language_of_each_call() -> None:
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    stranger = load_anchors(AUDIT / "stranger-root.pem")
    verifier, checker = Verifier(anchors=stranger, at=at), CheckpointChecker(stranger)
    results = {}
    for lang in ("zh", "en", "zh"):  # the cached sentences follow the language
        with language(lang):
            report = verify_bundle(AUDIT / "good", anchors=stranger, at=at, verifier=verifier,
                                   checker=checker)
        results.setdefault(lang, []).append((report.check("integrity").detail,
                                             report.check("log_inclusion").detail))
    assert results["zh"][0] == results["zh"][1]
    integrity, log = results["zh"][0]
    assert integrity == "证照数据的 SHA-256 与 dataHash 一致；ZZBS 与 propertyInfo 一致"
    assert re.fullmatch(r"日志检查点：日志证书 CN=.+ 不是由信任锚签发的", log), log
    integrity, log = results["en"][0]
    assert integrity == "SHA-256 of the record equals dataHash; ZZBS = propertyInfo"
    assert re.fullmatch(r"log checkpoint: the log certificate CN=.+ is not issued by a trust "
                        r"anchor", log), log


# -- verify --registry ---------------------------------------------------------------------------


def _env(settings: Settings) -> dict[str, str]:
    return {"LICREG_HOME": str(settings.home), "LICREG_DATABASE_URL": settings.database_url,
            "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode()}


@pytest.fixture
def registry(world: Engine, settings: Settings) -> Engine:
    """30 sealed licenses, all covered by one checkpoint."""
    ingest(world, settings)
    checkpoint(world, settings)
    return world


def test_verify_registry(chinese: None, registry: Engine, settings: Settings,
                         tmp_path: Path) -> None:
    env = _env(settings)
    anchors = tmp_path / "root.pem"
    zh, en = both("pki", "anchors", "--out", str(anchors), env=env)
    assert zh.output == f"已写入 {anchors}\n" and en.output == f"wrote {anchors}\n"
    with session_scope(registry) as s:
        victim = s.scalars(select(License.identifier).order_by(License.id)).first()
        s.execute(update(License).where(License.identifier == victim).values(status="SUSPENDED"))
    at = "2026-11-28T08:00:00+00:00"
    zh, en = both("verify", "--registry", "--anchors", str(anchors), "--at", at, env=env)
    assert zh.exit_code == en.exit_code == 1
    zh_lines, en_lines = zh.output.splitlines(), en.output.splitlines()
    assert zh_lines[0] == f"未通过：与日志存证记录不符（LOG_INCLUSION_FAILURE）  {victim}"
    assert zh_lines[1] == ("    日志存证：数据库中状态为暂扣，日志事件记载为有效："
                           "状态是绕过本系统修改的")
    assert zh_lines[-4:] == [
        "登记库：30 张证照；日志：检查点内 30 个日志叶，0 个待入检查点；1 个检查点（1 个有效）",
        "已核验：格式、完整性、签名、印章、签章人证书、印章授权、证照状态、日志存证",
        "签章人证书：未核查撤销状态（未提供证书撤销列表）", "通过 29、未通过 1"]
    assert en_lines[0] == f"FAILED LOG_INCLUSION_FAILURE (not in the log as sealed)  {victim}"
    assert en_lines[1] == ("    log_inclusion: the database says SUSPENDED but the log's events "
                           "say VALID: the status was changed outside the product")
    assert en_lines[-4:] == [
        "registry: 30 licenses; log: 30 leaves in checkpoints, 0 pending; 1 checkpoints "
        "(1 valid)", "checked: format, integrity, signature, seal, signer_certificate, "
        "authorization, status, log_inclusion",
        "signer_certificate: revocation not checked (no CRL given)", "PASSED 29, FAILED 1"]


def test_registry_audit_workers_write_in_the_auditors_language(
        registry: Engine, settings: Settings) -> None:
    for lang, expected in (
            ("zh", "签章日志叶在检查点 #1 中（规模 30，签名于 2026-11-27 17:00:00 北京时间）"),
            ("en", "sealing leaf in checkpoint #1 (size 30, signed 2026-11-27 17:00:00 "
                   "Beijing time)")):
        with language(lang):
            result = audit(registry, settings, workers=1)  # a spawned worker process
        details = {r.check("log_inclusion").detail for r in result.reports}
        assert details == {expected}
        statuses = {r.check("status").detail for r in result.reports}
        assert statuses == {"证照状态为有效" if lang == "zh" else "the license status is VALID"}


# -- licreg log ----------------------------------------------------------------------------------


def test_log_commands(chinese: None, world: Engine, settings: Settings) -> None:
    _append(world, 0, 10)
    env = _env(settings)
    signed = licreg("log", "checkpoint", env=env).output
    assert re.fullmatch(r"已签署检查点 #1：10 个日志叶，根 [0-9a-f]{64}，"
                        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d 北京时间\n", signed), signed
    zh, en = both("log", "checkpoint", env=env)
    assert zh.output.startswith("没有新的日志叶；最新检查点 #1：10 个日志叶，根 ")
    assert re.fullmatch(r"no new leaves; latest is checkpoint #1: 10 leaves, root [0-9a-f]{64}, "
                        r"at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d Beijing time\n", en.output), en.output

    zh, en = both("log", "prove", _ident(3), env=env)
    assert zh.output.startswith("日志叶 3（共 10 个），检查点 #1（")
    assert zh.output.splitlines()[1].startswith("根 ")
    assert en.output.startswith("leaf 3 of 10 in checkpoint #1 (")
    assert en.output.splitlines()[1].startswith("root ")
    zh, en = both("log", "prove", "1.2.156.3005.2.NOPE", env=env)
    assert zh.exit_code == en.exit_code == 1
    assert "错误：日志中没有 1.2.156.3005.2.NOPE 的日志叶" in zh.output
    assert "error: the log has no leaf for 1.2.156.3005.2.NOPE" in en.output
    zh, en = both("log", "consistency", "4", "20", env=env)
    assert "规模须满足 0 ≤ OLD ≤ NEW ≤ 10（最新检查点的规模）；实际为 4 和 20" in zh.output
    assert ("sizes must satisfy 0 ≤ OLD ≤ NEW ≤ 10 (the latest checkpoint's size); got 4 and 20"
            in en.output)

    zh, en = both("log", "verify", env=env)
    assert zh.output.splitlines() == ["检查点内 10 个日志叶，0 个待入检查点；1 个检查点，1 个有效",
                                      "正常：所有检查点与日志叶一致"]
    assert en.output.splitlines() == ["10 leaves in checkpoints, 0 pending; 1 checkpoints, 1 valid",
                                      "ok: every checkpoint matches the leaves"]
    with session_scope(world) as s:
        s.execute(update(LogLeaf).where(LogLeaf.seq == 2).values(data=b"{}"))
    zh, en = both("log", "verify", env=env)
    assert zh.exit_code == en.exit_code == 1
    assert f"与日志存证记录不符（LOG_INCLUSION_FAILURE）  日志叶 2  {_ident(2)}" in zh.output
    assert (f"    日志叶 2（{_ident(2)}）的数据与存储的日志叶哈希不符：写入后被修改"
            in zh.output.splitlines())
    assert f"LOG_INCLUSION_FAILURE (not in the log as sealed)  log leaf 2  {_ident(2)}" in en.output
    assert (f"    the data of log leaf 2 ({_ident(2)}) no longer hashes to its stored leaf hash: "
            f"it was changed after it was written" in en.output.splitlines())
    zh, en = both("log", "verify", "--json", env=env)
    zh_found, en_found = json.loads(zh.output)["findings"], json.loads(en.output)["findings"]
    assert {f["sub_indication"] for f in zh_found + en_found} == {"LOG_INCLUSION_FAILURE"}
    assert {f["sub_indication_text"] for f in zh_found} == {"与日志存证记录不符"}
    assert {f["sub_indication_text"] for f in en_found} == {"not in the log as sealed"}
    assert {f["subject"] for f in zh_found} == {"日志叶 2"}
