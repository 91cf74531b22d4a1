"""The scheduled aggregation flows (flows/sync.py), run for real under a Prefect test harness:
incremental sync, expiry sweep (expire, then push the 04 events), full sync, reconciliation.

Everything else in the aggregation suite calls the library directly; this only proves the
flows string the library calls together in chunk-sized tasks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from registry.config import Settings
from registry.db import make_engine
from registry.mockprovince.process import start_endpoint
from registry.seal.pki import load_root_cert
from tests.conftest import PASSPHRASE
from tests.support.province import NOW, TOKENS, make_registry

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Settings, str]]:
    from tests.support.licenses import seal_synthetic

    settings = make_registry(tmp_path / "var", n=5)
    seal_synthetic(settings, 3, at=NOW, start=100, valid_to="20200101")  # long past its end
    anchors = tmp_path / "root.pem"
    anchors.write_bytes(load_root_cert(settings.keystore).public_bytes(Encoding.PEM))
    with start_endpoint(home=tmp_path / "province", anchors_path=anchors, tokens=TOKENS) as url:
        for name, value in {"LICREG_HOME": str(settings.home),
                            "LICREG_DATABASE_URL": settings.database_url,
                            "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode(),
                            "LICREG_PROVINCE_URL": url, "LICREG_PROVINCE_ACCESS_ID": "city",
                            "LICREG_PROVINCE_TOKEN": TOKENS["city"]}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        yield settings, url


def test_sync_flows_push_sweep_and_reconcile(harness: None, registry: tuple[Settings, str]) -> None:
    from flows.sync import expiry_sweep, full_sync_flow, incremental_sync, reconcile_flow

    settings, url = registry
    totals = incremental_sync(batch_size=3, batches_per_task=2)
    assert (totals["accepted"], totals["rejected"]) == (8, 0)
    assert totals["batches"] == 3  # two tasks: two batches, then the last one
    assert incremental_sync()["sent"] == 0

    swept = expiry_sweep(today="2026-11-27", limit=2)
    assert (swept["expired"], swept["pushed"]["accepted"]) == (3, 3)
    stats = httpx.get(f"{url}/stats", timeout=10).json()
    assert stats["by_status"] == {"EXPIRED": 3, "VALID": 5}

    full = full_sync_flow(batch_size=3, pages_per_task=1)
    assert (full["finished"], full["resumed_from"] > 0, full["duplicates"]) == (True, True, 2)

    report = reconcile_flow()
    assert report["in_sync"] and report["counts"]["matched"] == 8
    make_engine(settings.database_url).dispose()
