"""The mock platform's judgement of what is pushed (registry.mockprovince.receive): compact
and whole signatures, missing or forged blobs, held events, event order, superseding, numbered
current states, repairs.

Items are built from a real registry (demo world, licenses sealed as ingest seals them, then
lifecycle steps) exactly as the sync builds them (:class:`tests.support.province.World`).
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from registry.db import session_scope
from registry.db.models import License
from registry.license.canonical import canonical_bytes
from registry.province.wire import (
    LICENSES_PATH,
    SignatureParts,
    blob_ref,
    build_request,
    content_digest,
)
from registry.seal.queries import SealMaterial, sealing_context
from tests.support.province import AUTH, NOW, TOKENS, Platform, World, platform, push


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("aggregation-world"))


@pytest.fixture
def plat(world: World) -> Iterator[Platform]:
    yield from platform(world.settings)


def whole_der(item: dict[str, Any], blobs: dict[str, bytes]) -> dict[str, Any]:
    full = copy.deepcopy(item)
    parts = SignatureParts.from_dict(full.pop("signatureParts"))
    full["signature"] = base64.b64encode(parts.der(blobs)).decode()
    return full


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
    (ack,) = plat.http.post(LICENSES_PATH, json=body, headers=AUTH).json()["data"]["acks"]
    assert (ack["result"], ack["code"]) == ("REJECTED", "SCHEMA")
    assert "not in data.blobs" in ack["message"]
    seal_ref = item["signatureParts"]["seal"]
    forged = {**world.blobs, seal_ref: world.blobs[seal_ref] + b"\x00"}
    body = build_request([item], access_id="city", access_token=TOKENS["city"], request_id="r",
                         blobs=forged)  # fmt: skip
    response = plat.http.post(LICENSES_PATH, json=body, headers=AUTH)
    assert response.status_code == 400
    assert "does not hash to its reference" in response.json()["head"]["message"]


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
