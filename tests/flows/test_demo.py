"""``make demo`` (flows/demo.py) prints its summary in Chinese by default and in English with
LICREG_LANG=en: the same demo world, run twice (the second run ingests and pushes nothing)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def demo(home: Path, lang: str) -> list[str]:
    """``python -m flows.demo`` (what ``make demo`` runs), on the session's Prefect server."""
    from prefect.settings import get_current_settings  # prefect_test_harness has set it up

    env = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url),
           "LICREG_HOME": str(home), "LICREG_LANG": lang,
           "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode(),
           "LICREG_DATABASE_URL": f"sqlite:///{home / 'registry.db'}"}
    done = subprocess.run([sys.executable, "-m", "flows.demo"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def test_the_demo_speaks_chinese_then_english_on_request(harness: None, tmp_path: Path) -> None:
    home = tmp_path / "var"
    zh = demo(home, "zh")
    assert zh[0] == f"== 证照库位于 {home}"
    assert "== 导入部门批次（流程 ingest-and-seal）" in zh
    assert ("   business-licenses.csv      共  40 行：接收  30（新增或变更 30），过滤 3，"
            "驳回 7") in zh
    assert ("   business-licenses-gbk.csv  共  40 行：接收  30（新增或变更  0），过滤 3，"
            "驳回 7") in zh
    assert "== 已生成并签署 PDF 版式证照（流程 render-pdfs）：67 张" in zh
    assert "   推送 67 条：接收 67，重复 0，拒收 0" in zh
    assert "   省平台现有 67 个证照版本：有效 67" in zh
    assert "== 审计：以测试根证书离线核验" in zh
    assert "   未通过 HASH_FAILURE（持证主体被改动的副本）" in zh
    assert "   通过     单独核验 license.pdf" in zh
    assert "   全库：67 张证照，日志 67 个叶子：67 通过" in zh
    assert zh[-1].startswith("== 完成，用时 ")
    assert zh[-1].endswith(f"证照包位于 {home / 'demo-exports'}")

    en = demo(home, "en")
    assert en[0] == f"== registry in {home}"
    assert en[1] == "   demo world already present"
    assert ("   business-licenses.csv      rows  40: accepted  30 (30 new or changed), filtered "
            "3, rejected 7  (same bytes as before: nothing new)") in en  # the first run's counts
    assert "   sent 0: accepted 0, duplicates 0, rejected 0" in en
    assert "   the province holds 67 license versions: VALID 67" in en
    assert "   FAILED HASH_FAILURE  (a copy with 持证主体 edited)" in en
    assert "   PASSED   license.pdf on its own" in en
    assert "   whole registry: 67 licenses, log 67 leaves: 67 PASSED" in en
    assert not any("\u4e00" <= c <= "\u9fff" for line in en[2:] for c in line
                   if "持证主体" not in line)  # no Chinese words but the element's name
