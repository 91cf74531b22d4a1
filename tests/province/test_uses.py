"""Reading the platform's use log (registry.province.uses): the answer checked field by
field (httpx.MockTransport), and the real platform process read over its socket, its clock
pinned by a file (TEST ONLY) so that uses fall in the weeks a test chooses."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from registry.config import ProvinceSettings
from registry.errors import AggregationError
from registry.mockprovince.process import start_endpoint
from registry.province.client import ProvinceClient
from registry.province.uses import LicenseCount, RequestCount, UseCount, read_uses, use_reader
from registry.province.wire import SHARE_QUERY_PATH, SHARE_USES_PATH

T = dt.datetime(2026, 11, 17, 2, 0, tzinfo=dt.UTC)
BIZ = "11100000MB0143028R001"
ANSWER = {"since": None, "until": T.isoformat(),
          "uses": [{"department": "11330100MB1703218R", "typeCode": BIZ, "useCause": "办税",
                    "action": "query", "outcome": "SERVED", "uses": 2}],
          "licenses": [{"department": "11330100MB1703218R", "typeCode": BIZ, "licenses": 2}],
          "requests": [{"action": "query", "outcome": "SERVED", "requests": 1}]}


def client_answering(answer: Any, seen: list[httpx.Request]) -> ProvinceClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    http = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://p")
    return ProvinceClient(http, access_id="city", access_token="t", max_attempts=1)


def test_the_answer_is_read_into_typed_counts_with_the_window_asked_for() -> None:
    seen: list[httpx.Request] = []
    got = read_uses(client_answering(ANSWER, seen), since=T - dt.timedelta(days=7), until=T)
    assert got.uses == (UseCount("11330100MB1703218R", BIZ, "办税", "query", "SERVED", 2),)
    assert got.licenses == (LicenseCount("11330100MB1703218R", BIZ, 2),)
    assert got.requests == (RequestCount("query", "SERVED", 1),)
    assert seen[0].url.path == SHARE_USES_PATH
    assert dict(seen[0].url.params) == {"until": "2026-11-17T02:00:00+00:00",
                                        "since": "2026-11-10T02:00:00+00:00"}
    assert seen[0].headers["Authorization"] == "Bearer t"


@pytest.mark.parametrize(("answer", "message"), [
    ({}, "the answer has no 'uses'"),
    ({**ANSWER, "uses": [{**ANSWER["uses"][0], "uses": "2"}]}, "uses[0].uses is '2'"),
    ({**ANSWER, "licenses": [{"department": None}]}, "licenses[0] has no 'typeCode'"),
    ({**ANSWER, "requests": [{**ANSWER["requests"][0], "requests": True}]},
     "requests[0].requests is True"),
])
def test_a_malformed_answer_is_an_error_naming_the_field(answer: Any, message: str) -> None:
    with pytest.raises(AggregationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_uses(client_answering(answer, []), since=None, until=T)


def test_no_platform_configured_means_no_reader() -> None:
    with use_reader(ProvinceSettings(endpoint=None)) as read:
        assert read is None


def self_signed(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TEST ONLY anchor")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(T - dt.timedelta(days=1)).not_valid_after(T + dt.timedelta(days=90))
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(Encoding.PEM))
    return path


@pytest.mark.slow
def test_the_real_platform_logs_uses_at_its_file_clock(tmp_path: Path) -> None:
    clock = tmp_path / "clock"
    tokens = {"city": "TEST-ONLY-token", "tax": "TEST-ONLY-tax-token"}
    with start_endpoint(home=tmp_path / "province", anchors_path=self_signed(tmp_path / "a.pem"),
                        tokens=tokens, clock_file=clock) as url, \
            httpx.Client(base_url=url, timeout=10.0) as http:
        tax = ProvinceClient(http, access_id="tax", access_token=tokens["tax"], max_attempts=1)
        for day in (0, 1, 8):  # two uses in one week, one the week after
            clock.write_text((T + dt.timedelta(days=day)).isoformat(), encoding="utf-8")
            tax.post_json(SHARE_QUERY_PATH, {"holderCode": "91330102MAT9HT456F",
                                             "typeCode": BIZ, "useCause": "办理纳税申报"})
        settings = ProvinceSettings(endpoint=url, access_id="city", secret=tokens["city"])
        with use_reader(settings) as read:
            assert read is not None
            week = read(since=T, until=T + dt.timedelta(days=7))
            everything = read(since=None, until=T + dt.timedelta(days=9))
    assert week.uses == (UseCount(None, BIZ, "办理纳税申报", "query", "EMPTY", 2),)
    assert everything.uses == (UseCount(None, BIZ, "办理纳税申报", "query", "EMPTY", 3),)
    assert everything.requests == (RequestCount("query", "EMPTY", 3),)
    assert everything.licenses == ()
