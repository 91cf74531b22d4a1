"""The mock provincial platform: envelope, credentials, verification, idempotency, stats.

Items are real sealed licenses: a TEST ONLY PKI (root → maker → signer) is built in a temporary
keystore at a pinned time, a SESeal is made for a department, and each license's RFC 8785
record is sealed with SealingContext, exactly as the registry does.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from registry.errors import AggregationError
from registry.license.canonical import canonical_bytes
from registry.license.codes import license_identifier
from registry.mockprovince.process import start_endpoint
from registry.mockprovince.server import create_app
from registry.province.client import ProvinceClient
from registry.province.wire import (
    LICENSES_PATH,
    AckResult,
    Item,
    build_item,
    build_request,
    cert_state_of,
)
from registry.seal.making import make_seal
from registry.seal.pki import (
    create_test_pki,
    issue_signer,
    load_maker,
    load_root_cert,
    load_signer_key,
)
from registry.seal.signature import SealingContext
from registry.seal.signer import SoftwareSigner

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SIGNED_AT = NOW + dt.timedelta(hours=1)
SERVER_TIME = NOW + dt.timedelta(hours=2)
PASSPHRASE = b"TEST-ONLY-passphrase"
TYPE_CODE = "11100000MB0143028R001"
DEPT_NAME = "TEST ONLY 福州市市场监督管理局"
DEPT_USCC = "91350100M000100Y43"
TOKENS = {"city": "TEST-ONLY-token"}
AUTH = {"Authorization": f"Bearer {TOKENS['city']}", "X-Access-Id": "city"}
PNG = b"\x89PNG\r\n\x1a\n TEST ONLY picture"


@dataclass(frozen=True)
class Pki:
    """A keystore with a root, a maker and one department seal ready to sign."""

    keystore: Path
    root: x509.Certificate
    context: SealingContext


def make_pki(keystore: Path) -> Pki:
    create_test_pki(keystore, PASSPHRASE, now=NOW)
    es_id = "TESTSEAL0001"
    end = NOW + dt.timedelta(days=365)
    signer = issue_signer(
        keystore, PASSPHRASE, es_id=es_id, department_name=DEPT_NAME,
        department_uscc=DEPT_USCC, now=NOW, not_after=end,
    )  # fmt: skip
    seal_der = make_seal(
        maker=load_maker(keystore, PASSPHRASE), es_id=es_id, kind=1, name="证照专用章",
        signer_cert_der=signer.cert_der, authorized_types=[TYPE_CODE], created=NOW,
        valid_start=NOW, valid_end=end, picture_png=PNG,
    )  # fmt: skip
    key = load_signer_key(keystore, signer.key_file, PASSPHRASE)
    context = SealingContext(seal_der, SoftwareSigner(key, signer.cert_der))
    return Pki(keystore, load_root_cert(keystore), context)


def elements(
    serial: str, *, version: str = "001", holder: str = "TEST ONLY 某某商行"
) -> dict[str, Any]:
    return {
        "ZZMC": "营业执照",
        "ZZLXDM": TYPE_CODE,
        "ZZBH": f"TEST{serial}",
        "ZZBS": license_identifier(TYPE_CODE, DEPT_USCC, serial, version),
        "ZZBFJG": DEPT_NAME,
        "ZZBFJGDM": DEPT_USCC,
        "ZZBFRQ": "20251201",
        "CZZT": holder,
        "CZZTDM": "91350100M000100Y43",
        "CZZTDMLX": "统一社会信用代码",
        "CZZTDMLXDM": "001",
        "ZZYXQQSRQ": "20251201",
        "ZZYXQJZRQ": "长期",
    }


def sealed_item(
    pki: Pki,
    serial: str,
    *,
    operate_type: str = "01",
    status: str = "VALID",
    version: str = "001",
    predecessor: str | None = None,
    holder: str = "TEST ONLY 某某商行",
    extra: dict[str, str] | None = None,
) -> Item:
    """A license sealed by ``pki``'s department; ``extra`` elements replace the defaults."""
    record = {**elements(serial, version=version, holder=holder), **(extra or {})}
    data_hash = hashlib.sha256(canonical_bytes(record)).digest()
    signature = pki.context.sign(data_hash, SIGNED_AT, record["ZZBS"])
    return build_item(
        operate_type=operate_type,
        status=status,
        identifier=record["ZZBS"],
        elements=record,
        signature_der=pki.context.assemble(SIGNED_AT, data_hash, record["ZZBS"], signature),
        predecessor=predecessor,
    )


