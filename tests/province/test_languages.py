"""The provincial push in the reader's language: ``licreg push`` / ``sync …`` output and the
client's errors in Chinese by default, in English with ``--lang en`` (registry.cli.sync,
registry.province), for the same runs; machine codes stay in JSON."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy.orm import Session

from registry.cli.sync import render_push, render_reconcile
from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.errors import AggregationError
from registry.i18n import language
from registry.license import lifecycle as lc
from registry.province.client import ProvinceClient
from registry.province.reconcile import reconcile
from registry.province.sync import PushSummary, push_pending
from registry.province.wire import Ack
from tests.support.province import (
    AT,
    Platform,
    cli_run,
    licenses_ids,
    province_client,
    sync,
)


def test_sync_status_in_chinese_by_default_and_english_on_request(reg: Settings) -> None:
    code, zh = cli_run(reg, "sync", "status", LICREG_LANG="zh")
    assert code == 0
    assert zh.splitlines()[0] == "待推送 6（其中曾失败 0），推送中 0，死信 0，已确认 0"
    assert re.fullmatch(r"延迟 \d+ 秒（最早待推送事件：\d{4}-\d\d-\d\d \d\d:\d\d:\d\d 北京时间）",
                        zh.splitlines()[1])
    code, en = cli_run(reg, "--lang", "en", "sync", "status", LICREG_LANG="zh")
    assert code == 0
    assert en.splitlines()[0] == "pending 6 (failing 0), in flight 0, dead 0, acknowledged 0"
    assert re.fullmatch(r"lag \d+ s \(oldest pending event \d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
                        r"Beijing time\)", en.splitlines()[1])
    code, retried = cli_run(reg, "sync", "retry", LICREG_LANG="zh")
    assert (code, retried) == (0, "已恢复 0 条死信，将随下一次 `licreg sync run` 推送\n")


def test_a_push_and_its_reasons_are_said_in_the_language_asked_for(
        reg: Settings, plat: Platform, capsys: pytest.CaptureFixture[str]) -> None:
    engine = make_engine(reg.database_url)
    with Session(engine) as session:
        summary = push_pending(session, province_client(plat.http), batch_size=4, at=AT)
    assert (summary.sent, summary.accepted, summary.batches) == (6, 6, 2)
    refused = PushSummary(sent=3, accepted=2, duplicates=0, rejected=1, batches=1,
                          reasons={"HASH_FAILURE": 1})
    for lang in ("zh", "en"):
        with language(lang):
            render_push(summary)
            render_push(refused)
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "推送 6 条：接收 6，重复 0，暂存 0，拒收 0，共 2 批",
        "推送 3 条：接收 2，重复 0，暂存 0，拒收 1，共 1 批",
        "  HASH_FAILURE（签名内容与摘要不符）：1",
        "sent 6: accepted 6, duplicates 0, held 0, rejected 0 in 2 batches",
        "sent 3: accepted 2, duplicates 0, held 0, rejected 1 in 1 batch",
        "  HASH_FAILURE (the signed content does not match its hash): 1",
    ]


def test_refused_credentials_are_said_in_the_callers_language_from_the_push_threads(
        reg: Settings) -> None:
    refusing = httpx.Client(transport=httpx.MockTransport(lambda _r: httpx.Response(401)),
                            base_url="http://p")
    client = ProvinceClient(refusing, access_id="city", access_token="wrong")
    engine = make_engine(reg.database_url)
    expected = {"zh": "省平台拒绝了 accessId 'city'（HTTP 401）：请检查省平台推送的访问令牌配置",
                "en": "the platform refused accessId 'city' (HTTP 401): check the access token "
                      "configured for the provincial push"}
    for lang, message in expected.items():
        # two batches in flight: the refusal is raised in a worker thread of the push
        with language(lang), pytest.raises(AggregationError) as raised, \
                Session(engine) as session:
            push_pending(session, client, batch_size=2, concurrency=2, at=AT)
        assert str(raised.value) == message


def test_a_malformed_ack_is_named_in_the_readers_language() -> None:
    with language("zh"), pytest.raises(AggregationError, match=r"^应答缺少 'code'："):
        Ack.from_dict({"ZZBS": "x", "version": "001", "result": "ACCEPTED", "message": ""})
    with language("en"), pytest.raises(AggregationError, match=r"^ack lacks 'code': "):
        Ack.from_dict({"ZZBS": "x", "version": "001", "result": "ACCEPTED", "message": ""})


def test_reconcile_drift_in_words_with_codes_kept_in_json(
        reg: Settings, plat: Platform, capsys: pytest.CaptureFixture[str]) -> None:
    engine = make_engine(reg.database_url)
    client = province_client(plat.http)
    sync(reg, client)
    ident = licenses_ids(engine)[0]
    with session_scope(engine) as s:
        lc.suspend(s, ident, at=AT, actor="clerk")
    with Session(engine) as s:
        report = reconcile(s, client, repair=False, at=AT)
    assert [(d.kind, d.registry_status, d.platform_status) for d in report.drift] == [
        ("status", "SUSPENDED", "VALID")]
    for lang in ("zh", "en"):
        with language(lang):
            render_reconcile(report)
    assert capsys.readouterr().out.splitlines() == [
        "本系统 6 个版本，省平台 6 个：一致 5，缺失 0，内容不一致 0，状态不一致 1，仅省平台有 0",
        f"  状态不一致  {ident}  本系统：暂扣  省平台：有效",
        "registry 6 versions, platform 6: matched 5, missing 0, different 0, status 1, "
        "unexpected 0",
        f"  status differs  {ident}  registry SUSPENDED  platform VALID",
    ]
    assert report.to_dict()["drift"][0]["registry_status"] == "SUSPENDED"  # codes in JSON
