"""The Prefect flows, run for real under one session-scoped harness (PREFECT.md §9.10).

Everything else in the suite calls the library directly; these tests only prove the flows
orchestrate it: chunked tasks, idempotent re-runs, the push loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from registry.city.demo import MARKET
from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.db.models import License, OutboxEvent
from tests.conftest import FIXTURES

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
BIZ = "11100000MB0143028R001"


def test_ingest_then_push_flows(harness: None, demo_env: Settings, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    from flows.ingest import ingest_and_seal
    from flows.sync import incremental_sync
    from registry.config import DEFAULT_ACCESS_ID, DEFAULT_TOKEN
    from registry.mockprovince.process import start_endpoint
    from registry.seal.pki import load_root_cert

    csv = str(FIXTURES / "batches" / "business-licenses.csv")
    report = asyncio.run(ingest_and_seal(csv, MARKET.uscc, BIZ, chunk_rows=10))
    assert report["status"] == "done"
    assert report["rows_read"] == report["accepted"] + report["filtered"] + report["rejected"]
    assert asyncio.run(ingest_and_seal(csv, MARKET.uscc, BIZ))["already_ingested"] is True

    engine = make_engine(demo_env.database_url)
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(License)) == report["accepted"]

    anchors = tmp_path / "root.pem"
    anchors.write_bytes(load_root_cert(demo_env.keystore).public_bytes(Encoding.PEM))
    with start_endpoint(home=tmp_path / "province", anchors_path=anchors,
                        tokens={DEFAULT_ACCESS_ID: DEFAULT_TOKEN}) as url:
        monkeypatch.setenv("LICREG_PROVINCE_URL", url)
        totals = incremental_sync(batch_size=7, batches_per_task=2)
        assert totals["accepted"] == report["accepted"] and totals["rejected"] == 0
        assert totals["batches"] >= 2  # several tasks ran, each a few HTTP batches
        assert httpx.get(f"{url}/stats").json()["licenses"] == report["accepted"]
        assert incremental_sync()["sent"] == 0
    with session_scope(engine) as s:
        pending = s.scalar(select(func.count()).select_from(OutboxEvent)
                           .where(OutboxEvent.acked_at.is_(None)))
    assert pending == 0