def with_status(item: Item, operate_type: str, status: str) -> Item:
    """The same signed license version under a status event (no re-signing)."""
    event = copy.deepcopy(item)
    event["operateType"] = operate_type
    event["certState"] = cert_state_of(status)
    return event


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("keystore") / "ks")


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """An unrelated TEST ONLY PKI: same department, same seal id, different root."""
    return make_pki(tmp_path_factory.mktemp("other") / "ks")


@pytest.fixture
def client(pki: Pki) -> TestClient:
    app = create_app(
        db_url="sqlite://", anchors=[pki.root], tokens=TOKENS, clock=lambda: SERVER_TIME
    )
    return TestClient(app)


Push = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def push(client: TestClient) -> Push:
    """POST items with good credentials; return the acks as JSON."""

    def do(*items: Item | dict[str, Any], request_id: str = "r") -> list[dict[str, Any]]:
        body = build_request(
            list(items), access_id="city", access_token=TOKENS["city"], request_id=request_id
        )
        response = client.post(LICENSES_PATH, json=body, headers=AUTH)
        assert response.status_code == 200, response.text
        assert response.json()["head"] == {"status": 0, "message": "ok"}
        acks: list[dict[str, Any]] = response.json()["data"]["acks"]
        return acks

    return do


# -- credentials --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer wrong", "X-Access-Id": "city"},
        {"Authorization": f"Bearer {TOKENS['city']}", "X-Access-Id": "nobody"},
        {"Authorization": "Bearer ", "X-Access-Id": "city"},
        {},
    ],
    ids=["wrong-token", "unknown-id", "missing-token", "no-credentials"],
)
def test_bad_or_missing_credentials_get_401_and_a_log_line(
    client: TestClient, pki: Pki, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    # the envelope head's token counts for nothing: credentials travel in headers only
    body = build_request([sealed_item(pki, "A1")], access_id="city",
                         access_token=TOKENS["city"], request_id="r")  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="registry.mockprovince.server"):
        response = client.post(LICENSES_PATH, json=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["head"]["status"] == 11
    assert "refused push" in caplog.text
    assert client.get("/stats").json()["licenses"] == 0


def test_malformed_envelope_is_400(client: TestClient) -> None:
    assert client.post(LICENSES_PATH, content=b"{not json", headers=AUTH).status_code == 400
    head = {"accessId": "city", "accessToken": "", "requestId": "r"}
    response = client.post(LICENSES_PATH, json={"head": head, "data": {}}, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["head"]["status"] == 10


def test_too_many_items_is_413(client: TestClient) -> None:
    head = {"accessId": "city", "accessToken": "", "requestId": "r"}
    response = client.post(LICENSES_PATH, json={"head": head, "data": {"items": [{}] * 5001}},
                           headers=AUTH)  # fmt: skip
    assert response.status_code == 413
    assert response.json()["head"]["status"] == 12


# -- accepted, duplicate, conflict ----------------------------------------------------------


def test_accepted_item_is_stored_and_counted(client: TestClient, push: Push, pki: Pki) -> None:
    item = sealed_item(pki, "A1")
    (ack,) = push(item)
    assert ack == {
        "ZZBS": item["ZZBS"],
        "version": "001",
        "result": "ACCEPTED",
        "code": "OK",
        "message": "verified and stored",
    }
    assert client.get("/stats").json() == {
        "licenses": 1,
        "by_status": {"VALID": 1},
        "requests": 1,
        "rejected_items": 0,
    }
    stored = client.get(f"{LICENSES_PATH}/{item['ZZBS']}", headers=AUTH).json()
    assert stored["elements"] == item["elements"]
    assert stored["signature"] == item["signature"]
    assert stored["status"] == "VALID"
    assert stored["receivedAt"] == SERVER_TIME.isoformat()


def test_unknown_identifier_is_404(client: TestClient, pki: Pki) -> None:
    ident = sealed_item(pki, "NOPE")["ZZBS"]
    assert client.get(f"{LICENSES_PATH}/{ident}", headers=AUTH).status_code == 404


def test_same_item_twice_is_duplicate_and_stored_once(
    client: TestClient, push: Push, pki: Pki
) -> None:
    item = sealed_item(pki, "A1")
    assert push(item)[0]["result"] == "ACCEPTED"
    assert push(item)[0]["result"] == "DUPLICATE"
    # and within one request
    other = sealed_item(pki, "A2")
    assert [a["result"] for a in push(other, other)] == ["ACCEPTED", "DUPLICATE"]
    stats = client.get("/stats").json()
    assert stats["licenses"] == 2
    assert stats["requests"] == 3


def test_other_content_under_a_stored_identifier_is_conflict(
    client: TestClient, push: Push, pki: Pki
) -> None:
    push(sealed_item(pki, "A1"))
    # properly sealed, but different elements under the same identifier + version
    changed = sealed_item(pki, "A1", holder="TEST ONLY 另一商行")
    (ack,) = push(changed)
    assert (ack["result"], ack["code"]) == ("REJECTED", "CONFLICT")
    stored = client.get(f"{LICENSES_PATH}/{changed['ZZBS']}", headers=AUTH).json()
    assert stored["elements"]["CZZT"] == "TEST ONLY 某某商行"
    assert client.get("/stats").json()["rejected_items"] == 1


def test_status_event_updates_a_stored_version(client: TestClient, push: Push, pki: Pki) -> None:
    first = sealed_item(pki, "A1")
    push(first)
    suspend = with_status(first, "03", "SUSPENDED")
    (ack,) = push(suspend)
    assert (ack["result"], ack["message"]) == ("ACCEPTED", "status changed from VALID to SUSPENDED")
    assert push(suspend)[0]["result"] == "DUPLICATE"
    # a replayed 新发 event never reverts a later status
    assert push(first)[0]["result"] == "DUPLICATE"
    stored = client.get(f"{LICENSES_PATH}/{suspend['ZZBS']}", headers=AUTH).json()
    assert (stored["status"], stored["certState"], stored["operateType"]) == (
        "SUSPENDED",
        "02",
        "03",
    )
    assert client.get("/stats").json()["by_status"] == {"SUSPENDED": 1}


def test_new_version_and_status_change_in_one_request(
    client: TestClient, push: Push, pki: Pki
) -> None:
    first = sealed_item(pki, "A1")
    renewed = sealed_item(pki, "A1", version="002", operate_type="02", predecessor=first["ZZBS"])
    cancel = with_status(first, "05", "CANCELLED")
    acks = push(first, renewed, cancel)
    assert [a["result"] for a in acks] == ["ACCEPTED", "ACCEPTED", "ACCEPTED"]
    assert client.get("/stats").json()["by_status"] == {"CANCELLED": 1, "VALID": 1}
    stored = client.get(f"{LICENSES_PATH}/{renewed['ZZBS']}", headers=AUTH).json()
    assert stored["associatedZZBS"] == first["ZZBS"]


# -- verification failures ------------------------------------------------------------------


def test_edited_element_is_hash_failure(client: TestClient, push: Push, pki: Pki) -> None:
    item = sealed_item(pki, "A1")
    item["elements"]["CZZT"] = "TEST ONLY 篡改商行"
    (ack,) = push(item)
    assert (ack["result"], ack["code"]) == ("REJECTED", "HASH_FAILURE")
    assert client.get("/stats").json()["licenses"] == 0


def test_signature_from_an_untrusted_pki_is_no_chain(push: Push, pki: Pki, other_pki: Pki) -> None:
    (ack,) = push(sealed_item(other_pki, "A1"))
    assert (ack["result"], ack["code"]) == ("REJECTED", "NO_CERTIFICATE_CHAIN_FOUND")


def test_flipped_signature_byte_is_sig_crypto_failure(push: Push, pki: Pki) -> None:
    item = sealed_item(pki, "A1")
    der = bytearray(base64.b64decode(item["signature"]))
    der[-10] ^= 0x01  # inside the ECDSA signature value at the end of the DER
    item["signature"] = base64.b64encode(bytes(der)).decode()
    (ack,) = push(item)
    assert (ack["result"], ack["code"]) == ("REJECTED", "SIG_CRYPTO_FAILURE")


def test_one_bad_item_does_not_sink_the_batch(client: TestClient, push: Push, pki: Pki) -> None:
    bad = sealed_item(pki, "B1")
    bad["elements"]["ZZBH"] = "TEST-EDITED"
    acks = push(sealed_item(pki, "A1"), bad, sealed_item(pki, "A2"))
    assert [a["result"] for a in acks] == ["ACCEPTED", "REJECTED", "ACCEPTED"]
    assert acks[1]["ZZBS"] == bad["ZZBS"]
    stats = client.get("/stats").json()
    assert (stats["licenses"], stats["rejected_items"]) == (2, 1)


# -- schema ---------------------------------------------------------------------------------


def _without(item: Item, key: str) -> dict[str, Any]:
    broken: dict[str, Any] = copy.deepcopy(dict(item))
    del broken[key]
    return broken


def _with(item: Item, **changes: Any) -> dict[str, Any]:
    broken: dict[str, Any] = copy.deepcopy(dict(item))
    broken.update(changes)
    return broken


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda i: _without(i, "signature"), "lacks 'signature'"),
        (lambda i: _with(i, operateType="42"), "unknown operateType"),
        (lambda i: _with(i, certState="99"), "requires certStatusDescription"),
        (lambda i: _with(i, ZZBS=i["ZZBS"][:-1] + "0"), "check character"),
        (lambda i: _with(i, version="002"), "differs from the identifier's version"),
        (lambda i: _with(i, elements={**i["elements"], "ZZBS": "x"}), "elements.ZZBS differs"),
        (lambda i: _with(i, elements={**i["elements"], "N": 1.5}), "floats are not allowed"),
        (lambda i: _with(i, operateType="09"), "requires associatedZZBS"),
        (lambda i: _with(i, signature="not base64!"), "not base64"),
        (lambda i: "an item", "must be a JSON object"),
    ],
    ids=[
        "no-signature", "operate-type", "state-99", "check-char", "version", "elements-zzbs",
        "float", "change-without-predecessor", "signature-b64", "not-object",
    ],
)  # fmt: skip
def test_schema_errors_are_rejected_with_schema(
    push: Push, pki: Pki, mutate: Callable[[Item], Any], message: str
) -> None:
    (ack,) = push(mutate(sealed_item(pki, "A1")))
    assert (ack["result"], ack["code"]) == ("REJECTED", "SCHEMA")
    assert message in ack["message"]


