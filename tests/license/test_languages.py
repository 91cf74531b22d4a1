"""Licenses in the reader's language: ``licreg license …`` output and refusals, statuses and
steps in Chinese by default, in English with ``--lang en`` (registry.license.lifecycle,
registry.cli.license), for the same licenses; codes stay in JSON."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from registry.cli import cli
from registry.clock import china_text
from registry.config import Settings
from registry.errors import CodeError, LifecycleError
from registry.i18n import language
from registry.license import lifecycle as lc
from registry.license.codes import parse_license_identifier
from registry.license.queries import get_license
from tests.conftest import NOW, PASSPHRASE
from tests.license.test_lifecycle import AT, seal


def run(settings: Settings, *args: str, lang: str = "zh") -> tuple[int, str]:
    """``licreg ARGS`` with LICREG_LANG=``lang`` (the tests' default is English)."""
    env = {"LICREG_HOME": str(settings.home), "LICREG_DATABASE_URL": settings.database_url,
           "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode(), "LICREG_LANG": lang}
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def test_a_step_and_its_refusal_in_chinese_and_in_english(world: Engine,
                                                          settings: Settings) -> None:
    (ident,) = seal(settings, 1)
    assert run(settings, "license", "suspend", ident, "--reason", "整改", "--actor", "clerk") == (
        0, f"{ident}  有效 → 暂扣（03 暂扣，已列入省平台推送队列）\n")
    code, zh = run(settings, "license", "suspend", ident)
    assert (code, zh) == (1, f"错误：不能对证照 {ident} 办理暂扣：该证照状态为暂扣，"
                             f"暂扣仅适用于状态为有效的证照\n")
    code, en = run(settings, "--lang", "en", "license", "suspend", ident)
    assert (code, en) == (1, f"error: suspension of {ident} refused: it is SUSPENDED; "
                             f"suspension applies to a license that is VALID\n")
    code, cancelled = run(settings, "license", "cancel", ident, "--json")
    result = json.loads(cancelled)
    assert (result["status"], result["status_text"], result["step"]) == ("CANCELLED", "注销",
                                                                          "注销")
    assert "\\u" not in cancelled  # UTF-8, not escapes
    code, refused = run(settings, "license", "unsuspend", ident)
    assert refused == (f"错误：不能对证照 {ident} 办理暂扣发还：该证照状态为注销，暂扣发还仅适用于"
                       f"状态为暂扣的证照\n")


def test_list_show_and_history_in_chinese_and_in_english(world: Engine,
                                                         settings: Settings) -> None:
    first, second = seal(settings, 2)
    suspended = run(settings, "license", "suspend", first, "--reason", "整改", "--actor", "clerk")
    assert suspended[0] == 0
    zh = run(settings, "license", "list")[1].splitlines()
    en = run(settings, "license", "list", lang="en")[1].splitlines()
    assert [line.split()[:2] for line in zh] == [[first, "暂扣"], [second, "有效"]]
    assert [line.split()[:2] for line in en] == [[first, "SUSPENDED"], [second, "VALID"]]
    assert zh[0].startswith(f"{first}  暂扣  营业执照") and zh[1].startswith(f"{second}  有效  ")

    shown = json.loads(run(settings, "license", "show", first)[1])
    assert (shown["status"], shown["status_text"]) == ("SUSPENDED", "暂扣")
    assert json.loads(run(settings, "license", "show", first, lang="en")[1])["status_text"] == \
        "SUSPENDED"

    with Session(world) as s:
        at = dt.datetime.fromisoformat(lc.history(s, first)[0]["at"])
    with language("zh"):
        when_zh = china_text(at)
    with language("en"):
        when_en = china_text(at)
    assert when_zh.endswith(" 北京时间") and when_en.endswith(" Beijing time")
    with language("zh"):
        sealed_zh = china_text(NOW)
    with language("en"):
        sealed_en = china_text(NOW)
    assert run(settings, "license", "history", first)[1] == (
        f"{first}  暂扣  {sealed_zh} 签章\n"
        f"    {when_zh}  暂扣  03  有效 → 暂扣  经办人：clerk  «整改»\n")
    assert run(settings, "--lang", "en", "license", "history", first)[1] == (
        f"{first}  SUSPENDED  sealed {sealed_en}\n"
        f"    {when_en}  suspension  03  VALID → SUSPENDED  by clerk  «整改»\n")
    assert run(settings, "license", "history", second)[1] == (
        f"{second}  有效  {sealed_zh} 签章\n    签发以来无变动记录\n")


def test_change_expire_and_renew_in_chinese_and_in_english(world: Engine,
                                                           settings: Settings) -> None:
    (ident,) = seal(settings, 1, valid_to="20261101")
    code, out = run(settings, "license", "change", ident, "--set", "KZ_FDDBR=赵六")
    with Session(world) as s:
        assert get_license(s, ident).status == "SUPERSEDED"
    changed = out.split()[0]
    assert (code, out) == (0, f"{changed}  {ident} 的新版本（09 变更，已列入省平台推送队列）\n")
    assert run(settings, "license", "change", changed, "--set", "ZZBH=X")[1] == (
        "错误：不能变更 ZZBH：该项用于标识证照\n")
    assert run(settings, "license", "change", changed, "--set", "ZZBH=X", lang="en")[1] == (
        "error: cannot change ZZBH: it identifies the license\n")
    assert run(settings, "license", "expire-due", "--today", "20261127") == (
        0, "1 张证照有效期截止日期早于 20261127，状态改为过期失效（已列入省平台推送队列）\n")
    assert run(settings, "license", "renew", changed, "--until", "20261001")[1] == (
        f"错误：不能将证照 {changed} 延续至 20261001：其有效期已至 20261101\n")
    assert run(settings, "license", "renew", changed, "--until", "20261001", lang="en")[1] == (
        f"error: renewal of {changed} until 20261001 refused: it is already valid until "
        f"20261101\n")


def test_library_refusals_follow_the_language_context(world: Engine,
                                                      settings: Settings) -> None:
    (ident,) = seal(settings, 1)
    with Session(world) as s:
        with language("zh"), pytest.raises(LifecycleError) as zh:
            lc.change(s, settings, ident, changes={"CZZT": ""}, at=AT, actor="clerk")
        with language("en"), pytest.raises(LifecycleError) as en:
            lc.change(s, settings, ident, changes={"CZZT": ""}, at=AT, actor="clerk")
    assert str(zh.value) == "不能办理变更：持证主体（CZZT）为必填项"
    assert str(en.value) == "change of elements refused: 持证主体 (CZZT) is required"
    wrong = ident[:-1] + ("0" if ident[-1] != "0" else "1")
    with language("zh"), pytest.raises(CodeError, match=f"^证照标识校验位错误，为 '{wrong[-1]}'，"
                                                         f"应为 '{ident[-1]}'"):
        parse_license_identifier(wrong)
    with language("en"), pytest.raises(CodeError, match=f"^identifier check character is "
                                                         f"'{wrong[-1]}', expected '{ident[-1]}'"):
        parse_license_identifier(wrong)
    with language("zh"):
        assert [lc.status_text(c) for c in ("VALID", "SUSPENDED", "REVOKED", "WITHDRAWN",
                                            "CANCELLED", "EXPIRED", "TRANSFERRED_OUT")] == [
            "有效", "暂扣", "撤销", "吊销", "注销", "过期失效", "办理转出"]
