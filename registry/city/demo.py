"""The demo world: a city set up from its city file, with seals and templates made.

The demo city (示范市, division 330100; ``fixtures/cities/demo.toml``) has two departments:

- 示范市市场监督管理局 issues 营业执照 and 食品经营许可证, sealed by its 行政审批专用章;
- 示范市卫生健康委员会 issues 医师执业证书.

Each seal goes through the whole lifecycle (apply → approve → make → file → authorize) and each
template through make → bind → publish, every step recorded with who, when and why, as a real
department would do it.

All keys are TEST ONLY. Department codes are synthetic but pass GB 32100 and GB 11714.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.city.cityfile import CityPlan, apply_city, read_city_file
from registry.city.setup import init_registry
from registry.config import Settings
from registry.db.models import Department, Seal
from registry.i18n import _
from registry.seal.lifecycle import (
    apply_for_seal,
    approve_application,
    authorize_seal,
    file_seal,
    make_seal_from,
)
from registry.seal.pki import create_test_pki
from registry.seal.queries import KIND_BUSINESS
from registry.template.lifecycle import bind_template, make_template, publish_template

__all__ = ["DEMO_CITY", "DEMO_DEPARTMENTS", "HEALTH", "MARKET", "DemoDepartment",
           "create_demo_world", "demo_plan", "init_registry"]


@dataclass(frozen=True)
class DemoDepartment:
    name: str
    uscc: str
    division_code: str
    seal_name: str
    seal_purpose: str
    type_codes: tuple[str, ...]


MARKET = DemoDepartment(
    name="示范市市场监督管理局",
    uscc="11330100MB1703218R",
    division_code="330100",
    seal_name="示范市市场监督管理局行政审批专用章",
    seal_purpose="行政审批专用章",
    type_codes=("11100000MB0143028R001", "11100000MB0143028R002"),
)
HEALTH = DemoDepartment(
    name="示范市卫生健康委员会",
    uscc="11330100MB1704122R",
    division_code="330100",
    seal_name="示范市卫生健康委员会行政审批专用章",
    seal_purpose="行政审批专用章",
    type_codes=("11100000MB15645531001",),
)
DEMO_DEPARTMENTS = (MARKET, HEALTH)


DEMO_CITY = Path(__file__).resolve().parents[2] / "fixtures" / "cities" / "demo.toml"
"""The demo city's file: its departments and the license types they issue."""


def demo_plan() -> CityPlan:
    """The demo city, read from :data:`DEMO_CITY`."""
    return read_city_file(DEMO_CITY)


def create_demo_world(session: Session, settings: Settings, *, now: dt.datetime) -> list[str]:
    """Create the test PKI, apply the demo city file, and give each new department its seal
    and templates, step by step.

    Idempotent: a department that already exists is left as it is. Returns what was created.
    """
    passphrase = settings.require_passphrase()
    created: list[str] = []
    if not (settings.keystore / "root.pem").exists():
        create_test_pki(settings.keystore, passphrase, now=now)
        created.append(_("test PKI in {folder}", folder=settings.keystore))
    plan = demo_plan()
    fresh = {d.uscc for d in plan.departments} - set(
        session.scalars(select(Department.uscc)))
    apply_city(session, plan)
    for demo in DEMO_DEPARTMENTS:
        if demo.uscc not in fresh:
            continue
        dept = session.scalars(select(Department).where(Department.uscc == demo.uscc)).one()
        seal = _demo_seal(session, settings, dept, demo, now=now)
        for code in demo.type_codes:
            _demo_template(session, dept, code, seal_id=seal.id, now=now)
        created.append(_("{name} ({uscc}) with seal {seal}", name=demo.name, uscc=demo.uscc,
                         seal=seal.es_id))
    return created


_ADMIN = "示范市政务服务和数据管理局 印章管理员 (demo)"


def _demo_seal(
    session: Session, settings: Settings, dept: Department, demo: DemoDepartment, *,
    now: dt.datetime
) -> Seal:
    """The department's seal, the way a department gets one: apply → approve → make → file
    (备案) → authorize, each step recorded with who, when and why."""
    clerk = f"{demo.name} 办公室 (demo)"
    app = apply_for_seal(
        session, department_id=dept.id, kind=KIND_BUSINESS, name=demo.seal_name,
        purpose=demo.seal_purpose, type_codes=demo.type_codes,
        valid_until=now.replace(year=now.year + 5), actor=clerk,
        reason="申请电子印章，用于签发本部门电子证照 (demo world)", at=now)
    approve_application(session, app.id, actor=_ADMIN, reason="申请材料齐全，同意制作 (demo)",
                        at=now)
    seal = make_seal_from(session, app.id, keystore=settings.keystore,
                          passphrase=settings.require_passphrase(),
                          actor="TEST ONLY 电子印章制作单位 (demo)",
                          reason="按批准的申请制作 (demo)", at=now)
    file_seal(session, seal.id, actor="示范市公安局 印章备案 (demo)", reason="电子印章备案 (demo)",
              at=now)
    return authorize_seal(session, seal.id, type_codes=demo.type_codes,
                          valid_from=seal.valid_start, valid_to=seal.valid_end, actor=_ADMIN,
                          reason="授权签发本部门的电子证照 (demo)", at=now)


def _demo_template(session: Session, dept: Department, type_code: str, *, seal_id: int,
                   now: dt.datetime) -> None:
    """The type's template: make (default layout) → bind to the seal → publish, recorded."""
    clerk = f"{dept.name} 证照管理员 (demo)"
    t = make_template(session, type_code=type_code, department_id=dept.id, actor=clerk,
                      reason="按标准版式制作证照模板 (demo)", at=now)
    bind_template(session, t.id, seal_id=seal_id, actor=clerk,
                  reason="绑定本部门行政审批专用章 (demo)", at=now)
    publish_template(session, t.id, actor=_ADMIN, reason="模板审核通过，发布 (demo)", at=now)

