"""The full sync (registry.province.fullsync): paged, resumed from its checkpoint, started
afresh when done, and bringing a stale status up to date. SQLite and PostgreSQL (conftest's
``db_url``)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.db.models import OutboxEvent
from registry.license import lifecycle as lc
from registry.province.fullsync import full_sync
from tests.support.province import (
    AT,
    Platform,
    licenses_ids,
    province_client,
    report,
    sync,
)


def test_full_sync_pages_resumes_from_its_checkpoint_and_starts_afresh_when_done(
    reg: Settings, plat: Platform
) -> None:
    engine = make_engine(reg.database_url)
    client = province_client(plat.http)
    with Session(engine) as s:
        first = full_sync(s, client, batch_size=4, max_batches=1, at=AT)
    assert (first.pushed, first.position, first.total, first.finished) == (4, 4, 6, False)
    assert plat.stats()["licenses"] == 4
    with Session(engine) as s:
        rest = full_sync(s, client, batch_size=4, concurrency=2, at=AT)
    assert (rest.resumed_from, rest.pushed, rest.position, rest.finished) == (4, 2, 6, True)
    assert report(reg)["full_sync"]["finished_at"] is not None
    with Session(engine) as s:
        again = full_sync(s, client, batch_size=10, at=AT)
    assert (again.resumed_from, again.pushed, again.duplicates) == (0, 6, 6)
    # the incremental sync of the same events has nothing new to store
    assert sync(reg, client).duplicates == 6
    engine.dispose()


def test_full_sync_brings_a_stale_status_up_to_date(reg: Settings, plat: Platform) -> None:
    engine = make_engine(reg.database_url)
    client = province_client(plat.http)
    sync(reg, client)
    ident = licenses_ids(engine)[0]
    with session_scope(engine) as s:
        lc.suspend(s, ident, at=AT, actor="t")
        s.execute(update(OutboxEvent).where(OutboxEvent.operate_type == "03")
                  .values(acked_at=AT))  # "delivered" but lost on the way  # fmt: skip
    assert plat.stored(ident)["status"] == "VALID"  # type: ignore[index]
    with Session(engine) as s:
        summary = full_sync(s, client, at=AT, restart=True)
    assert (summary.accepted, summary.duplicates) == (1, 5)
    assert plat.stored(ident)["status"] == "SUSPENDED"  # type: ignore[index]
    engine.dispose()
