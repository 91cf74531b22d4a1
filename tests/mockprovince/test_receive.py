"""The mock provincial platform: compact signatures, held events, event order, superseding,
repairs, credentials (token, bearer, HMAC), the sharing side and fault injection.

Items are built from a real registry (demo world, licenses sealed as ingest seals them, then
lifecycle steps) exactly as the sync builds them.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from registry.db import make_engine, session_scope
from registry.db.models import License
from registry.errors import AggregationError
from registry.license import lifecycle as lc
from registry.license.canonical import canonical_bytes
from registry.mockprovince.faults import FaultInjector, Faults
from registry.mockprovince.process import start_endpoint
from registry.province.auth import Credential
from registry.province.wire import (
    LICENSES_PATH,
    SHARE_CHECK_PATH,
    SHARE_LOG_PATH,
    SHARE_QUERY_PATH,
    AckResult,
    SignatureParts,
    blob_ref,
    build_request,
    content_digest,
)
from registry.seal.queries import SealMaterial, sealing_context
from tests.support.province import (
    NOW,
    TOKENS,
    Platform,
    items_for_events,
    make_registry,
    platform,
    province_client,
)

HOLDER = "91330102MAT9HT456F"
BIZ = "11100000MB0143028R001"


class World:
    """A registry whose outbox holds, in order: 01 × 5, then lic0 03 (suspend), lic1 09 (its
    v2), lic2 05 (cancel), lic3 03 + 06 (suspend, unsuspend)."""

    def __init__(self, home: Path) -> None:
        self.settings = make_registry(home, n=5)
        self.engine = make_engine(self.settings.database_url)
        with session_scope(self.engine) as s:
            ids = list(s.scalars(select(License.identifier).order_by(License.id)))
        at = NOW + dt.timedelta(minutes=5)
        with session_scope(self.engine) as s:
            lc.suspend(s, ids[0], at=at, actor="t")
            self.v2 = lc.change(s, self.settings, ids[1], changes={"KZ_FDDBR": "李四"}, at=at,
                                actor="t").identifier  # fmt: skip
            lc.cancel(s, ids[2], at=at, actor="t")
            lc.suspend(s, ids[3], at=at, actor="t")
            lc.unsuspend(s, ids[3], at=at, actor="t")
        self.ids = ids
        self.items, self.blobs = items_for_events(self.engine)

    def item(self, identifier: str, operate_type: str) -> dict[str, Any]:
        return copy.deepcopy(next(i for i in self.items
                                  if i["ZZBS"] == identifier and i["operateType"] == operate_type))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("aggregation-world"))


@pytest.fixture
def plat(world: World) -> Iterator[Platform]:
    yield from platform(world.settings)


def push(plat: Platform, world: World, *items: dict[str, Any], **head: Any) -> list[dict[str, Any]]:
    body = build_request(list(items), access_id="city", access_token=TOKENS["city"],
                         request_id="r", blobs=world.blobs)  # fmt: skip
    response = plat.http.post(LICENSES_PATH, json=body, **head)
    assert response.status_code == 200, response.text
    acks: list[dict[str, Any]] = response.json()["data"]["acks"]
    return acks


def whole_der(item: dict[str, Any], blobs: dict[str, bytes]) -> dict[str, Any]:
    full = copy.deepcopy(item)
    parts = SignatureParts.from_dict(full.pop("signatureParts"))
    full["signature"] = base64.b64encode(parts.der(blobs)).decode()
    return full


# -- the wire --------------------------------------------------------------------------------


def test_compact_and_whole_signature_are_one_item(plat: Platform, world: World) -> None:
    compact = world.item(world.ids[4], "01")
    (ack,) = push(plat, world, compact)
    assert (ack["result"], ack["eventSeq"]) == ("ACCEPTED", compact["eventSeq"])
    (again,) = push(plat, world, whole_der(compact, world.blobs))
    assert again["result"] == "DUPLICATE"
    stored = plat.stored(compact["ZZBS"])
    assert stored is not None
    parts = SignatureParts.from_dict(compact["signatureParts"])
    assert base64.b64decode(stored["signature"]) == parts.der(world.blobs)
    record = canonical_bytes(compact["elements"])
    assert content_digest(record, parts, None) == content_digest(record, parts.der(world.blobs),
                                                                 None)  # fmt: skip


def test_missing_or_forged_blob(plat: Platform, world: World) -> None:
    item = world.item(world.ids[4], "01")
    body = build_request([item], access_id="city", access_token=TOKENS["city"], request_id="r")
    (ack,) = plat.http.post(LICENSES_PATH, json=body).json()["data"]["acks"]
    assert (ack["result"], ack["code"]) == ("REJECTED", "SCHEMA")
    assert "not in data.blobs" in ack["message"]
    seal_ref = item["signatureParts"]["seal"]
    forged = {**world.blobs, seal_ref: world.blobs[seal_ref] + b"\x00"}
    body = build_request([item], access_id="city", access_token=TOKENS["city"], request_id="r",
                         blobs=forged)  # fmt: skip
    response = plat.http.post(LICENSES_PATH, json=body)
    assert response.status_code == 400
    assert "does not hash to its reference" in response.json()["head"]["message"]


# -- held events, order, superseding, repair -----------------------------------------------


def test_event_for_an_unknown_version_is_held_until_it_arrives(
    plat: Platform, world: World
) -> None:
    suspend = world.item(world.ids[0], "03")
    (ack,) = push(plat, world, suspend)
    assert (ack["result"], ack["code"]) == ("HELD", "UNKNOWN_BASE")
    assert plat.stored(world.ids[0]) is None
    assert plat.stats()["held"] == 1
    (base,) = push(plat, world, world.item(world.ids[0], "01"))
    assert base["result"] == "ACCEPTED"
    stored = plat.stored(world.ids[0])
    assert stored is not None
    assert (stored["status"], stored["operateType"], stored["eventSeq"]) == (
        "SUSPENDED", "03", suspend["eventSeq"])  # fmt: skip
    assert plat.stats()["held"] == 0


def test_a_platform_that_does_not_hold_rejects_until_the_base_arrives(world: World) -> None:
    gen = platform(world.settings, hold_unknown=False)
    plat = next(gen)
    suspend = world.item(world.ids[0], "03")
    (ack,) = push(plat, world, suspend)
    assert (ack["result"], ack["code"]) == ("REJECTED", "UNKNOWN_BASE")
    acks = push(plat, world, world.item(world.ids[0], "01"), suspend)
    assert [a["result"] for a in acks] == ["ACCEPTED", "ACCEPTED"]
    stored = plat.stored(world.ids[0])
    assert stored is not None and stored["status"] == "SUSPENDED"
    gen.close()


def test_an_older_event_never_overwrites_a_newer_one(plat: Platform, world: World) -> None:
    ident = world.ids[3]  # suspended, then unsuspended: VALID in the registry
    suspend, lift = world.item(ident, "03"), world.item(ident, "06")
    assert suspend["eventSeq"] < lift["eventSeq"]
    acks = push(plat, world, world.item(ident, "01"), lift, suspend)
    assert [a["result"] for a in acks] == ["ACCEPTED", "DUPLICATE", "DUPLICATE"]
    assert acks[2]["message"].startswith("stale: event")
    stored = plat.stored(ident)
    assert stored is not None
    assert (stored["status"], stored["eventSeq"]) == ("VALID", lift["eventSeq"])


def test_a_new_version_first_leaves_its_predecessor_superseded(
    plat: Platform, world: World
) -> None:
    new, old = world.item(world.v2, "09"), world.item(world.ids[1], "01")
    assert new["associatedZZBS"] == world.ids[1]
    assert [a["result"] for a in push(plat, world, new, old)] == ["ACCEPTED", "ACCEPTED"]
    assert [plat.stored(i)["status"] for i in (world.ids[1], world.v2)] == [  # type: ignore[index]
        "SUPERSEDED", "VALID"]  # fmt: skip
    assert plat.stats()["by_status"] == {"SUPERSEDED": 1, "VALID": 1}


def test_a_numbered_current_state_updates_the_status(plat: Platform, world: World) -> None:
    base = world.item(world.ids[2], "01")
    push(plat, world, base)
    state = {**base, "certState": "04", "eventSeq": base["eventSeq"] + 100}  # a full sync's
    (ack,) = push(plat, world, state)
    assert (ack["result"], ack["message"]) == ("ACCEPTED", "status changed from VALID to "
                                                           "CANCELLED")  # fmt: skip
    (replay,) = push(plat, world, base)  # the old 新发 again: stale
    assert replay["result"] == "DUPLICATE"
    assert plat.stored(world.ids[2])["status"] == "CANCELLED"  # type: ignore[index]


def _resealed(world: World, identifier: str, **changes: str) -> dict[str, Any]:
    """The same identifier sealed over other elements: valid, but other content."""
    from registry.db.models import Seal

    item = world.item(identifier, "01")
    elements = {**item["elements"], **changes}
    record = canonical_bytes(elements)
    digest = hashlib.sha256(record).digest()
    with session_scope(world.engine) as s:
        seal = s.get_one(Seal, s.scalars(select(License.seal_id).limit(1)).one())
        ctx = sealing_context(SealMaterial.of(
            seal, keystore=world.settings.keystore,
            passphrase=world.settings.require_passphrase()))
        signed_at = NOW.replace(microsecond=0)
        parts = SignatureParts(blob_ref(seal.seal_der), blob_ref(seal.cert_der), signed_at,
                               digest, identifier, ctx.sign(digest, signed_at, identifier))
    return {**item, "elements": elements, "signatureParts": parts.to_dict()}


def test_only_a_verified_repair_replaces_other_content(plat: Platform, world: World) -> None:
    ident = world.ids[4]
    push(plat, world, world.item(ident, "01"))
    other = _resealed(world, ident, CZZT="TEST ONLY 另一家公司")
    (conflict,) = push(plat, world, other)
    assert (conflict["result"], conflict["code"]) == ("REJECTED", "CONFLICT")
    forged = {**copy.deepcopy(other), "repair": True}
    forged["elements"]["CZZT"] = "TEST ONLY 伪造"
    (refused,) = push(plat, world, forged)
    assert (refused["result"], refused["code"]) == ("REJECTED", "HASH_FAILURE")
    (repaired,) = push(plat, world, {**other, "repair": True})
    assert (repaired["result"], repaired["message"]) == (
        "ACCEPTED", "verified; replaced other stored content")  # fmt: skip
    stored = plat.stored(ident)
    assert stored is not None and stored["elements"]["CZZT"] == "TEST ONLY 另一家公司"
    assert plat.stats()["licenses"] == 1


# -- credentials ----------------------------------------------------------------------------


def test_hmac_and_bearer_credentials(world: World, caplog: pytest.LogCaptureFixture) -> None:
    gen = platform(world.settings, credentials=[Credential("other", "TEST-ONLY-key", "hmac")])
    plat = next(gen)
    item = world.item(world.ids[4], "01")
    signer = province_client(plat.http, access_id="other", access_token="TEST-ONLY-key",
                             scheme="hmac")  # fmt: skip
    delivery = signer.deliver([item], blobs=world.blobs)
    assert [a.result for a in delivery.acks.values()] == [AckResult.ACCEPTED]
    wrong = province_client(plat.http, access_id="other", access_token="TEST-ONLY-nope",
                            scheme="hmac")  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="registry.mockprovince.server"), \
            pytest.raises(AggregationError, match="refused accessId 'other'"):  # fmt: skip
        wrong.deliver([item], blobs=world.blobs)
    assert "bad HMAC signature" in caplog.text
    # a token credential does not sign, and a signature never stands in for a token
    token_as_hmac = province_client(plat.http, access_id="city", access_token=TOKENS["city"],
                                    scheme="hmac")  # fmt: skip
    with pytest.raises(AggregationError, match="HTTP 401"):
        token_as_hmac.get_json("/api/v1/digests")
    stale = province_client(plat.http, access_id="other", access_token="TEST-ONLY-key",
                            scheme="hmac", clock=lambda: NOW.timestamp() - 3600)  # fmt: skip
    with pytest.raises(AggregationError, match="HTTP 401"):
        stale.get_json("/api/v1/digests")
    bearer = plat.http.get("/api/v1/digests", headers={
        "Authorization": f"Bearer {TOKENS['city']}", "X-Access-Id": "city"})  # fmt: skip
    assert bearer.status_code == 200 and len(bearer.json()["items"]) == 1
    assert plat.http.get("/api/v1/digests").status_code == 401
    assert plat.stats()["refused_requests"] == 4
    gen.close()


# -- sharing --------------------------------------------------------------------------------


def share(plat: Platform, path: str, body: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKENS['city']}", "X-Access-Id": "city"}
    return plat.http.post(path, content=json.dumps(body, ensure_ascii=False).encode(),
                          headers=headers)  # fmt: skip


def test_query_by_holder_needs_a_cause_and_returns_current_versions(
    plat: Platform, world: World
) -> None:
    push(plat, world, *world.items)
    assert share(plat, SHARE_QUERY_PATH, {"holderCode": HOLDER}).status_code == 400
    too_long = {"holderCode": HOLDER, "useCause": "办" * 201}
    assert "longer than 200" in share(plat, SHARE_QUERY_PATH, too_long).json()["detail"]
    answer = share(plat, SHARE_QUERY_PATH, {"holderCode": HOLDER, "typeCode": BIZ,
                                            "useCause": "办理经营许可"}).json()  # fmt: skip
    found = {lic["ZZBS"]: lic["status"] for lic in answer["licenses"]}
    assert world.ids[1] not in found  # superseded by its change
    assert found == {world.ids[0]: "SUSPENDED", world.v2: "VALID", world.ids[2]: "CANCELLED",
                     world.ids[3]: "VALID", world.ids[4]: "VALID"}  # fmt: skip
    empty = share(plat, SHARE_QUERY_PATH, {"holderCode": "X", "useCause": "查询"}).json()
    assert empty == {"licenses": []}
    assert plat.http.post(SHARE_QUERY_PATH, json={"holderCode": HOLDER, "useCause": "x"}
                          ).status_code == 401  # fmt: skip


def test_face_data_check_per_element_and_the_use_log(plat: Platform, world: World) -> None:
    push(plat, world, *world.items)
    v2 = world.item(world.v2, "09")["elements"]
    claimed = {"CZZT": v2["CZZT"], "KZ_FDDBR": "张三", "KZ_XYZ": "1"}
    result = share(plat, SHARE_CHECK_PATH, {"typeCode": BIZ, "ZZBH": v2["ZZBH"],
                                            "elements": claimed, "useCause": "核验营业执照"}
                   ).json()  # fmt: skip
    assert result == {"result": "MISMATCH", "ZZBS": world.v2, "status": "VALID",
                      "elements": {"CZZT": "MATCH", "KZ_FDDBR": "MISMATCH",
                                   "KZ_XYZ": "MISSING"}}  # fmt: skip
    ok = share(plat, SHARE_CHECK_PATH, {"ZZBS": world.v2, "elements": {"KZ_FDDBR": "李四"},
                                        "useCause": "核验"}).json()  # fmt: skip
    assert ok["result"] == "MATCH"
    nothing = share(plat, SHARE_CHECK_PATH, {"ZZBS": world.v2[:-1] + "0", "elements": claimed,
                                             "useCause": "核验"}).json()  # fmt: skip
    assert nothing["result"] == "NOT_FOUND"
    log = plat.http.get(SHARE_LOG_PATH, headers={"Authorization": f"Bearer {TOKENS['city']}",
                                                 "X-Access-Id": "city"}).json()["uses"]
    assert [(u["accessId"], u["action"], u["useCause"], u["result"]) for u in log] == [
        ("city", "check", "核验", "NOT_FOUND"), ("city", "check", "核验", "MATCH"),
        ("city", "check", "核验营业执照", "MISMATCH")]  # fmt: skip
    assert log[2]["subject"] == f"{BIZ}/{v2['ZZBH']}"
    assert plat.stats()["uses"] == 3


# -- fault injection, in process -------------------------------------------------------------


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


# -- fault injection against the real process --------------------------------------------------


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
