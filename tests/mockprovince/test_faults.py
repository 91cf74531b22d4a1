"""Fault injection on the mock platform (registry.mockprovince.faults): the same seed draws the
same faults; 503 and 429 are retried with backoff, partial batches and repeated acks still
settle every item once, in process and against the real server's dropped connections and hung
requests.

Items are built from a real registry (demo world, licenses sealed as ingest seals them, then
lifecycle steps) exactly as the sync builds them (:class:`tests.support.province.World`).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from registry.errors import AggregationError
from registry.mockprovince.faults import FaultInjector, Faults
from registry.mockprovince.process import start_endpoint
from registry.province.wire import AckResult
from tests.support.province import TOKENS, World, platform, province_client


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("aggregation-world"))


def test_the_same_seed_draws_the_same_faults() -> None:
    faults = Faults(error_rate=0.3, partial_rate=0.3, duplicate_ack_rate=0.3, seed=11)
    a, b = FaultInjector(faults), FaultInjector(faults)
    plans = [a.plan(items=10) for _ in range(40)]
    assert plans == [b.plan(items=10) for _ in range(40)]
    assert {p.error for p in plans} == {True, False}
    assert any(p.keep is not None for p in plans) and any(p.duplicate_acks for p in plans)
    assert Faults.parse(["error_rate=0.1", "seed=3"]) == Faults(error_rate=0.1, seed=3)
    with pytest.raises(Exception, match="unknown fault setting"):
        Faults.parse(["eror_rate=0.1"])


def test_503_and_429_are_retried_with_backoff_and_retry_after(world: World) -> None:
    for faults, expect in ((Faults(error_rate=1.0), [0.2, 0.4, 0.8]),
                           (Faults(rate_limit_rate=1.0, retry_after=2), [2.0, 2.0, 2.0])):
        gen = platform(world.settings, faults=faults)
        plat = next(gen)
        sleeps: list[float] = []
        with pytest.raises(AggregationError, match="after 4 attempts"):
            province_client(plat.http, sleeps).deliver([world.items[0]], blobs=world.blobs)
        assert sleeps == expect
        assert plat.stats()["licenses"] == 0
        gen.close()


def test_partial_batches_and_repeated_acks_still_settle_every_item_once(world: World) -> None:
    faults = Faults(partial_rate=0.7, duplicate_ack_rate=0.7, error_rate=0.2, seed=0)
    gen = platform(world.settings, faults=faults)
    plat = next(gen)
    delivery = province_client(plat.http, max_attempts=12).deliver(world.items,
                                                                   blobs=world.blobs)
    assert delivery.missing == ()
    assert len(delivery.acks) == len(world.items)
    # seed 0: five partial answers, 8 repeated acks and a 503 before every item settled
    assert (delivery.requests, delivery.duplicate_acks, len(delivery.failures)) == (6, 8, 1)
    assert all(a.ok for a in delivery.acks.values())
    for i, ack in delivery.acks.items():
        assert (ack.identifier, ack.seq) == (world.items[i]["ZZBS"], world.items[i]["eventSeq"])
    stats = plat.stats()
    assert stats["licenses"] == 6
    assert stats["by_status"] == {"CANCELLED": 1, "SUPERSEDED": 1, "SUSPENDED": 1, "VALID": 3}
    gen.close()


@pytest.mark.slow
def test_dropped_connections_and_hung_requests_against_the_real_server(
    world: World, tmp_path: Path
) -> None:
    """The platform stores, then drops the connection (or answers too late): the resend is
    DUPLICATE, nothing is stored twice."""
    anchors = tmp_path / "root.pem"
    from cryptography.hazmat.primitives.serialization import Encoding

    from registry.seal.pki import load_root_cert

    anchors.write_bytes(load_root_cert(world.settings.keystore).public_bytes(Encoding.PEM))
    faults = ["reset_rate=0.5", "hang_rate=0.3", "hang_seconds=1.5", "seed=3"]
    timeout = httpx.Timeout(0.8, connect=5.0)
    with start_endpoint(home=tmp_path / "p", anchors_path=anchors, tokens=TOKENS,
                        faults=faults) as url, \
            httpx.Client(base_url=url, timeout=timeout) as http:  # fmt: skip
        client = province_client(http, max_attempts=10)
        failures: list[str] = []
        results: list[AckResult] = []
        for item in world.items:
            delivery = client.deliver([item], blobs=world.blobs)
            assert delivery.missing == (), delivery
            failures.extend(delivery.failures)
            results.extend(a.result for a in delivery.acks.values())
        stats = http.get("/stats", params={"detail": "true"}).json()
    assert any(f.startswith("RemoteProtocolError") for f in failures), failures
    assert any(f.startswith("ReadTimeout") for f in failures), failures
    # every item settled; what a dropped answer had stored came back DUPLICATE on the resend
    assert len(results) == len(world.items)
    assert AckResult.DUPLICATE in results
    assert (stats["licenses"], stats["held"]) == (6, 0)
    assert stats["by_status"] == {"CANCELLED": 1, "SUPERSEDED": 1, "SUSPENDED": 1, "VALID": 3}
    log = (tmp_path / "p" / "server.log").read_text()
    assert "connection reset after processing" in log
