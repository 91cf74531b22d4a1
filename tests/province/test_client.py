"""The push client against httpx.MockTransport: every retry and ack path, no network."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from registry.errors import AggregationError, CodeError, EnvelopeError
from registry.license.codes import license_identifier
from registry.province.auth import Authenticator, Credential
from registry.province.client import ProvinceClient
from registry.province.wire import (
    CERT_STATES,
    LICENSES_PATH,
    Ack,
    AckResult,
    LicenseStatus,
    build_item,
    build_response,
    cert_state_of,
    parse_json,
    status_of,
    validate_item,
)

ZZBS = tuple(
    license_identifier("11100000MB0143028R001", "91350100M000100Y43", serial)
    for serial in ("20240001", "20240002")
)
ITEMS: list[dict[str, Any]] = [{"ZZBS": z, "version": "001"} for z in ZZBS]


def ok_response(request: httpx.Request) -> httpx.Response:
    items = json.loads(request.content)["data"]["items"]
    acks = [Ack(i["ZZBS"], i["version"], AckResult.ACCEPTED, "OK", "stored") for i in items]
    return httpx.Response(200, json=build_response(acks))


class Recorder:
    """A scripted platform: answers the n-th request with the n-th handler; records requests."""

    def __init__(self, *handlers: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handlers = list(handlers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handlers[min(len(self.requests), len(self.handlers)) - 1](request)


def make_client(
    platform: Recorder, sleeps: list[float], *, max_attempts: int = 5
) -> ProvinceClient:
    http = httpx.Client(transport=httpx.MockTransport(platform), base_url="http://province")
    return ProvinceClient(
        http,
        access_id="city",
        access_token="secret",
        max_attempts=max_attempts,
        backoff=0.2,
        sleep=sleeps.append,
        jitter=lambda: 1.0,  # full base delay: makes the backoff sequence exact
    )


def status(code: int, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _request: httpx.Response(code, headers=headers, json={"head": {"status": 1}})


def test_envelope_carries_credentials_items_and_one_request_id() -> None:
    platform = Recorder(status(503), ok_response)
    sleeps: list[float] = []
    acks = make_client(platform, sleeps).push(ITEMS)
    assert [a.identifier for a in acks] == list(ZZBS)
    bodies = [json.loads(r.content) for r in platform.requests]
    assert all(r.url.path == LICENSES_PATH and r.method == "POST" for r in platform.requests)
    assert bodies[0]["head"]["accessId"] == "city"
    # the token travels in the headers only, never in a body a log could keep
    assert bodies[0]["head"]["accessToken"] == ""
    assert all(r.headers["Authorization"] == "Bearer secret" for r in platform.requests)
    assert bodies[0]["data"]["items"] == ITEMS
    # a resend keeps the request id so the platform's log shows it as the same request
    assert bodies[0]["head"]["requestId"] == bodies[1]["head"]["requestId"] != ""


def test_hmac_resends_carry_fresh_nonces_and_sign_the_query() -> None:
    platform = Recorder(status(503), lambda _r: httpx.Response(200, json={"items": []}))
    http = httpx.Client(transport=httpx.MockTransport(platform), base_url="http://province")
    key = Credential("city", "TEST-ONLY-key", "hmac", region="35")
    client = ProvinceClient(http, access_id="city", access_token=key.secret, scheme="hmac",
                            sleep=lambda _s: None, clock=lambda: 1_700_000_000)  # fmt: skip
    client.get_json("/api/v1/digests", params={"after": "", "limit": 5})
    first, second = platform.requests
    assert first.headers["X-Nonce"] != second.headers["X-Nonce"]
    assert "Authorization" not in first.headers  # the key never travels
    auth = Authenticator({"city": key})
    for request in (first, second):
        assert auth.check(method="GET", path="/api/v1/digests?after=&limit=5", body=b"",
                          headers=request.headers, now=1_700_000_001).access_id == "city"
    # the first request again (a replay), or aimed at another query: refused
    replayed = auth.check(method="GET", path="/api/v1/digests?after=&limit=5", body=b"",
                          headers=first.headers, now=1_700_000_002)  # fmt: skip
    assert replayed.reason == "nonce already used"
    fresh = Authenticator({"city": key})
    assert fresh.check(method="GET", path="/api/v1/digests?after=&limit=9", body=b"",
                       headers=first.headers, now=1_700_000_001).access_id is None


def test_403_names_the_platforms_reason() -> None:
    refused = {"head": {"status": 13, "message": "accessId 'city' may not push licenses of "
                                                "department 91350100M000100Y43"}}
    platform = Recorder(lambda _r: httpx.Response(403, json=refused))
    with pytest.raises(AggregationError, match=r"\(HTTP 403\): accessId 'city' may not push "
                                               r"licenses of department 91350100M000100Y43"):
        make_client(platform, []).push(ITEMS)
    assert len(platform.requests) == 1  # not retried


def test_503_then_200_retries_with_backoff() -> None:
    platform = Recorder(status(503), status(502), ok_response)
    sleeps: list[float] = []
    acks = make_client(platform, sleeps).push(ITEMS)
    assert [a.result for a in acks] == [AckResult.ACCEPTED, AckResult.ACCEPTED]
    assert len(platform.requests) == 3
    assert sleeps == pytest.approx([0.2, 0.4])  # exponential: base, 2 x base


def test_jitter_spreads_the_delay_between_half_and_full() -> None:
    platform = Recorder(status(500), ok_response)
    sleeps: list[float] = []
    http = httpx.Client(transport=httpx.MockTransport(platform), base_url="http://province")
    client = ProvinceClient(
        http, access_id="city", access_token="secret", backoff=1.0,
        sleep=sleeps.append, jitter=lambda: 0.0,
    )  # fmt: skip
    client.push(ITEMS)
    assert sleeps == [0.5]


def test_429_honours_retry_after() -> None:
    platform = Recorder(status(429, **{"Retry-After": "7"}), ok_response)
    sleeps: list[float] = []
    make_client(platform, sleeps).push(ITEMS)
    assert sleeps == [7.0]


def test_429_with_an_http_date_falls_back_to_backoff() -> None:
    platform = Recorder(
        status(429, **{"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}), ok_response
    )
    sleeps: list[float] = []
    make_client(platform, sleeps).push(ITEMS)
    assert sleeps == pytest.approx([0.2])


def test_connect_error_and_timeout_are_retried() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    platform = Recorder(refuse, slow, ok_response)
    sleeps: list[float] = []
    acks = make_client(platform, sleeps).push(ITEMS)
    assert len(acks) == 2
    assert len(platform.requests) == 3


def test_gives_up_after_max_attempts_naming_the_last_failure() -> None:
    platform = Recorder(status(503))
    sleeps: list[float] = []
    with pytest.raises(AggregationError, match=r"after 3 attempts.*HTTP 503"):
        make_client(platform, sleeps, max_attempts=3).push(ITEMS)
    assert len(platform.requests) == 3
    assert len(sleeps) == 2  # no pointless sleep after the last attempt


def test_401_is_not_retried() -> None:
    platform = Recorder(status(401), ok_response)
    sleeps: list[float] = []
    with pytest.raises(AggregationError, match=r"refused accessId 'city' \(HTTP 401\)"):
        make_client(platform, sleeps).push(ITEMS)
    assert len(platform.requests) == 1
    assert sleeps == []


def test_other_4xx_is_not_retried_and_quotes_the_platform() -> None:
    def bad(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"head": {"status": 10, "message": "no data.items"}})

    platform = Recorder(bad)
    with pytest.raises(AggregationError, match=r"HTTP 400.*no data\.items"):
        make_client(platform, []).push(ITEMS)
    assert len(platform.requests) == 1


def test_ack_count_mismatch_is_an_error() -> None:
    def short(request: httpx.Request) -> httpx.Response:
        item = json.loads(request.content)["data"]["items"][0]
        ack = Ack(item["ZZBS"], item["version"], AckResult.ACCEPTED, "OK", "stored")
        return httpx.Response(200, json=build_response([ack]))

    platform = Recorder(short)
    with pytest.raises(AggregationError, match="acknowledged 1 items for 2 sent"):
        make_client(platform, []).push(ITEMS)


def test_acks_out_of_order_are_an_error() -> None:
    def swapped(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["data"]["items"][::-1]
        acks = [Ack(i["ZZBS"], i["version"], AckResult.ACCEPTED, "OK", "") for i in items]
        return httpx.Response(200, json=build_response(acks))

    with pytest.raises(AggregationError, match="ack 0 is for"):
        make_client(Recorder(swapped), []).push(ITEMS)


def test_malformed_answer_is_an_error() -> None:
    def junk(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>maintenance</html>")

    with pytest.raises(AggregationError, match="not a valid response"):
        make_client(Recorder(junk), []).push(ITEMS)


def test_rejected_acks_are_returned_not_raised() -> None:
    def reject(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["data"]["items"]
        acks = [Ack(i["ZZBS"], "001", AckResult.REJECTED, "HASH_FAILURE", "x") for i in items]
        return httpx.Response(200, json=build_response(acks))

    acks = make_client(Recorder(reject), []).push(ITEMS)
    assert [(a.result, a.code, a.ok) for a in acks] == [
        (AckResult.REJECTED, "HASH_FAILURE", False)
    ] * 2


def test_nothing_to_push_makes_no_request() -> None:
    platform = Recorder(ok_response)
    assert make_client(platform, []).push([]) == []
    assert platform.requests == []


# -- the envelope's code tables (wire.py), as the sender uses them ---------------------------


@pytest.mark.parametrize(
    ("status", "cert_state"),
    [
        ("VALID", "01"),
        ("SUSPENDED", "02"),
        ("REVOKED", "03"),
        ("CANCELLED", "04"),
        ("EXPIRED", "05"),
        ("TRANSFERRED_OUT", "06"),
        ("WITHDRAWN", "07"),
    ],
)
def test_status_maps_to_cert_state_and_back(status: str, cert_state: str) -> None:
    assert cert_state_of(status) == cert_state
    assert status_of(cert_state) is LicenseStatus(status)
    assert cert_state in CERT_STATES


def test_unknown_status_or_state_is_a_code_error() -> None:
    with pytest.raises(CodeError, match="unknown license status 'MISLAID'"):
        cert_state_of("MISLAID")
    with pytest.raises(CodeError, match="unknown certState '08'"):
        status_of("08")


def test_build_item_takes_the_version_from_the_identifier_and_base64s_the_signature() -> None:
    item = build_item(
        operate_type="01",
        status="SUSPENDED",
        identifier=ZZBS[0],
        elements={"ZZBS": ZZBS[0]},
        signature_der=b"\x30\x03\x02\x01\x04",
    )
    assert item == {
        "operateType": "01",
        "certState": "02",
        "ZZBS": ZZBS[0],
        "version": "001",
        "associatedZZBS": None,
        "elements": {"ZZBS": ZZBS[0]},
        "signature": "MAMCAQQ=",
    }
    assert validate_item(item).signature == b"\x30\x03\x02\x01\x04"
    with pytest.raises(CodeError, match="unknown operateType"):
        build_item(
            operate_type="11", status="VALID", identifier=ZZBS[0], elements={}, signature_der=b"x"
        )


@pytest.mark.parametrize(("raw", "parsed"), [
    (b'["TEST \\ud83d\\ude00"]', ["TEST \U0001f600"]),  # a surrogate pair is one character
    (b'["\\\\ud800"]', ["\\ud800"]),  # an escaped backslash, then plain text
    (b"[" * 32 + b"]" * 32, json.loads(b"[" * 32 + b"]" * 32)),  # as deep as allowed
])  # fmt: skip
def test_parse_json_takes_what_is_text(raw: bytes, parsed: Any) -> None:
    assert parse_json(raw) == parsed


@pytest.mark.parametrize(("raw", "message"), [
    (b'"\\ud800"', "lone surrogate"),
    (b'{"\\uDC00": 1}', "lone surrogate"),
    (b'["\\ud83d x"]', "lone surrogate"),
    (b"[" * 33 + b"]" * 33, "nested deeper than 32"),
    (b'{"a": Infinity}', "Infinity is not a JSON number"),
])  # fmt: skip
def test_parse_json_refuses_what_is_not(raw: bytes, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message):
        parse_json(raw)
