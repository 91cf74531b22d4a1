"""Sealed licenses for tests, made through the library's own issuing path (no batch)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.bench.synthetic import pushed_business_license
from registry.city.demo import MARKET
from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.db.models import Department
from registry.license.issue import issue_rows, issuing
from registry.license.model import JudgedRow
from registry.license.types import catalogue
from registry.seal.queries import SealMaterial, sealing_context

BIZ = "11100000MB0143028R001"
RARE = ("𠮷", "堃", "㵘", "龘")


def seal_rows(session: Session, settings: Settings, rows: Sequence[Mapping[str, str]], *,
              at: dt.datetime, type_code: str = BIZ, department_uscc: str = MARKET.uscc) -> int:
    """Seal ``rows`` (accepted elements by code) as the department's licenses; issued count."""
    dept = session.scalars(select(Department).where(Department.uscc == department_uscc)).one()
    target, seal = issuing(session, department=dept, license_type=catalogue()[type_code],
                           at=at)
    sealing = sealing_context(SealMaterial.of(seal, keystore=settings.keystore,
                                              passphrase=settings.require_passphrase()))
    judged = [JudgedRow.accepted(line, row) for line, row in enumerate(rows, start=1)]
    return issue_rows(session, judged, target, sealing, at=at).issued


def seal_synthetic(settings: Settings, n: int, *, at: dt.datetime, start: int = 0,
                   valid_to: str = "20360512", chunk: int = 5000) -> int:
    """Seal ``n`` test 营业执照 numbered from ``start`` in the registry of ``settings``."""
    engine = make_engine(settings.database_url)
    for first in range(start, start + n, chunk):
        rows = [pushed_business_license(i, valid_to=valid_to)
                for i in range(first, min(start + n, first + chunk))]
        with session_scope(engine) as session:
            seal_rows(session, settings, rows, at=at)
    engine.dispose()
    return n
