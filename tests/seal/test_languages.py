"""The seal administrator's side speaks Chinese by default and English on request: the same
``licreg seal …``, ``licreg template …`` and ``licreg pdf …`` runs, and the library errors
behind them, in both languages; times in Beijing time with the zone named; codes kept in JSON.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from registry.bench.synthetic import rendered_business_license
from registry.city.demo import MARKET
from registry.cli import cli
from registry.cli.terminal import columns
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import License
from registry.errors import LayoutError, NumberingError, RenditionNotFound, SealError
from registry.i18n import N_, SEPARATOR, _, current_language, language, word
from registry.license.types import catalogue
from registry.render.renditions import rendition_path, worker_pool
from registry.seal.lifecycle import status_name, step_name, suspend_seal
from registry.seal.queries import active_seal_for, find_seal
from registry.template.layout import check_layout, default_layout
from registry.template.numbering import assign_number
from tests.conftest import NOW, PASSPHRASE
from tests.support.licenses import seal_rows

BIZ = "11100000MB0143028R001"
ES_ID = "330100MB17032180001"
SEAL = MARKET.seal_name  # 示范市市场监督管理局行政审批专用章


@pytest.fixture
def env(settings: Settings, world: Engine, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.delenv("LICREG_LANG", raising=False)  # conftest asks for English
    return {"LICREG_HOME": str(settings.home), "LICREG_DATABASE_URL": settings.database_url,
            "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode(), "LICREG_ACTOR": "张三 (印章管理员)"}


def run(env: dict[str, str], *args: str, lang: str | None = None) -> Any:
    """``licreg [--lang LANG] ARGS`` (no --lang: the default, Chinese)."""
    prefix = ["--lang", lang] if lang else []
    return CliRunner().invoke(cli, [*prefix, *args], env=env, catch_exceptions=False)


def both(env: dict[str, str], *args: str) -> tuple[Any, Any]:
    return run(env, *args), run(env, *args, lang="en")


# -- seals ----------------------------------------------------------------------------------


def test_seal_show_in_chinese_and_english(env: dict[str, str]) -> None:
    zh, en = both(env, "seal", "show", ES_ID)
    assert (zh.exit_code, en.exit_code) == (0, 0)
    zh_lines, en_lines = zh.output.splitlines(), en.output.splitlines()
    assert zh_lines[0] == f"印章 {ES_ID}  {SEAL}"
    assert en_lines[0] == f"seal {ES_ID}  {SEAL}"
    # the demo world was made 30 days before the pinned clock: 2026-10-28 08:00 UTC
    assert "  状态          已启用" in zh_lines
    assert "  status        active" in en_lines
    assert "  印章类型      2 业务专用章" in zh_lines
    assert f"  部门          {MARKET.name}（{MARKET.uscc}）" in zh_lines
    assert "  有效期        2026-10-28 16:00 北京时间 至 2031-10-28 16:00 北京时间" in zh_lines
    assert ("  validity      2026-10-28 16:00 Beijing time .. 2031-10-28 16:00 Beijing time"
            in en_lines)
    assert (f"  授权          {BIZ}  2026-10-28 16:00 北京时间 至 2031-10-28 16:00 北京时间"
            in zh_lines)
    assert "  吊销          —" in zh_lines
    history = zh_lines[zh_lines.index("操作记录") + 1:]
    assert [line.split()[3] for line in history] == ["申请", "批准", "制作", "备案", "授权"]
    assert history[4].startswith("  2026-10-28 16:00:00 北京时间  授权        已备案 → 已启用 ")
    assert "：授权签发本部门的电子证照" in history[4]
    en_history = en_lines[en_lines.index("history") + 1:]
    assert en_history[4].startswith("  2026-10-28 16:00:00 Beijing time  authorize   "
                                    "filed → active ")
    assert "Z " not in zh.output + en.output  # no UTC "Z" times any more


def test_seal_list_and_json_keep_the_codes_beside_the_words(env: dict[str, str]) -> None:
    zh, en = both(env, "seal", "list")
    assert zh.output.splitlines()[0].startswith(f"{ES_ID}    已启用     {SEAL}（业务专用章）  "
                                                f"证照类型：{BIZ}")
    assert en.output.splitlines()[0].startswith(f"{ES_ID}    active     {SEAL} (业务专用章)  "
                                                f"types: {BIZ}")
    zh_json, en_json = both(env, "seal", "list", "--json")
    assert '"status_text": "已启用"' in zh_json.output  # UTF-8, not \u escapes
    rows = json.loads(zh_json.output)
    assert [(r["status"], r["status_text"]) for r in rows] == [("active", "已启用")] * 2
    assert [r["status_text"] for r in json.loads(en_json.output)] == ["active"] * 2
    shown = json.loads(run(env, "seal", "show", ES_ID, "--json").output)
    assert (shown["seal"]["status"], shown["seal"]["status_text"]) == ("active", "已启用")
    assert [h["step_text"] for h in shown["history"]][-2:] == ["备案", "授权"]
    assert [h["step"] for h in shown["history"]][-2:] == ["file", "authorize"]


def test_a_step_the_status_does_not_allow_is_refused_in_the_readers_language(
        env: dict[str, str]) -> None:
    zh, en = both(env, "seal", "file", ES_ID, "--reason", "重复备案")
    assert (zh.exit_code, en.exit_code) == (1, 1)
    assert zh.output == (f"错误：印章 {ES_ID}（{SEAL}）当前状态为已启用，不能备案；"
                         f"备案须印章处于已制作状态\n")
    assert en.output == (f"error: cannot file seal {ES_ID} ({SEAL}): it is active; "
                         f"file needs a seal that is made\n")
    zh, en = both(env, "seal", "approve", "1", "--reason", "再次批准")
    assert zh.output == (f"错误：印章申请 1（{SEAL}）当前状态为已制作，不能批准；"
                         f"批准须申请处于已申请状态\n")
    assert en.output.startswith("error: cannot approve seal application 1 ")
    zh, en = both(env, "seal", "show", "NOPE")
    assert (zh.output, en.output) == ("错误：没有印章编码为 NOPE 的印章\n",
                                      "error: no seal with esID NOPE\n")


def test_the_life_of_a_seal_in_chinese(env: dict[str, str]) -> None:
    r = run(env, "seal", "apply", "--department", MARKET.uscc, "--kind", "official",
            "--name", MARKET.name, "--type", BIZ, "--valid-until", "2030-12-31",
            "--reason", "申请法定名称章")
    assert r.exit_code == 0, r.output
    assert r.output == (f"印章申请 3：已申请{MARKET.name}（法定名称章），用于 {BIZ}，"
                        f"有效期至 2030-12-31 23:59:59 北京时间\n")  # the China day's end
    assert run(env, "seal", "approve", "3", "--reason", "同意").output == (
        f"印章申请 3（{MARKET.name}）：已批准\n")
    r = run(env, "seal", "make", "3", "--by", "制章单位", "--reason", "制作")
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"印章 330100MB17032180002（{MARKET.name}）：已根据印章申请 3 制作；"
                               f"有效期 ")
    assert r.output.endswith(" 至 2030-12-31 23:59 北京时间；印模 42 x 42 mm。"
                             "下一步：备案，然后授权。\n")
    assert run(env, "seal", "file", "3", "--reason", "备案").output == (
        f"印章 330100MB17032180002（{MARKET.name}）：已制作 → 已备案\n")
    r = run(env, "seal", "authorize", "3", "--until", "2029-06-30", "--reason", "授权")
    assert r.output.startswith(f"印章 330100MB17032180002（{MARKET.name}）：已备案 → 已启用；"
                               f"已授权用于 {BIZ}，期限 ")
    assert r.output.endswith(" 北京时间 至 2029-06-30 23:59:59 北京时间\n")
    assert run(env, "seal", "suspend", "3", "--reason", "暂停").output == (
        f"印章 330100MB17032180002（{MARKET.name}）：已启用 → 已停用\n")
    r = run(env, "seal", "cancel", "3", "--reason", "注销")
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"印章 330100MB17032180002（{MARKET.name}）：已停用 → 已注销；"
                               f"证书已于 ")
    assert r.output.endswith(" 北京时间 吊销（停止使用）\n")
    crl = run(env, "seal", "crl").output
    assert crl.startswith("印章 330100MB17032180002  证书 ")
    assert crl.rstrip().endswith("北京时间  停止使用")
    assert run(env, "seal", "crl", lang="en").output.rstrip().endswith(
        "Beijing time  cessationOfOperation")
    (entry,) = json.loads(run(env, "seal", "crl", "--json").output)
    assert (entry["reason"], entry["reason_text"]) == ("cessationOfOperation", "停止使用")
    shown = run(env, "seal", "show", "3").output.splitlines()
    assert "  状态          已注销" in shown
    assert any(line.startswith("  吊销          ") and line.endswith("北京时间（停止使用）")
               for line in shown)


def test_sealing_with_a_suspended_seal_is_refused_in_either_language(
        world: Engine, settings: Settings) -> None:
    with session_scope(world) as s:
        seal = find_seal(s, ES_ID)
        suspend_seal(s, seal.id, actor="印章管理员", reason="暂停使用", at=NOW)
        with language("zh"), pytest.raises(SealError) as zh:
            active_seal_for(s, seal.id, BIZ, at=NOW)
        with language("en"), pytest.raises(SealError) as en:
            active_seal_for(s, seal.id, BIZ, at=NOW)
    assert str(zh.value) == f"印章 {ES_ID}（{SEAL}）已停用，不能为证照类型 {BIZ} 签章"
    assert str(en.value) == f"seal {ES_ID} ({SEAL}) is suspended and cannot seal license type {BIZ}"


# -- templates ------------------------------------------------------------------------------


def test_template_list_and_show_in_chinese_and_english(env: dict[str, str]) -> None:
    zh, en = both(env, "template", "list")
    assert zh.output.splitlines()[0] == (f"   1  营业执照 第 1 版  已发布     {MARKET.name}  "
                                         f"印章 {ES_ID}  已签章证照 0 张")
    assert en.output.splitlines()[0] == (f"   1  营业执照 v1  published  {MARKET.name}  "
                                         f"seal {ES_ID}  licenses 0")
    zh, en = both(env, "template", "show", "1")
    zh_lines, en_lines = zh.output.splitlines(), en.output.splitlines()
    assert zh_lines[0] == f"模板 1  营业执照 第 1 版（{BIZ}）"
    assert "  状态        已发布" in zh_lines
    assert "  status           published" in en_lines
    assert "  编号规则    由部门编制" in zh_lines
    assert "  numbering        assigned by the department" in en_lines
    assert f"  绑定印章    {ES_ID}，位置（205, 143）mm，大小 40 mm" in zh_lines
    history = zh_lines[zh_lines.index("操作记录") + 1:]
    assert [line.split()[3] for line in history] == ["制作", "绑定", "发布"]
    assert history[2].startswith("  2026-10-28 16:00:00 北京时间  发布     已绑定 → 已发布 ")
    assert en_lines[-1].startswith("  2026-10-28 16:00:00 Beijing time  publish  "
                                   "bound → published ")
    listed = json.loads(run(env, "template", "show", "1", "--json").output)
    assert (listed["status"], listed["status_text"]) == ("published", "已发布")
    assert [h["step_text"] for h in listed["history"]] == ["制作", "绑定", "发布"]


def test_template_steps_and_errors_in_chinese_and_english(env: dict[str, str]) -> None:
    zh, en = both(env, "template", "publish", "1", "--reason", "再次发布")
    assert (zh.exit_code, en.exit_code) == (1, 1)
    assert zh.output == ("错误：模板 1（营业执照 第 1 版）当前状态为已发布，不能发布；"
                         "发布须模板处于已绑定状态（请制作新版本）\n")
    assert en.output == ("error: cannot publish template 1 (营业执照 v1): it is published; "
                         "publish needs a template that is bound (make a new version instead)\n")
    r = run(env, "template", "make", BIZ, "--department", MARKET.uscc, "--number-pattern",
            "{division}{yyyy}{seq:6}", "--reason", "新版本")
    assert r.output == "模板 4：11100000MB0143028R001 第 2 版已制作。下一步：绑定印章，然后发布。\n"
    r = run(env, "template", "bind", "4", "--seal", ES_ID, "--reason", "绑定")
    assert r.output == (f"模板 4（{BIZ} 第 2 版）：已绑定印章 {ES_ID}，位置（205, 143）mm，"
                        f"大小 40 mm\n")
    assert run(env, "template", "publish", "4", "--reason", "发布").output == (
        f"模板 4（{BIZ} 第 2 版）：已发布\n")
    shown = run(env, "template", "show", "1").output.splitlines()
    assert "  状态        已废止" in shown
    assert shown[-1].endswith("张三 (印章管理员)：已由第 2 版替代")
    assert run(env, "template", "show", "1", lang="en").output.splitlines()[-1].endswith(
        "张三 (印章管理员): superseded by version 2")
    zh, en = both(env, "template", "bind", "4", "--seal", ES_ID, "--at", "nowhere",
                  "--reason", "x")
    assert "应为以毫米计的 X,Y，实际为 'nowhere'" in zh.output
    assert "expected X,Y in millimetres, got 'nowhere'" in en.output
    zh, en = both(env, "template", "make", BIZ, "--department", "91330100MA00000000",
                  "--reason", "x")
    assert (zh.output, en.output) == ("错误：未知部门 91330100MA00000000\n",
                                      "error: unknown department 91330100MA00000000\n")


def test_layout_and_numbering_errors_in_either_language() -> None:
    lt = catalogue()[BIZ]
    layout = default_layout(lt)
    layout["fields"].append(dict(layout["fields"][0]))
    with language("zh"), pytest.raises(LayoutError) as zh:
        check_layout(layout, lt)
    with language("en"), pytest.raises(LayoutError) as en:
        check_layout(layout, lt)
    assert str(zh.value) == "版式 fields/13：CZZTDM 重复显示"
    assert str(en.value) == "layout fields/13: CZZTDM is shown twice"
    rule = {"assigned_by": "registry", "pattern": "{division}{seq:2}"}
    with language("zh"), pytest.raises(NumberingError) as zh_n:
        assign_number(rule, division_code="330100", year=2026, seq=100)
    assert str(zh_n.value) == "顺序号 100 超过 2 位"


# -- PDF renditions -------------------------------------------------------------------------


def test_pdf_render_and_show_in_chinese_and_english(
        env: dict[str, str], world: Engine, settings: Settings, tmp_path: Path) -> None:
    with session_scope(world) as s:
        assert seal_rows(s, settings, [rendered_business_license(i) for i in (1, 2, 3)],
                         at=NOW) == 3
        identifier = s.scalars(select(License.identifier).order_by(License.id)).first()
        assert identifier is not None
        with language("zh"), pytest.raises(RenditionNotFound) as zh:
            rendition_path(s, settings, identifier)
    assert str(zh.value) == f"证照 {identifier} 尚无 PDF 版式文件（请运行：licreg pdf render）"
    r = run(env, "pdf", "render", "--workers", "0", "--limit", "2")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("已生成并签署 2 份 PDF（B-B 2），用时 ")
    assert r.output.endswith(" 秒\n")
    r = run(env, "pdf", "render", "--workers", "0", lang="en")
    assert r.output.startswith("rendered 1 PDF (B-B 1) in ")
    out = tmp_path / "license.pdf"
    zh_show, en_show = both(env, "pdf", "show", identifier, "--out", str(out))
    size = out.stat().st_size
    assert zh_show.output == f"{out}  {size} 字节\n"
    assert en_show.output == f"{out}  {size} bytes\n"


def test_pdf_bench_reports_in_chinese_and_english(env: dict[str, str], tmp_path: Path) -> None:
    zh = run(env, "pdf", "bench", "--licenses", "4", "--workers", "0", "--workdir",
             str(tmp_path / "zh"))
    assert zh.exit_code == 0, zh.output
    lines = zh.output.splitlines()
    assert re.fullmatch(r"0 个工作进程 [\d.]+ 秒生成签章 PDF 4 份：每秒 \d+ 份"
                        r"（另需 [\d.]+ 秒启动工作进程）", lines[0])
    assert re.fullmatch(r"生成耗用 CPU：每份 PDF [\d.]+ 毫秒，每 CPU 秒 \d+ 份", lines[1])
    assert re.fullmatch(r"平均大小 \d+ 字节；抽样 4 份：4 份通过 verify_pdf.*", lines[2])
    en = run(env, "pdf", "bench", "--licenses", "4", "--workers", "0", "--workdir",
             str(tmp_path / "en"), lang="en")
    assert re.fullmatch(r"4 sealed PDFs in [\d.]+ s with 0 workers: \d+ per second "
                        r"\(\+[\d.]+ s worker start-up\)", en.output.splitlines()[0])
    assert re.fullmatch(r"mean size \d+ bytes; sample of 4: 4 PASSED verify_pdf.*",
                        en.output.splitlines()[2])


def test_help_is_in_the_readers_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LICREG_LANG", raising=False)
    runner = CliRunner()
    zh = runner.invoke(cli, ["seal", "--help"]).output
    assert "部门电子印章：申请、审核、制作、备案、授权、停用/恢复、挂失、注销、重新制作。" in zh
    assert "  list         列出印章及尚未制作印章的申请。" in zh.splitlines()
    (show,) = [line for line in zh.splitlines() if line.startswith("  show ")]
    assert show.startswith("  show         查看一枚印章（印章编码）或一份印章申请")
    assert show.endswith("...")
    assert max(columns(line) for line in zh.splitlines()) <= 80  # cut by columns, not chars
    en = runner.invoke(cli, ["--lang", "en", "seal", "--help"]).output
    assert "  list         Seals, and applications no seal was made from yet." in en.splitlines()
    apply = runner.invoke(cli, ["seal", "apply", "--help"]).output
    assert "申请部门（统一社会信用代码）。" in apply and "经办人（默认：$LICREG_ACTOR）。" in apply
    assert "The applying department (USCC)." in runner.invoke(
        cli, ["--lang", "en", "seal", "apply", "--help"]).output
    assert "将已制作的模板绑定到本部门已授权的印章。" in runner.invoke(
        cli, ["template", "bind", "--help"]).output
    assert "为尚无 PDF 的证照生成并签署版式文件。" in runner.invoke(cli, ["pdf", "--help"]).output


def test_short_words_have_a_context_so_they_do_not_take_over_other_catalogues() -> None:
    with language("zh"):
        assert status_name("active") == "已启用"
        assert step_name("file") == "备案"
        # the bulletin's words keep their meaning beside the seal pages' labels
        assert (_("license types"), _("licenses")) == ("类证照", "件")
        assert word(N_("seal show|license types")) == "证照类型"
        assert word(SEPARATOR) == "、"
    with language("en"):
        assert (status_name("active"), step_name("file"), word(SEPARATOR)) == ("active", "file",
                                                                               ", ")


def test_render_workers_speak_the_language_of_the_run() -> None:
    for lang in ("zh", "en"):
        with language(lang), worker_pool(1) as pool:
            assert pool.submit(current_language).result() == lang
