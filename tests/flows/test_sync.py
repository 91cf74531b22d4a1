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
from tests.flows.runs import newest_artifact, recorded_state, table, tamper
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

    full = full_sync_flow(batch_size=3, pages_per_task=1)  # three tasks of one page each
    assert (full["finished"], full["batches"], full["duplicates"]) == (True, 3, 8)

    report = reconcile_flow()
    assert report["in_sync"] and report["counts"]["matched"] == 8
    make_engine(settings.database_url).dispose()


def test_a_push_the_province_refuses_is_a_failed_flow_run(
        harness: None, registry: tuple[Settings, str]) -> None:
    from flows.outcome import summary
    from flows.sync import full_sync_flow, incremental_sync

    settings, _url = registry
    tamper(settings, 2)
    state = incremental_sync(return_state=True)
    recorded = recorded_state(state)
    assert state.is_failed() and recorded.is_failed()
    assert recorded.message == ("incremental sync: the province refused 1 events "
                                "(HASH_FAILURE 1), 0 became dead letters")
    totals = summary(state)
    assert (totals["accepted"], totals["rejected"], totals["reasons"]) == (
        7, 1, {"HASH_FAILURE": 1})
    rows = {r["what"]: r["n"] for r in table("incremental-sync")}
    assert (rows["accepted"], rows["rejected"], rows["reason HASH_FAILURE"]) == (7, 1, 1)
    assert newest_artifact("incremental-sync").description == recorded.message

    full = full_sync_flow(return_state=True)
    assert full.is_failed() and recorded_state(full).message == (
        "full sync: the province refused 1 licenses (HASH_FAILURE 1)")
    assert {r["what"]: r["n"] for r in table("full-sync")}["rejected"] == 1


def test_a_push_to_an_unreachable_province_is_a_failed_flow_run(
        harness: None, registry: tuple[Settings, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.sync
    from flows.outcome import summary
    from flows.sync import expiry_sweep
    from registry.mockprovince.process import free_port

    monkeypatch.setenv("LICREG_PROVINCE_URL", f"http://127.0.0.1:{free_port()}")  # nobody there
    # The task's own retries wait 5 s and 10 s: the client's retries are enough to show it.
    monkeypatch.setattr(flows.sync, "push_events_task",
                        flows.sync.push_events_task.with_options(retries=0))
    state = expiry_sweep(today="2026-11-27", return_state=True)  # 3 expire, then the push
    recorded = recorded_state(state)
    assert state.is_failed() and recorded.is_failed()
    assert recorded.message.startswith("incremental-sync: the push to the province stopped: ")
    assert newest_artifact("incremental-sync").description == recorded.message
    assert table("incremental-sync") == [{"what": f"failed: {recorded.message}", "n": None}]
    assert summary(state)["expired"] == 3  # the sweep's own work is done and kept


def test_a_reconcile_the_province_cannot_answer_is_a_failed_flow_run(
        harness: None, registry: tuple[Settings, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.sync
    from flows.sync import reconcile_flow
    from registry.mockprovince.process import free_port

    monkeypatch.setenv("LICREG_PROVINCE_URL", f"http://127.0.0.1:{free_port()}")  # nobody there
    monkeypatch.setattr(flows.sync, "reconcile_task",
                        flows.sync.reconcile_task.with_options(retries=0))
    state = reconcile_flow(return_state=True)
    recorded = recorded_state(state)
    assert state.is_failed() and recorded.is_failed()
    assert recorded.message.startswith("reconcile: the province could not be asked: ")
    assert newest_artifact("reconcile").description == recorded.message
