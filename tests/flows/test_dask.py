"""The Dask variant of the ingest flow gives the registry the default runner gives.

A local Dask cluster (two worker processes, as `dask worker --nworkers 2` would start) seals
and stores the chunks; the same file ingested with the default runner into a second registry
must give the same licenses, rows, events and log, and every license must verify.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from registry.city.demo import MARKET
from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.db.models import Batch, License, OutboxEvent, SourceRow
from registry.seal.pki import load_root_cert
from registry.tlog.checkpoint import sign_checkpoint
from registry.tlog.models import LogLeaf
from registry.verify.registry_audit import audit_registry
from tests.conftest import PASSPHRASE, demo_registry
from tests.support.batches import BIZ, row, write_csv

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def _contents(settings: Settings) -> dict[str, Any]:
    """What the registry holds, without what differs by nature between two registries (keys,
    signatures, times, database ids)."""
    engine = make_engine(settings.database_url)
    with session_scope(engine) as s:
        contents = {
            "licenses": sorted(s.execute(select(
                License.identifier, License.number, License.version, License.status,
                License.holder_code)).all()),
            "rows": sorted(s.execute(select(SourceRow.line, SourceRow.outcome,
                                            SourceRow.identifier, SourceRow.raw)).all(),
                           key=lambda r: r[0]),
            "batch": s.execute(select(Batch.status, Batch.rows_read, Batch.accepted,
                                      Batch.filtered, Batch.rejected, Batch.issued)).one(),
            "events": sorted(s.execute(select(License.identifier, OutboxEvent.operate_type)
                                       .join(License, License.id == OutboxEvent.license_id))
                             .all()),
            "leaves": sorted(s.scalars(select(LogLeaf.identifier)).all()),
        }
    engine.dispose()
    return contents


@pytest.fixture
def dask_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    from distributed import LocalCluster

    # Workers are processes started now: they inherit the passphrase from this environment.
    monkeypatch.setenv("LICREG_KEY_PASSPHRASE", PASSPHRASE.decode())
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      local_directory=str(tmp_path / "dask")) as cluster:
        yield cluster.scheduler_address


def test_dask_runner_gives_the_same_registry_as_the_default_runner(
        harness: None, dask_cluster: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect_dask import DaskTaskRunner

    from flows.ingest import ingest_and_seal, ingest_and_seal_dask

    batch = write_csv(tmp_path / "stock.csv", *(row(i) for i in range(1, 121)),
                      row(121, end="2020-01-01"), row(122, code="91330100MA0000000X"))

    here = demo_registry(tmp_path / "default", monkeypatch)
    default = asyncio.run(ingest_and_seal(str(batch), MARKET.uscc, BIZ, chunk_rows=25))

    on_dask = demo_registry(tmp_path / "dask", monkeypatch)
    flow = ingest_and_seal_dask.with_options(task_runner=DaskTaskRunner(address=dask_cluster))
    distributed = asyncio.run(flow(str(batch), MARKET.uscc, BIZ, chunk_rows=25))

    keys = ("status", "rows_read", "accepted", "filtered", "rejected", "issued")
    assert {k: distributed[k] for k in keys} == {k: default[k] for k in keys}
    assert (distributed["rows_read"], distributed["accepted"]) == (122, 120)
    assert _contents(on_dask) == _contents(here)

    # An auditor checks every license of the Dask-built registry against a signed checkpoint.
    engine = make_engine(on_dask.database_url)
    now = dt.datetime.now(dt.UTC)
    with session_scope(engine) as session:
        sign_checkpoint(session, keystore=on_dask.keystore, passphrase=PASSPHRASE, now=now)
    audit = audit_registry(engine, anchors=[load_root_cert(on_dask.keystore)],
                           at=now + dt.timedelta(minutes=1), crls=())
    engine.dispose()
    assert audit.licenses == 120
    assert {r.indication for r in audit.reports} == {"PASSED"}


def test_the_dask_flow_uses_the_cluster_the_environment_names(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.ingest import dask_runner

    monkeypatch.setenv("LICREG_DASK_ADDRESS", "tcp://scheduler.example:8786")
    assert dask_runner().address == "tcp://scheduler.example:8786"
    monkeypatch.delenv("LICREG_DASK_ADDRESS")
    local = dask_runner()
    assert local.address is None and local.cluster_kwargs == {"n_workers": 2,
                                                              "threads_per_worker": 1}