# -- the real thing: a subprocess on 127.0.0.1 ----------------------------------------------


@pytest.mark.slow
def test_real_subprocess_accepts_then_reports_duplicate(tmp_path: Path, pki: Pki) -> None:
    home = tmp_path / "province"
    anchors = pki.keystore / "root.pem"
    items = [sealed_item(pki, "S1"), sealed_item(pki, "S2")]
    with start_endpoint(home=home, anchors_path=anchors, tokens=TOKENS) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=base_url, timeout=10.0) as http:
            pusher = ProvinceClient(http, access_id="city", access_token=TOKENS["city"])
            first = pusher.push(items)
            again = pusher.push(items)
            stats = http.get("/stats").json()
            with pytest.raises(AggregationError, match="refused accessId 'city'"):
                ProvinceClient(http, access_id="city", access_token="wrong").push(items)
    assert [a.result for a in first] == [AckResult.ACCEPTED] * 2
    assert [a.result for a in again] == [AckResult.DUPLICATE] * 2
    assert (stats["licenses"], stats["requests"]) == (2, 2)
    assert (home / "province.db").exists()
    assert "refused push" in (home / "server.log").read_text()


@pytest.mark.slow
def test_endpoint_that_cannot_start_reports_its_stderr(tmp_path: Path) -> None:
    with (
        pytest.raises(AggregationError, match=r"exited with code [1-9].*\n.*") as info,
        start_endpoint(home=tmp_path / "p", anchors_path=tmp_path / "missing.pem", tokens=TOKENS),
    ):
        pass  # pragma: no cover - never reached
    assert "missing.pem" in str(info.value)
