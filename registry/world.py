"""Setting up a registry: the schema, the license types and, for the demo, a whole world.

The demo world is a city (示范市, division 330100) with two departments:

- 示范市市场监督管理局 issues 营业执照 and 食品经营许可证, sealed by its 行政审批专用章;
- 示范市卫生健康委员会 issues 医师执业证书.

All keys are TEST ONLY. Department codes are synthetic but pass GB 32100 and GB 11714.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from registry.config import Settings
from registry.db import migrate, session_scope
from registry.license_types import load_license_types
from registry.models import Department, DepartmentType, LicenseTypeRow
from registry.seal.pki import create_test_pki
from registry.seals import KIND_BUSINESS, make_seal_for
from registry.templates import publish_template, schema_sha256

__all__ = ["DEMO_DEPARTMENTS", "DemoDepartment", "create_demo_world", "init_registry"]


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


def init_registry(engine: Engine) -> None:
    """Create or upgrade the schema and register every license type found in ``schemas/``."""
    migrate(engine)
    with session_scope(engine) as session:
        for lt in load_license_types().values():
            row = session.get(LicenseTypeRow, lt.code)
            if row is None:
                row = LicenseTypeRow(code=lt.code)
                session.add(row)
            row.name = lt.name
            row.authority_name = lt.authority_name
            row.authority_code = lt.authority_code
            row.schema_sha256 = schema_sha256(lt.code)


def create_demo_world(session: Session, settings: Settings, *, now: dt.datetime) -> list[str]:
    """Create the test PKI and the demo departments with their seals and templates.

    Idempotent: a department that already exists is left as it is. Returns what was created.
    """
    passphrase = settings.require_passphrase()
    created: list[str] = []
    if not (settings.keystore / "root.pem").exists():
        create_test_pki(settings.keystore, passphrase, now=now)
        created.append(f"test PKI in {settings.keystore}")
    for demo in DEMO_DEPARTMENTS:
        if session.scalar(select(Department).where(Department.uscc == demo.uscc)):
            continue
        dept = Department(name=demo.name, uscc=demo.uscc, division_code=demo.division_code)
        session.add(dept)
        session.flush()
        session.add_all(DepartmentType(department_id=dept.id, type_code=c) for c in demo.type_codes)
        seal = make_seal_for(
            session,
            keystore=settings.keystore,
            passphrase=passphrase,
            department=dept,
            name=demo.seal_name,
            purpose=demo.seal_purpose,
            kind=KIND_BUSINESS,
            type_codes=demo.type_codes,
            now=now,
            valid_until=now.replace(year=now.year + 5),
        )
        for code in demo.type_codes:
            publish_template(session, type_code=code, department_id=dept.id, seal_id=seal.id,
                             now=now)
        created.append(f"{demo.name} ({demo.uscc}) with seal {seal.es_id}")
    return created

