"""Reconciliation (registry.province.reconcile): drift between the registry and the platform
(missing, other status, other content, unexpected) found and repaired. SQLite and PostgreSQL
(conftest's ``db_url``)."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.license import lifecycle as lc
from registry.mockprovince.store import ReceivedLicense
from registry.province.reconcile import reconcile
from tests.support.province import (
    AT,
    Platform,
    licenses_ids,
    province_client,
    sync,
)


def test_reconcile_finds_and_repairs_missing_status_and_content_drift(
    reg: Settings, plat: Platform
) -> None:
    engine = make_engine(reg.database_url)
    client = province_client(plat.http)
    ids = licenses_ids(engine)
    with session_scope(engine) as s:
        changed = lc.change(s, reg, ids[5], changes={"KZ_FDDBR": "钱七"}, at=AT, actor="t")
    sync(reg, client)
    with Session(engine) as s:
        clean = reconcile(s, client, at=AT)
    assert clean.in_sync and clean.counts["matched"] == 7 and clean.repaired == {}
    t = ReceivedLicense
    with session_scope(plat.engine) as p:
        p.execute(delete(t).where(t.identifier == ids[0]))
        p.execute(update(t).where(t.identifier == ids[1]).values(status="CANCELLED"))
        p.execute(update(t).where(t.identifier == ids[2]).values(content_sha256="0" * 64))
        p.execute(update(t).where(t.identifier == ids[5]).values(status="VALID"))  # un-superseded
        stray = ids[3][:-5] + "X.001.0"
        p.execute(update(t).where(t.identifier == ids[3]).values(identifier=stray))
    with Session(engine) as s:
        found = reconcile(s, client, repair=False, at=AT)
    assert not found.in_sync
    kinds = sorted((d.kind, d.identifier) for d in found.drift)
    assert kinds == sorted([("missing", ids[0]), ("status", ids[1]), ("different", ids[2]),
                            ("missing", ids[3]), ("unexpected", stray),
                            ("status", ids[5])])  # fmt: skip
    assert found.counts["matched"] == 2 and found.repaired == {}
    with Session(engine) as s:
        fixed = reconcile(s, client, at=AT)
    assert fixed.repaired.get("REJECTED", 0) == 0 and fixed.repaired.get("unsettled", 0) == 0
    with Session(engine) as s:
        after = reconcile(s, client, repair=False, at=AT)
    assert after.counts == {"registry": 7, "platform": 8, "matched": 7, "missing": 0,
                            "different": 0, "status": 0, "unexpected": 1}  # fmt: skip
    assert plat.stored(changed.identifier)["status"] == "VALID"  # type: ignore[index]
    assert plat.stored(ids[5])["status"] == "SUPERSEDED"  # type: ignore[index]
    engine.dispose()
