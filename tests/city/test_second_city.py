"""A city that is not the demo, set up from its city file alone, runs the whole path as its
operators would run it: ``pki init`` → ``city apply`` → each department's seal through its
steps → each type's template → ingest → ``province serve`` in its own process → push → export
→ verify. The types are none of the demo's (one the city defines itself)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from registry.cli import cli
from registry.province.wire import LICENSES_PATH
from tests.conftest import FIXTURES, PASSPHRASE
from tests.support.province import REGISTRY_AUTH, serve_endpoint

pytestmark = pytest.mark.slow

CITY = FIXTURES / "cities" / "jianghai.toml"
BATCHES = FIXTURES / "batches" / "jianghai"
DEPARTMENTS = {  # USCC → (its type, its batch, its name)
    "11320600MB210601XH": ("11100000MB16021266001", "road-transport.csv", "江海市交通运输局"),
    "11320600MB2106028H": ("11100000MB17031387001", "drug-retail.csv", "江海市市场监督管理局"),
    "11320600MB21060447": ("11320600MB21060447001", "waste-disposal.csv", "江海市城市管理局"),
}


def licreg(env: dict[str, Any], *args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, f"licreg {' '.join(args)}: {result.output}"
    return result


def licreg_json(env: dict[str, Any], *args: str) -> Any:
    return json.loads(licreg(env, *args, "--json").output)


def _seal_and_template(env: dict[str, Any], uscc: str, type_code: str, name: str) -> str:
    """The department's seal (apply → approve → make → file → authorize) and its type's
    template (make → bind → publish), each step by the CLI; the seal's esID."""
    licreg(env, "seal", "apply", "--department", uscc, "--kind", "business", "--name",
           f"{name}行政审批专用章", "--purpose", "行政审批专用章", "--type", type_code,
           "--by", f"{name} 办公室", "--reason", "申请电子印章，用于签发电子证照")
    [app] = [s for s in licreg_json(env, "seal", "list", "--department", uscc)
             if s["status"] == "applied"]
    admin = ("--by", "江海市政务服务管理办公室 印章管理员")
    licreg(env, "seal", "approve", str(app["application_id"]), *admin, "--reason", "同意制作")
    licreg(env, "seal", "make", str(app["application_id"]), "--by", "TEST ONLY 制作单位",
           "--reason", "按批准的申请制作")
    [seal] = licreg_json(env, "seal", "list", "--department", uscc)
    es_id = seal["es_id"]
    licreg(env, "seal", "file", es_id, "--by", "江海市公安局", "--reason", "备案")
    licreg(env, "seal", "authorize", es_id, *admin, "--reason", "授权签发本部门电子证照")
    clerk = ("--by", f"{name} 证照管理员")
    licreg(env, "template", "make", type_code, "--department", uscc, *clerk, "--reason", "制作")
    [template] = licreg_json(env, "template", "list", "--type", type_code)
    licreg(env, "template", "bind", str(template["id"]), "--seal", es_id, *clerk,
           "--reason", "绑定")
    licreg(env, "template", "publish", str(template["id"]), *admin, "--reason", "审核通过")
    return str(es_id)


def test_a_city_set_up_from_its_file_alone_runs_the_whole_path(tmp_path: Path,
                                                               db_url: str) -> None:
    env: dict[str, Any] = {"LICREG_HOME": str(tmp_path / "var"), "LICREG_DATABASE_URL": db_url,
                           "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode(), "LICREG_LANG": None}
    made = licreg(env, "pki", "init").output
    assert made.startswith("已在 ") and "创建仅供测试（TEST ONLY）的 PKI" in made
    applied = licreg(env, "city", "apply", str(CITY)).output.splitlines()
    assert applied[0] == "  已添加城市 江海市（320600）"
    assert "  已添加证照类型 11320600MB21060447001 城市建筑垃圾处置核准" in applied
    assert len(applied) == 7
    english = licreg(env, "--lang", "en", "city", "show").output.splitlines()
    assert english[0] == "江海市 (320600): 3 departments, 3 license types"

    seals = {uscc: _seal_and_template(env, uscc, code, name)
             for uscc, (code, _, name) in DEPARTMENTS.items()}
    assert all(es_id.startswith(("320600", "320602")) for es_id in seals.values())

    accepted: dict[str, list[str]] = {}
    for uscc, (code, batch, _) in DEPARTMENTS.items():
        report = licreg_json(env, "ingest", str(BATCHES / batch), "--department", uscc,
                             "--type", code)
        rows = {r["line"]: r for r in report["rows"]}
        assert rows[12]["outcome"] == "rejected"
        assert [x["code"] for x in rows[12]["reasons"]] == ["BAD_HOLDER_CODE"]
        assert rows[13]["outcome"] == "rejected"
        assert [(x["code"], x["element"]) for x in rows[13]["reasons"]] == [
            ("BAD_VALUE", "ZZYXQJZRQ")]
        accepted[code] = [r["identifier"] for r in report["rows"] if r["outcome"] == "accepted"]
        assert len(accepted[code]) == report["accepted"] >= 5
        assert all(i.startswith(f"1.2.156.3005.2.{code}.{uscc}.") for i in accepted[code])
    total = sum(map(len, accepted.values()))

    with serve_endpoint({k: v for k, v in env.items() if v is not None}) as url:
        pushed = licreg_json(env, "push", "--endpoint", url)
        assert pushed["accepted"] == total
        assert httpx.get(f"{url}/stats").json()["licenses"] == total
        waste = accepted["11320600MB21060447001"][0]
        stored = httpx.get(f"{url}{LICENSES_PATH}/{waste}", headers=REGISTRY_AUTH).json()
        assert stored["elements"]["ZZMC"] == "城市建筑垃圾处置核准"  # every element arrived
        assert {"KZ_CZCS", "KZ_CZFS", "KZ_YSCLS"} <= set(stored["elements"])

    anchors = tmp_path / "anchors.pem"
    licreg(env, "pki", "anchors", "--out", str(anchors))
    licreg(env, "log", "checkpoint")  # an export carries the log proof from a checkpoint on
    bundles = []
    for code, identifiers in accepted.items():
        bundle = tmp_path / code
        licreg(env, "export", identifiers[0], "--out", str(bundle))
        bundles.append(str(bundle))
    verdicts = licreg_json(env, "verify", *bundles, "--anchors", str(anchors))
    assert [v["indication"] for v in verdicts] == ["PASSED"] * 3, verdicts
