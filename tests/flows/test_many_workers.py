"""Many machines, shown on one: PostgreSQL under both the registry and the Prefect server, two
process workers on one pool, the same work handed to both at once.

Every file dropped in the inboxes becomes exactly one batch; a file sent to the ingest
deployment twice at once is ingested once (the other run finds the batch busy or done); a file
sent to the Dask deployment is sealed by the Dask cluster's workers; every license event reaches
the province exactly once; both workers take runs.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from distributed import LocalCluster
from sqlalchemy import func, select, text

from registry.city.demo import HEALTH, MARKET, create_demo_world, init_registry
from registry.config import DEFAULT_ACCESS_ID, DEFAULT_TOKEN, Settings
from registry.db import make_engine, session_scope
from registry.db.models import Batch, License, OutboxEvent, SourceRow
from registry.mockprovince.process import start_endpoint
from registry.seal.pki import load_root_cert
from tests import conftest
from tests.conftest import FIXTURES, NOW, PASSPHRASE, PG_ADMIN_URL, REPO
from tests.support.batches import BIZ, row, write_csv
from tests.support.prefect import (
    create_work_pool,
    deploy_all,
    flow_run_messages,
    prefect_server,
    prefect_worker,
    run_deployment,
    wait_for_flow_runs,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.deployments]

FOOD = "11100000MB0143028R002"
DOCTOR = "11100000MB15645531001"
INBOX_FILES = (("business-licenses.csv", MARKET.uscc, BIZ),
               ("food-permits.csv", MARKET.uscc, FOOD),
               ("physicians.csv", HEALTH.uscc, DOCTOR))


@pytest.fixture
def pg_databases() -> Iterator[tuple[str, str]]:
    """Two fresh PostgreSQL databases: the registry's (psycopg) and the Prefect server's
    (asyncpg)."""
    if conftest._PG_PROBLEM:
        if os.environ.get("LICREG_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL required but unreachable: {conftest._PG_PROBLEM}")
        pytest.skip(f"PostgreSQL unreachable: {conftest._PG_PROBLEM}")
    names = [f"licreg_{kind}_{uuid.uuid4().hex[:10]}" for kind in ("registry", "prefect")]
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield (f"{base}/{names[0]}",
               f"{base.replace('+psycopg', '+asyncpg')}/{names[1]}")
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_two_workers_on_postgresql_process_each_batch_and_event_once(
        pg_databases: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry_url, prefect_url = pg_databases
    home = tmp_path / "var"
    env = {**os.environ, "LICREG_HOME": str(home), "LICREG_DATABASE_URL": registry_url,
           "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode(), "LICREG_REPO": str(REPO),
           "PREFECT_HOME": str(tmp_path / "client")}
    settings = Settings(home=home, database_url=registry_url, passphrase=PASSPHRASE)
    engine = make_engine(registry_url)
    init_registry(engine)
    with session_scope(engine) as session:
        create_demo_world(session, settings, now=NOW.replace(month=1))
    anchors = home / "root.pem"
    anchors.write_bytes(load_root_cert(settings.keystore).public_bytes(Encoding.PEM))
    for name, dept, type_code in INBOX_FILES:
        (home / "inbox" / dept / type_code).mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / "batches" / name, home / "inbox" / dept / type_code / name)
    stock = write_csv(tmp_path / "stock.csv", *(row(i) for i in range(100, 400)))
    more = write_csv(tmp_path / "more.csv", *(row(i) for i in range(400, 600)))

    with start_endpoint(home=tmp_path / "province", anchors_path=anchors,
                        tokens={DEFAULT_ACCESS_ID: DEFAULT_TOKEN}) as province, \
            prefect_server(tmp_path / "prefect", database_url=prefect_url, cwd=REPO) as api:
        env["LICREG_PROVINCE_URL"] = province
        create_work_pool(api, "licenses", env)
        deploy_all(api, env)
        workers = {**env, "PREFECT_LOGGING_LEVEL": "INFO"}  # their logs say which runs they took
        # Dask workers are processes started here: they take the passphrase from this environment.
        monkeypatch.setenv("LICREG_KEY_PASSPHRASE", PASSPHRASE.decode())
        with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0",
                          local_directory=str(tmp_path / "dask")) as dask, \
                prefect_worker(api, "licenses", "w1", {**workers, "LICREG_DASK_ADDRESS":
                               dask.scheduler_address}, limit=2, log=tmp_path / "w1.log"), \
                prefect_worker(api, "licenses", "w2", {**workers, "LICREG_DASK_ADDRESS":
                               dask.scheduler_address}, limit=2, log=tmp_path / "w2.log"):
            ingest = {"path": str(stock), "department": MARKET.uscc, "type_code": BIZ,
                      "chunk_rows": 50}
            runs = [run_deployment(api, "ingest-inbox/inbox", {"settle": 0}),
                    run_deployment(api, "ingest-inbox/inbox", {"settle": 0}),
                    run_deployment(api, "ingest-and-seal/ingest", ingest),
                    run_deployment(api, "ingest-and-seal/ingest", ingest),
                    run_deployment(api, "ingest-and-seal-dask/ingest-dask",
                                   {**ingest, "path": str(more)})]
            _all_completed(api, runs)
            syncs = [run_deployment(api, "incremental-sync/incremental") for _ in range(2)]
            _all_completed(api, syncs)
            stats = httpx.get(f"{province}/stats", params={"detail": True}, timeout=10).json()

    with session_scope(engine) as s:
        batches = s.execute(select(Batch.status, Batch.rows_read)).all()
        assert sorted(batches) == sorted([("done", 300), ("done", 200)]
                                         + [("done", _rows(n)) for n, _, _ in INBOX_FILES])
        assert s.scalar(select(func.count()).select_from(SourceRow)) == 500 + sum(
            _rows(n) for n, _, _ in INBOX_FILES)
        licenses = s.scalar(select(func.count()).select_from(License))
        events = s.scalar(select(func.count()).select_from(OutboxEvent))
        unacked = s.scalar(select(func.count()).select_from(OutboxEvent)
                           .where(OutboxEvent.acked_at.is_(None)))
    engine.dispose()
    assert licenses and events == licenses and unacked == 0
    # Each event went over the wire once: nothing resent, nothing refused, nothing duplicated.
    assert stats["licenses"] == licenses and stats["items_received"] == events
    assert stats["rejected_items"] == 0
    archived = sorted(p.name for p in (home / "archive").rglob("*.csv")
                      if not p.name.endswith(".rejects.csv"))
    assert archived == sorted(n for n, _, _ in INBOX_FILES)
    assert not [p for p in (home / "inbox").rglob("*") if p.is_file()]
    taken = {w: (tmp_path / f"{w}.log").read_text(errors="replace").lower()
             .count("submitting flow run") for w in ("w1", "w2")}
    assert all(n >= 1 for n in taken.values()), taken


def _rows(name: str) -> int:
    text = (FIXTURES / "batches" / name).read_text(encoding="utf-8-sig")
    return sum(1 for _ in csv.reader(io.StringIO(text))) - 1


def _all_completed(api: str, runs: list[str]) -> None:
    states = wait_for_flow_runs(api, runs, timeout=240)
    for run_id, state in states.items():
        assert state == "COMPLETED", flow_run_messages(api, run_id)
