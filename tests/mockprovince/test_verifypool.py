"""Verifying pushed licenses in worker processes (registry.mockprovince.verifypool) gives the
verdicts the web process gives.

Items are built from a real registry (demo world, licenses sealed as ingest seals them, then
lifecycle steps) exactly as the sync builds them (:class:`tests.support.province.World`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from registry.license.canonical import canonical_bytes
from registry.province.wire import SignatureParts
from tests.support.province import NOW, World


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("aggregation-world"))


@pytest.mark.slow
def test_worker_processes_give_the_same_verdicts_as_the_web_process(world: World) -> None:
    from registry.mockprovince.verifypool import VerifyPool
    from registry.seal.pki import load_root_cert

    jobs: list[Any] = []
    for item in world.items[:4]:
        parts = SignatureParts.from_dict(item["signatureParts"])
        record = canonical_bytes(item["elements"])
        seal, cert = world.blobs[parts.seal_ref], world.blobs[parts.cert_ref]
        jobs.append((record, (seal, cert, parts.signed_at, parts.data_hash, parts.property_info,
                              parts.value), item["ZZBS"]))  # fmt: skip
        edited = record.replace("示范市".encode(), "伪造市".encode(), 1)
        jobs.append((edited, parts.der(world.blobs), item["ZZBS"]))  # the whole-DER path
    anchors = [load_root_cert(world.settings.keystore)]
    at = NOW + dt.timedelta(hours=1)
    local = VerifyPool(anchors=anchors, workers=0).verify(jobs, at=at)
    with VerifyPool(anchors=anchors, workers=1, chunk=3) as pool:
        remote = pool.verify(jobs, at=at)
    assert remote == local
    assert [(v.ok, v.code) for v in local[:2]] == [(True, "OK"), (False, "HASH_FAILURE")]
