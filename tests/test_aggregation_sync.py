"""The registry's side of aggregation: incremental sync (dead letters, unsettled items, status
report, run bookkeeping), full sync (paged, resumable), reconciliation (drift found and
repaired) and the ``licreg sync`` commands. SQLite and PostgreSQL (conftest's ``db_url``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from registry.cli import cli
from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.db.models import License, OutboxEvent
from registry.errors import AggregationError
from registry.license import lifecycle as lc
from registry.mockprovince.faults import Faults
from registry.mockprovince.process import start_endpoint
from registry.mockprovince.store import ReceivedLicense
from registry.province.fullsync import full_sync
from registry.province.reconcile import reconcile
from registry.province.sync import push_pending, retry_dead, sync_report
from registry.province.syncstate import SyncRun
from registry.seal.pki import load_root_cert
from tests.conftest import PASSPHRASE
from tests.support.province import (
    NOW,
    TOKENS,
    Platform,
    events,
    make_registry,
    platform,
    province_client,
)

AT = NOW + dt.timedelta(hours=2)


@pytest.fixture
def reg(tmp_path: Path, db_url: str) -> Settings:
    """A registry with 6 sealed licenses (6 pending 新发 events)."""
    return make_registry(tmp_path / "registry", db_url, n=6)


@pytest.fixture
def plat(reg: Settings) -> Iterator[Platform]:
    yield from platform(reg)


def run(reg: Settings, client: Any, **options: Any) -> Any:
    engine = make_engine(reg.database_url)
    options.setdefault("at", AT)
    with Session(engine) as session:
        summary = push_pending(session, client, **options)
    engine.dispose()
    return summary


def tamper(reg: Settings, license_id: int) -> None:
    """Edit a stored record after sealing: the platform must refuse it (HASH_FAILURE)."""
    engine = make_engine(reg.database_url)
    with session_scope(engine) as s:
        lic = s.get_one(License, license_id)
        lic.record = lic.record.replace("示范市".encode(), "伪造市".encode(), 1)
    engine.dispose()


def report(reg: Settings, at: dt.datetime = AT) -> dict[str, Any]:
    engine = make_engine(reg.database_url)
    with Session(engine) as s:
        found = sync_report(s, at=at).to_dict()
    engine.dispose()
    return found


# -- incremental ------------------------------------------------------------------------------


def test_rejected_events_become_dead_letters_after_max_attempts_and_can_be_retried(
    reg: Settings, plat: Platform
) -> None:
    tamper(reg, 2)
    client = province_client(plat.http)
    first = run(reg, client, batch_size=4, max_attempts=2)
    assert (first.sent, first.accepted, first.rejected, first.dead) == (6, 5, 1, 0)
    assert first.batches == 2
    assert first.reasons == {"HASH_FAILURE": 1}
    second = run(reg, client, max_attempts=2)
    assert (second.sent, second.rejected, second.dead) == (1, 1, 1)
    status = report(reg)
    assert (status["pending"], status["dead"], status["acked"]) == (0, 1, 5)
    assert status["dead_reasons"] == {"HASH_FAILURE": 1}
    assert run(reg, client).sent == 0  # dead letters wait for a person
    engine = make_engine(reg.database_url)
    with session_scope(engine) as s:
        assert retry_dead(s, at=AT) == 1
    engine.dispose()
    assert (report(reg)["pending"], report(reg)["dead"]) == (1, 0)
    event = next(e for e in events(make_engine(reg.database_url)) if e.license_id == 2)
    assert (event.attempts, event.last_error) == (0, event.last_error)
    assert event.last_error is not None and event.last_error.startswith("HASH_FAILURE: ")


def test_items_without_a_clear_answer_stay_pending_uncharged(
    reg: Settings, plat: Platform
) -> None:
    gen = platform(reg, faults=Faults(partial_rate=1.0, seed=1))
    partial = next(gen)
    summary = run(reg, province_client(partial.http, max_attempts=1), batch_size=6)
    assert summary.unsettled == 6 - summary.accepted
    assert summary.unsettled > 0 and summary.rejected == 0
    engine = make_engine(reg.database_url)
    pending = [e for e in events(engine) if e.acked_at is None]
    assert len(pending) == summary.unsettled
    assert all(e.attempts == 0 and e.dead_at is None for e in pending)
    gen.close()


def test_report_shows_lag_in_flight_and_the_runs(reg: Settings, plat: Platform) -> None:
    seen: list[dict[str, Any]] = []

    def look(step: str) -> None:
        if step == "sent" and not seen:
            seen.append(report(reg))

    before = report(reg, at=NOW + dt.timedelta(minutes=30))
    assert (before["pending"], before["in_flight"], before["lag_seconds"]) == (6, 0, 1800.0)
    summary = run(reg, province_client(plat.http), batch_size=2, concurrency=2, on_step=look)
    assert summary.accepted == 6
    (during,) = seen
    assert during["in_flight"] == 4  # two batches of two in flight
    assert [r["kind"] for r in during["running"]] == ["incremental"]
    after = report(reg)
    assert (after["pending"], after["in_flight"], after["lag_seconds"]) == (0, 0, 0.0)
    assert after["last_run"]["state"] == "done"
    assert after["last_run"]["summary"]["accepted"] == 6


def test_a_live_sync_keeps_a_second_one_out_on_sqlite(reg: Settings, plat: Platform) -> None:
    engine = make_engine(reg.database_url)
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL workers run side by side, kept apart by row locks")
    with session_scope(engine) as s:
        s.add(SyncRun(kind="incremental", host=socket.gethostname(), pid=os.getpid(),
                      started_at=AT, heartbeat_at=AT, in_flight=3, state="running"))
    with pytest.raises(AggregationError, match="another incremental sync is running"):
        run(reg, province_client(plat.http))
    with session_scope(engine) as s:  # that process died: its run is closed, the next one goes
        s.execute(update(SyncRun).values(pid=2**22 + 17))
    assert run(reg, province_client(plat.http)).accepted == 6
    with Session(engine) as s:
        states = [(r.state, r.error) for r in s.scalars(select(SyncRun).order_by(SyncRun.id))]
    assert states[0] == ("failed", "the process ended without finishing the run")
    engine.dispose()


def test_lifecycle_events_reach_the_platform_with_their_own_status(
    reg: Settings, plat: Platform
) -> None:
    engine = make_engine(reg.database_url)
    with Session(engine) as s:
        ids = list(s.scalars(select(License.identifier).order_by(License.id)))
    with session_scope(engine) as s:
        lc.revoke(s, ids[0], at=AT, actor="t")
        lc.withdraw(s, ids[1], at=AT, actor="t")
        lc.transfer_out(s, ids[2], at=AT, actor="t")
        renewed = lc.renew(s, reg, ids[3], valid_to="20460512", at=AT, actor="t")
    run(reg, province_client(plat.http), batch_size=3)
    stored = {i: plat.stored(i) for i in (*ids[:4], renewed.identifier)}
    assert [(stored[i]["status"], stored[i]["certState"]) for i in ids[:4]] == [  # type: ignore[index]
        ("REVOKED", "03"), ("WITHDRAWN", "07"), ("TRANSFERRED_OUT", "06"), ("SUPERSEDED", "01")]
    new = stored[renewed.identifier]
    assert new is not None
    assert (new["operateType"], new["associatedZZBS"], new["status"]) == ("02", ids[3], "VALID")
    engine.dispose()


# -- full sync ---------------------------------------------------------------------------------


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
    assert run(reg, client).duplicates == 6
    engine.dispose()


def test_full_sync_brings_a_stale_status_up_to_date(reg: Settings, plat: Platform) -> None:
    engine = make_engine(reg.database_url)
    client = province_client(plat.http)
    run(reg, client)
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


def licenses_ids(engine: Any) -> list[str]:
    with Session(engine) as s:
        return list(s.scalars(select(License.identifier).order_by(License.id)))


# -- reconciliation ---------------------------------------------------------------------------


def test_reconcile_finds_and_repairs_missing_status_and_content_drift(
    reg: Settings, plat: Platform
) -> None:
    engine = make_engine(reg.database_url)
    client = province_client(plat.http)
    ids = licenses_ids(engine)
    with session_scope(engine) as s:
        changed = lc.change(s, reg, ids[5], changes={"KZ_FDDBR": "钱七"}, at=AT, actor="t")
    run(reg, client)
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


# -- the commands, against the real endpoint ----------------------------------------------------


def cli_run(reg: Settings, *args: str, **env: str) -> tuple[int, str]:
    environ = {"LICREG_HOME": str(reg.home), "LICREG_DATABASE_URL": reg.database_url,
               "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode(), **env}  # fmt: skip
    result = CliRunner().invoke(cli, list(args), env=environ)
    return result.exit_code, result.output


@pytest.mark.slow
def test_sync_commands_with_hmac_against_the_real_endpoint(reg: Settings, tmp_path: Path) -> None:
    anchors = tmp_path / "root.pem"
    anchors.write_bytes(load_root_cert(reg.keystore).public_bytes(Encoding.PEM))
    keys = {"other": "TEST-ONLY-hmac-key"}
    with start_endpoint(home=tmp_path / "province", anchors_path=anchors, tokens=TOKENS,
                        hmac_keys=keys) as url:  # fmt: skip
        auth = ("--endpoint", url, "--access-id", "other", "--token", keys["other"], "--auth",
                "hmac")  # fmt: skip
        code, out = cli_run(reg, "sync", "status")
        assert code == 0 and out.startswith("pending 6 (failing 0), in flight 0, dead 0, "
                                            "acknowledged 0\n")  # fmt: skip
        code, out = cli_run(reg, "sync", "run", *auth, "--batch-size", "4")
        assert (code, out) == (0, "sent 6: accepted 6, duplicates 0, held 0, rejected 0 in 2 "
                                  "batch(es)\n")  # fmt: skip
        code, out = cli_run(reg, "sync", "full", *auth, "--json")
        assert code == 0 and json.loads(out)["duplicates"] == 6
        code, out = cli_run(reg, "sync", "reconcile", *auth)
        assert code == 0 and out.startswith("registry 6 versions, platform 6: matched 6, "
                                            "missing 0")  # fmt: skip
        ident = licenses_ids(make_engine(reg.database_url))[0]
        assert cli_run(reg, "license", "suspend", ident)[0] == 0
        code, out = cli_run(reg, "sync", "run", "--endpoint", url, "--token", "wrong")
        assert code == 1 and "refused accessId" in out
        code, out = cli_run(reg, "sync", "status", "--json")
        status = json.loads(out)
        assert (status["pending"], status["acked"], status["last_run"]["state"]) == (1, 6,
                                                                                       "failed")
        code, out = cli_run(reg, "push", "--endpoint", url, "--token", TOKENS["city"],
                            "--access-id", "city", "--json")  # fmt: skip
        assert code == 0 and json.loads(out)["accepted"] == 1
    code, out = cli_run(reg, "sync", "retry")
    assert (code, out) == (0, "revived 0 dead letter(s); they go out with the next `licreg sync "
                              "run`\n")  # fmt: skip
