"""License templates (registry.template.lifecycle): make → bind → publish, versions, a layout or
a numbering rule refused as a template is bound or made, ``licreg template``.

Runs on SQLite and (when reachable) PostgreSQL through conftest's ``world``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from registry.batch.run import ingest_file
from registry.city.demo import HEALTH, MARKET
from registry.cli import cli
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import Department, DepartmentType, License, Seal, Template
from registry.errors import (
    LayoutError,
    LicenseTypeNotFound,
    NumberingError,
    TemplateError,
    TemplateTransitionError,
)
from registry.license.codes import org_code_check, uscc_check
from registry.license.types import catalogue
from registry.seal.lifecycle import (
    apply_for_seal,
    approve_application,
    authorize_seal,
    file_seal,
    make_seal_from,
    suspend_seal,
)
from registry.template.layout import default_layout
from registry.template.lifecycle import (
    bind_template,
    layout_of,
    list_templates,
    make_template,
    publish_template,
    published_template,
    template_detail,
)
from tests.conftest import NOW, PASSPHRASE

BIZ = "11100000MB0143028R001"
FOOD = "11100000MB0143028R002"
DOCTOR = "11100000MB15645531001"
T0 = NOW - dt.timedelta(days=10)
HEADER = ("证照编号,持证主体,持证主体代码,颁证日期,有效期起始日期,有效期截止日期,涉密,类型,"
          "法定代表人,注册资本,成立日期,住所,经营范围")


def dept(session: Session, uscc: str = MARKET.uscc) -> Department:
    found = session.scalar(select(Department).where(Department.uscc == uscc))
    assert found is not None
    return found


def market_seal(session: Session) -> Seal:
    return session.scalars(select(Seal).where(Seal.es_id == "330100MB17032180001")).one()


def who(at: dt.datetime = T0) -> dict[str, Any]:
    return {"actor": "示范市市场监督管理局 证照科", "reason": "测试", "at": at}


def holder(n: int) -> str:
    """A valid USCC: GB 11714 organization-code segment and GB 32100 check character."""
    org = f"MA2{n:05d}"
    body = f"91330100{org}{org_code_check(org)}"
    return body + uscc_check(body)


def ingest(engine: Engine, settings: Settings, path: Path, *numbers: int,
           at: dt.datetime = NOW) -> None:
    rows = [f"3301000000{n:05d},示范市第{n}商贸有限公司,{holder(n)},2024-01-05,2024/1/5,长期,"
            f"否,有限责任公司,张{n},100万元,2020年3月1日,示范市湖滨路{n}号,日用百货销售"
            for n in numbers]
    path.write_text("\n".join((HEADER, *rows)) + "\n", encoding="utf-8")
    report = ingest_file(engine, settings, path, department_uscc=MARKET.uscc, type_code=BIZ,
                         uploader="clerk", at=at, today=at.date())
    assert report.issued == len(numbers), report


# -- the demo world and the steps -----------------------------------------------------------------


def test_demo_templates_were_made_bound_and_published(world: Engine) -> None:
    with session_scope(world) as s:
        rows = list_templates(s)
        assert [(r.type_code, r.version, r.status, r.es_id) for r in rows] == [
            (BIZ, 1, "published", "330100MB17032180001"),
            (FOOD, 1, "published", "330100MB17032180001"),
            (DOCTOR, 1, "published", "330100MB17041220001")]
        for row in rows:
            detail = template_detail(s, row.id)
            assert [(h["step"], h["to_status"]) for h in detail["history"]] == [
                ("make", "made"), ("bind", "bound"), ("publish", "published")]
            assert all(h["actor"] and h["reason"] for h in detail["history"])
            assert detail["layout"]["seal"]["size_mm"] == 40
            assert detail["numbering"] == {"assigned_by": "department"}


def test_make_bind_publish_and_every_refused_step(world: Engine) -> None:
    with session_scope(world) as s:
        d, seal = dept(s), market_seal(s)
        t = make_template(s, type_code=BIZ, department_id=d.id, **who())
        assert (t.version, t.status, t.seal_id) == (2, "made", None)
        assert t.layout == default_layout(catalogue()[BIZ])  # v1 used the default layout too
        with pytest.raises(TemplateTransitionError,
                           match=rf"cannot publish template {t.id} \(营业执照 v2\): it is made; "
                                 rf"publish needs a template that is bound"):
            publish_template(s, t.id, **who())
        bind_template(s, t.id, seal_id=seal.id, position_mm=(200, 140), **who())
        assert t.status == "bound"
        assert t.layout is not None
        assert t.layout["seal"] == {"x_mm": 200, "y_mm": 140, "size_mm": 40}
        bind_template(s, t.id, seal_id=seal.id, **who())  # re-binding before publishing is fine
        assert t.layout["seal"]["x_mm"] == 200
        # v1 is still the one that seals until v2 is published
        assert published_template(s, type_code=BIZ, department_id=d.id).version == 1
        publish_template(s, t.id, **who(T0 + dt.timedelta(minutes=1)))
        assert published_template(s, type_code=BIZ, department_id=d.id).id == t.id
        v1 = s.scalars(select(Template).where(Template.type_code == BIZ,
                                              Template.version == 1)).one()
        assert v1.status == "retired"
        assert [h["step"] for h in template_detail(s, v1.id)["history"]][-1] == "retire"
        for step, template in (("bind", t), ("publish", t), ("bind", v1), ("publish", v1)):
            status = template.status
            expected = (rf"cannot {step} template {template.id} .+ it is {status};"
                        rf".+ \(make a new version instead\)")
            call: Callable[[], Template] = (
                (lambda t=template: bind_template(s, t.id, seal_id=seal.id, **who()))
                if step == "bind" else (lambda t=template: publish_template(s, t.id, **who())))
            with pytest.raises(TemplateTransitionError, match=expected):
                call()
            assert template.status == status


def test_binding_needs_an_authorized_seal_of_the_department(world: Engine,
                                                            settings: Settings) -> None:
    with session_scope(world) as s:
        d = dept(s)
        health_seal = s.scalars(select(Seal).where(Seal.es_id == "330100MB17041220001")).one()
        t = make_template(s, type_code=BIZ, department_id=d.id, **who())
        with pytest.raises(TemplateError, match="the seal belongs to another department"):
            bind_template(s, t.id, seal_id=health_seal.id, **who())
        # a seal made for BIZ and FOOD, authorized only for FOOD, cannot stamp a BIZ template
        app = apply_for_seal(s, department_id=d.id, kind=2, name=MARKET.seal_name,
                             purpose="行政审批专用章", type_codes=[BIZ, FOOD],
                             valid_until=NOW + dt.timedelta(days=900), **who())
        approve_application(s, app.id, **who())
        seal = make_seal_from(s, app.id, keystore=settings.keystore, passphrase=PASSPHRASE,
                              **who())
        with pytest.raises(TemplateError, match=r"cannot bind template .+ to seal "
                                                r"330100MB17032180002: seal .+ is made"):
            bind_template(s, t.id, seal_id=seal.id, **who())
        file_seal(s, seal.id, **who())
        authorize_seal(s, seal.id, type_codes=[FOOD], valid_from=T0, valid_to=seal.valid_end,
                       **who())
        with pytest.raises(TemplateError, match=f"has no authorization for license type {BIZ}"):
            bind_template(s, t.id, seal_id=seal.id, **who())
        assert t.status == "made"
        assert t.seal_id is None
        # bound to the demo seal, then that seal is suspended: publishing is refused
        bind_template(s, t.id, seal_id=market_seal(s).id, **who())
        suspend_seal(s, market_seal(s).id, **who(T0 + dt.timedelta(minutes=1)))
        with pytest.raises(TemplateError, match=r"cannot publish .+ is suspended"):
            publish_template(s, t.id, **who(T0 + dt.timedelta(minutes=2)))


def test_a_template_for_a_type_the_department_does_not_issue_is_refused(world: Engine) -> None:
    with session_scope(world) as s:
        with pytest.raises(TemplateError, match=r"示范市卫生健康委员会 \(11330100MB1704122R\) "
                                                r"does not issue 营业执照"):
            make_template(s, type_code=BIZ, department_id=dept(s, HEALTH.uscc).id, **who())
        with pytest.raises(LicenseTypeNotFound, match=r"has no license type .*R999 .*营业执照"):
            make_template(s, type_code="11100000MB0143028R999", department_id=dept(s).id,
                          **who())
        with pytest.raises(TemplateError, match="needs a reason"):
            make_template(s, type_code=BIZ, department_id=dept(s).id, actor="x", reason=" ",
                          at=T0)


def test_a_changed_schema_stops_publishing(world: Engine) -> None:
    with session_scope(world) as s:
        t = make_template(s, type_code=BIZ, department_id=dept(s).id, **who())
        bind_template(s, t.id, seal_id=market_seal(s).id, **who())
        t.schema_sha256 = "0" * 64  # as if schemas/ had changed since the template was made
        with pytest.raises(TemplateError, match=r"the schema of .+ changed since the template "
                                                r"was made; make a new version"):
            publish_template(s, t.id, **who())


def test_only_a_published_bound_template_seals(world: Engine, settings: Settings,
                                               tmp_path: Path) -> None:
    with session_scope(world) as s:
        d = dept(s)
        s.add(DepartmentType(department_id=d.id, type_code=DOCTOR))
        make_template(s, type_code=DOCTOR, department_id=d.id, **who())  # made, never bound
    with session_scope(world) as s, pytest.raises(
            TemplateError, match=f"no published template bound to a seal for license type "
                                 f"{DOCTOR} and department {d.id}"):
        published_template(s, type_code=DOCTOR, department_id=d.id)


def test_a_new_version_never_changes_licenses_sealed_under_an_older_one(
    world: Engine, settings: Settings, tmp_path: Path
) -> None:
    ingest(world, settings, tmp_path / "a.csv", 1, 2)
    with session_scope(world) as s:
        v1 = published_template(s, type_code=BIZ, department_id=dept(s).id)
        v1_state = (v1.id, copy.deepcopy(v1.layout), v1.seal_id, v1.schema_sha256)
        before = [(lic.identifier, lic.template_id, lic.record, lic.signature)
                  for lic in s.scalars(select(License).order_by(License.id))]
        layout = default_layout(catalogue()[BIZ])
        layout["title"]["font_size_pt"] = 40
        v2 = make_template(s, type_code=BIZ, department_id=dept(s).id, layout=layout,
                           numbering={"assigned_by": "registry",
                                      "pattern": "{division}{yyyy}{seq:6}"}, **who(NOW))
        bind_template(s, v2.id, seal_id=market_seal(s).id, position_mm=(210, 150), **who(NOW))
        publish_template(s, v2.id, **who(NOW))
        v2_id = v2.id
    ingest(world, settings, tmp_path / "b.csv", 3, at=NOW + dt.timedelta(hours=1))
    with session_scope(world) as s:
        v1 = s.get_one(Template, v1_state[0])
        assert (v1.id, v1.layout, v1.seal_id, v1.schema_sha256) == v1_state
        assert v1.status == "retired"
        after = [(lic.identifier, lic.template_id, lic.record, lic.signature)
                 for lic in s.scalars(select(License).order_by(License.id))]
        assert after[:2] == before
        assert [a[1] for a in after] == [v1.id, v1.id, v2_id]
        v2 = s.get_one(Template, v2_id)
        assert layout_of(v2, catalogue()[BIZ])["title"]["font_size_pt"] == 40
        assert layout_of(v1, catalogue()[BIZ])["title"]["font_size_pt"] == 36
        assert [r.licenses for r in list_templates(s, type_code=BIZ)] == [2, 1]
        # the next version starts from the previous one's layout and numbering
        v3 = make_template(s, type_code=BIZ, department_id=dept(s).id, **who(NOW))
        assert v3.layout == v2.layout
        assert v3.numbering == v2.numbering


# -- a layout or a numbering rule refused as a template is bound or made ---------------------------


def test_binding_a_seal_off_the_page_is_refused(world: Engine) -> None:
    with session_scope(world) as s:
        t = make_template(s, type_code=BIZ, department_id=dept(s).id, **who())
        with pytest.raises(LayoutError, match="goes past the 297 x 210 mm page"):
            bind_template(s, t.id, seal_id=market_seal(s).id, position_mm=(270, 10), **who())
        assert t.status == "made"


def test_a_template_with_a_bad_numbering_rule_is_not_made(world: Engine) -> None:
    with session_scope(world) as s:
        with pytest.raises(NumberingError, match=r"exactly one \{seq:N\}"):
            make_template(s, type_code=BIZ, department_id=dept(s).id,
                          numbering={"assigned_by": "registry", "pattern": "{division}"},
                          **who())
        assert [r.version for r in list_templates(s, type_code=BIZ)] == [1]


# -- the command line -----------------------------------------------------------------------------


@pytest.fixture
def env(settings: Settings, world: Engine) -> dict[str, str]:
    return {"LICREG_HOME": str(settings.home), "LICREG_DATABASE_URL": settings.database_url,
            "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode(), "LICREG_ACTOR": "李四 (证照科)"}


def run(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_cli_make_bind_publish_show(env: dict[str, str], tmp_path: Path) -> None:
    layout = default_layout(catalogue()[BIZ])
    layout["page"]["name"] = "营业执照 正本"
    layout_file = tmp_path / "layout.json"
    layout_file.write_text(json.dumps(layout, ensure_ascii=False), encoding="utf-8")
    r = run(env, "template", "make", BIZ, "--department", MARKET.uscc, "--layout",
            str(layout_file), "--number-pattern", "{division}{yyyy}{seq:6}", "--reason", "新版式")
    assert r.exit_code == 0, r.output
    assert r.output == f"template 4: {BIZ} v2 made. Next: bind it to a seal, then publish it.\n"
    r = run(env, "template", "publish", "4", "--reason", "x")
    assert r.exit_code == 1
    assert "cannot publish template 4 (营业执照 v2): it is made" in r.output
    r = run(env, "template", "bind", "4", "--seal", "330100MB17032180001", "--at", "190,140",
            "--reason", "绑定行政审批专用章")
    assert r.output == (f"template 4 ({BIZ} v2): bound to seal 330100MB17032180001 at "
                        f"(190.0, 140.0) mm, 40 mm\n")
    r = run(env, "template", "publish", "4", "--by", "王五 (审核)", "--reason", "通过")
    assert r.output == f"template 4 ({BIZ} v2): published\n"
    listed = run(env, "template", "list", "--type", BIZ).output.splitlines()
    assert listed == [
        "   1  营业执照 v1  retired    示范市市场监督管理局  seal 330100MB17032180001  licenses 0",
        "   4  营业执照 v2  published  示范市市场监督管理局  seal 330100MB17032180001  licenses 0"]
    shown = run(env, "template", "show", "4").output.splitlines()
    schema = json.loads(run(env, "template", "show", "4", "--json").output)["schema_sha256"]
    assert shown[:8] == [
        f"template 4  营业执照 v2  ({BIZ})",
        "  status           published",
        "  department       示范市市场监督管理局",
        "  bound seal       330100MB17032180001 at (190.0, 140.0) mm, 40 mm",
        "  page             营业执照 正本 297 x 210 mm, 13 fields",
        "  numbering        {division}{yyyy}{seq:6}",
        f"  schema           {schema}",
        "  licenses sealed  0",
    ]
    history = shown[shown.index("history") + 1:]
    assert [line.split()[4] for line in history] == ["make", "bind", "publish"]
    assert history[2].endswith("王五 (审核): 通过")
    as_json = json.loads(run(env, "template", "list", "--json").output)
    assert {r["status"] for r in as_json} == {"published", "retired"}


def test_cli_refuses_a_bad_layout_file(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    r = run(env, "template", "make", BIZ, "--department", MARKET.uscc, "--layout", str(bad),
            "--reason", "x")
    assert r.exit_code == 1
    assert r.output.startswith(f"error: layout {bad} is not JSON")
    r = run(env, "template", "bind", "1", "--seal", "330100MB17032180001", "--at", "1;2",
            "--reason", "x")
    assert r.exit_code == 2
    assert "expected X,Y in millimetres" in r.output
