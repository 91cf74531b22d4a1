"""The platform keeps strangers out, over real HTTP against the real server process: a body
limit enforced while reading, credentials checked before the body, 400 (never 500) for
malformed bodies, credentials bound to departments, HMAC nonces and a replay window,
authenticated and masked reads, and no secret on the command line.

One platform process serves the module; its credentials (a file of mode 0600 written by
``start_endpoint``):

- ``market``: a token bound to region 350100, the market bureau of ``test_server``'s PKI;
- ``health``: a token bound to another department only (the health commission);
- ``signer``: an HMAC key bound to province 35;
- ``lookup``: a token bound to nothing (lookups only).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from registry.config import DEFAULT_ACCESS_ID
from registry.mockprovince.process import start_endpoint
from registry.province.auth import Credential, request_headers
from registry.province.wire import LICENSES_PATH, build_request
from tests.mockprovince.test_server import Pki, make_pki, sealed_item
from tests.support.province import make_registry

pytestmark = pytest.mark.slow

LIMIT = 1 << 20
"""The platform's body limit in these tests (1 MiB)."""
HEALTH_USCC = "12350100MB0000001X"
PERSON = {"CZZT": "王小明", "CZZTDM": "11010519491231002X", "CZZTDMLX": "公民身份号码",
          "CZZTDMLXDM": "111"}  # fmt: skip
SECRETS = {"market": "TEST-ONLY-market-token", "health": "TEST-ONLY-health-token",
           "signer": "TEST-ONLY-hmac-key", "lookup": "TEST-ONLY-lookup-token"}  # fmt: skip
CREDENTIALS = [
    Credential("market", SECRETS["market"], region="350100"),
    Credential("health", SECRETS["health"], departments=frozenset({HEALTH_USCC})),
    Credential("signer", SECRETS["signer"], "hmac", region="35"),
    Credential("lookup", SECRETS["lookup"]),
]
BY_ID = {c.access_id: c for c in CREDENTIALS}


def bearer(access_id: str) -> dict[str, str]:
    return request_headers(BY_ID[access_id], "GET", "/", b"", now=0)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("keystore") / "ks")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("province")


@pytest.fixture(scope="module")
def url(pki: Pki, home: Path) -> Iterator[str]:
    with start_endpoint(home=home, anchors_path=pki.keystore / "root.pem",
                        credentials=CREDENTIALS, max_body=LIMIT) as base_url:  # fmt: skip
        yield base_url


@pytest.fixture
def http(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30.0) as client:
        yield client


def envelope(*items: Any, access_id: str = "market") -> bytes:
    body = build_request(list(items), access_id=access_id, access_token="", request_id="r")
    return json.dumps(body, ensure_ascii=False).encode()


def raw_request(url: str, head: str) -> bytes:
    """Send only a request's head (no body byte) and return what the platform answers before
    it closes the connection (a timeout if it waits for the body instead)."""
    host, port = url.removeprefix("http://").split(":")
    answer = b""
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n\r\n")
        while chunk := s.recv(65536):
            answer += chunk
    return answer


def server_log(home: Path) -> str:
    return (home / "server.log").read_text(encoding="utf-8")


# -- limits and credentials before the body -----------------------------------------------


def test_a_body_over_the_limit_is_refused_while_it_streams(http: httpx.Client) -> None:
    total, chunk = 64 << 20, 1 << 16
    sent = 0

    def body() -> Iterator[bytes]:  # chunked: no Content-Length to refuse at once
        nonlocal sent
        for _ in range(total // chunk):
            sent += chunk
            yield b" " * chunk

    response = http.post(LICENSES_PATH, content=body(), headers=bearer("market"))
    assert response.status_code == 413
    assert response.json()["head"] == {"status": 12,
                                       "message": f"the request body is over {LIMIT} bytes"}
    # refused while the body was still coming: the platform never held it
    assert sent < total // 2


def test_a_declared_length_over_the_limit_is_refused_before_any_byte(url: str) -> None:
    answer = raw_request(url, f"POST {LICENSES_PATH} HTTP/1.1\nHost: p\n"
                              f"Content-Length: {400 << 20}\nAuthorization: Bearer "
                              f"{SECRETS['market']}\nX-Access-Id: market")  # fmt: skip
    assert answer.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize("credentials", [
    "Authorization: Bearer wrong\nX-Access-Id: market",
    "X-Access-Id: nobody\nX-Timestamp: 1\nX-Nonce: aaaaaaaaaaaaaaaaaaaa\nX-Signature: 00",
    f"X-Access-Id: signer\nX-Timestamp: {int(time.time()) - 3600}\n"
    "X-Nonce: aaaaaaaaaaaaaaaaaaaa\nX-Signature: 00",
    "",
], ids=["bad-token", "unknown-hmac-id", "stale-hmac", "none"])  # fmt: skip
def test_bad_credentials_are_refused_before_the_body_is_read(
    url: str, home: Path, credentials: str
) -> None:
    # 100 MB announced (over the limit, so 401 comes first), none sent: the answer arrives and
    # the connection closes although the platform has not read a byte of the body
    head = f"POST {LICENSES_PATH} HTTP/1.1\nHost: p\nContent-Length: {100 << 20}"
    answer = raw_request(url, head + (f"\n{credentials}" if credentials else ""))
    assert answer.startswith(b"HTTP/1.1 401 ")
    assert b'"status":11' in answer
    assert "refused push from 127.0.0.1" in server_log(home)


# -- malformed bodies: 400, never 500 -----------------------------------------------------


@pytest.mark.parametrize(("body", "message"), [
    (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 32 levels"),
    (b'{"head": {"accessId": "market", "accessToken": "\\ud800"}, "data": {"items": []}}',
     "lone surrogate"),
    (b'{"head": {"accessId": "market\xff"}}', "not UTF-8"),
    (b'{"head": [], "data": {"items": []}}', "lacks a head object"),
    (b'{"head": {"accessId": "market", "accessToken": ""}, "data": {"items": {}}}',
     "data.items (a list)"),
    (b'{"head": {"accessId": 7, "accessToken": ""}, "data": {"items": []}}',
     "head.accessId must be a string"),
    (b'{"head": {"accessId": "market", "accessToken": ""}, "data": {"items": [], '
     b'"blobs": {"x": 5}}}', "is not base64"),
    (b"NaN", "NaN is not a JSON number"),
], ids=["deep", "surrogate", "utf-8", "head-list", "items-object", "id-number", "blob-number",
        "nan"])  # fmt: skip
def test_malformed_push_bodies_are_400_with_a_reason(
    http: httpx.Client, home: Path, body: bytes, message: str
) -> None:
    response = http.post(LICENSES_PATH, content=body, headers=bearer("market"))
    assert response.status_code == 400
    assert response.json()["head"]["status"] == 10
    assert message in response.json()["head"]["message"]
    assert "Traceback" not in server_log(home)


def test_malformed_items_and_parameters_are_400_or_rejected_never_500(
    http: httpx.Client, home: Path, pki: Pki
) -> None:
    item: dict[str, Any] = dict(sealed_item(pki, "T1"))
    item["eventSeq"] = 10**30  # no database integer holds it
    response = http.post(LICENSES_PATH, content=envelope(item), headers=bearer("market"))
    (ack,) = response.json()["data"]["acks"]
    assert (ack["result"], ack["code"]) == ("REJECTED", "SCHEMA")
    assert "64-bit" in ack["message"]
    digests = http.get("/api/v1/digests", params={"limit": "many"}, headers=bearer("market"))
    assert digests.status_code == 400
    assert "limit" in digests.json()["detail"]
    share = http.post("/api/v1/share/query", content=b'["holderCode"]', headers=bearer("lookup"))
    assert (share.status_code, share.json()) == (400, {"detail": "body must be a JSON object"})
    assert "Traceback" not in server_log(home)


# -- bindings -------------------------------------------------------------------------------


def test_a_credential_pushes_only_for_its_departments(http: httpx.Client, pki: Pki) -> None:
    item = sealed_item(pki, "D1")
    for access_id in ("health", "lookup"):
        refused = http.post(LICENSES_PATH, content=envelope(item, access_id=access_id),
                            headers=bearer(access_id))  # fmt: skip
        assert refused.status_code == 403
        assert refused.json()["head"] == {"status": 13, "message": (
            f"accessId {access_id!r} may not push licenses of department 91350100M000100Y43")}
    assert http.get(f"{LICENSES_PATH}/{item['ZZBS']}", headers=bearer("market")).status_code \
        == 404  # fmt: skip
    # a head naming another caller than the credentials is refused too
    posing = http.post(LICENSES_PATH, content=envelope(item, access_id="health"),
                       headers=bearer("market"))  # fmt: skip
    assert posing.status_code == 403
    accepted = http.post(LICENSES_PATH, content=envelope(item), headers=bearer("market"))
    assert accepted.json()["data"]["acks"][0]["result"] == "ACCEPTED"


# -- HMAC: nonces, replay window, future timestamps ------------------------------------------


def signed(body: bytes, *, now: float) -> dict[str, str]:
    return request_headers(BY_ID["signer"], "POST", LICENSES_PATH, body, now=now)


def test_an_exact_replay_is_refused(http: httpx.Client, pki: Pki) -> None:
    body = envelope(sealed_item(pki, "H1"), access_id="signer")
    headers = signed(body, now=time.time())
    first = http.post(LICENSES_PATH, content=body, headers=headers)
    assert first.json()["data"]["acks"][0]["result"] == "ACCEPTED"
    assert http.post(LICENSES_PATH, content=body, headers=headers).status_code == 401
    # the same body signed again (a fresh nonce) is a new request, and idempotent
    again = http.post(LICENSES_PATH, content=body, headers=signed(body, now=time.time()))
    assert again.json()["data"]["acks"][0]["result"] == "DUPLICATE"


def test_a_timestamp_ahead_of_the_clock_is_refused(
    http: httpx.Client, pki: Pki, home: Path
) -> None:
    body = envelope(sealed_item(pki, "H2"), access_id="signer")
    ahead = http.post(LICENSES_PATH, content=body, headers=signed(body, now=time.time() + 250))
    assert ahead.status_code == 401
    assert "s in the future" in server_log(home)
    skewed = http.post(LICENSES_PATH, content=body, headers=signed(body, now=time.time() + 10))
    assert skewed.status_code == 200


def test_a_signature_covers_the_query(http: httpx.Client) -> None:
    headers = request_headers(BY_ID["signer"], "GET", "/api/v1/digests?limit=1", b"",
                              now=time.time())  # fmt: skip
    assert http.get("/api/v1/digests", params={"limit": 1}, headers=headers).status_code == 200
    headers = request_headers(BY_ID["signer"], "GET", "/api/v1/digests?limit=1", b"",
                              now=time.time())  # fmt: skip
    assert http.get("/api/v1/digests", params={"limit": 2}, headers=headers).status_code == 401


# -- reads ----------------------------------------------------------------------------------


def test_reads_need_credentials_and_mask_a_person_for_other_departments(
    http: httpx.Client, pki: Pki
) -> None:
    item = sealed_item(pki, "P1", extra=PERSON)
    assert http.post(LICENSES_PATH, content=envelope(item),
                     headers=bearer("market")).status_code == 200  # fmt: skip
    path = f"{LICENSES_PATH}/{item['ZZBS']}"
    anonymous = http.get(path)
    assert anonymous.status_code == 401
    assert "11010519491231002X" not in anonymous.text
    whole = http.get(path, headers=bearer("market")).json()
    assert (whole["elements"]["CZZT"], whole["elements"]["CZZTDM"]) == (
        "王小明", "11010519491231002X")
    assert "masked" not in whole
    for access_id in ("lookup", "health"):
        seen = http.get(path, headers=bearer(access_id)).json()
        assert (seen["elements"]["CZZT"], seen["elements"]["CZZTDM"]) == (
            "王**", "110105********002X")
        assert seen["masked"] == ["CZZT", "CZZTDM"]
        assert seen["elements"]["ZZBH"] == item["elements"]["ZZBH"]


# -- secrets ----------------------------------------------------------------------------------


def _cmdline_of_server(url: str) -> str:
    """The command line of the process serving ``url`` (found in /proc by its --port)."""
    port = url.rsplit(":", 1)[1]
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"registry.mockprovince.server" in args and port.encode() in args:
            return b" ".join(args).decode()
    raise AssertionError(f"no platform process for port {port}")


def test_no_secret_on_the_command_line(url: str, home: Path) -> None:
    cmdline = _cmdline_of_server(url)
    assert "--credentials" in cmdline
    assert not [s for s in SECRETS.values() if s in cmdline]
    assert os.stat(home / "credentials.toml").st_mode & 0o077 == 0


def _serve(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """``licreg --lang en province serve --port 0 ARGS`` as an operator starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", "registry.cli", "--lang", "en", "province", "serve", "--port", "0",
         *args], env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)  # fmt: skip


def _banner(proc: subprocess.Popen[str]) -> list[str]:
    """The lines the platform says on start, up to its limits line."""
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("  limits:"):
            return lines
    raise AssertionError("the platform stopped before saying where it listens:\n"
                         + "\n".join(lines))  # fmt: skip


def test_province_serve_takes_secrets_from_a_file_and_says_where_it_listens(
    tmp_path: Path, pki: Pki
) -> None:
    creds = tmp_path / "credentials.toml"
    creds.write_text('[[credential]]\naccess_id = "market"\nsecret_env = "MARKET_TOKEN"\n'
                     'region = "350100"\n\n[[credential]]\naccess_id = "lookup"\n'
                     'scheme = "hmac"\nsecret = "TEST-ONLY-lookup-key"\n', encoding="utf-8")
    creds.chmod(0o644)
    env = {"LICREG_HOME": str(tmp_path / "home"), "MARKET_TOKEN": SECRETS["market"]}
    refused = _serve(env, "--credentials", str(creds), "--anchors", str(pki.keystore / "root.pem"))
    output = refused.communicate(timeout=60)[0]
    assert refused.returncode == 1
    assert f"the credentials file {creds} is readable by others (mode 0o644)" in output
    creds.chmod(0o600)
    proc = _serve({**env, "LICREG_PROVINCE_CREDENTIALS": str(creds)},
                  "--anchors", str(pki.keystore / "root.pem"), "--max-body", "4096")  # fmt: skip
    try:
        banner = _banner(proc)
        url = banner[0].rsplit(" ", 1)[1]
        assert banner == [
            f"mock provincial platform (TEST ONLY) listening on {url}",
            "  credential market (token): region 350100",
            "  credential lookup (hmac): lookups only",
            f"  trust anchors: {pki.keystore / 'root.pem'} (1 certificate)",
            "  limits: request body 4096 bytes, 5000 items per push; HMAC timestamps 300 s old "
            "to 30 s ahead, nonces kept as long",
        ]
        assert httpx.get(f"{url}/api/v1/digests", headers=bearer("market")).status_code == 200
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode()
        assert "TEST-ONLY" not in cmdline
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_province_serve_binds_the_registrys_own_credential_to_its_city(tmp_path: Path) -> None:
    reg = make_registry(tmp_path / "registry")
    proc = _serve({"LICREG_HOME": str(reg.home), "LICREG_DATABASE_URL": reg.database_url,
                   "LICREG_PROVINCE_TOKEN": "TEST-ONLY-city-token"})  # fmt: skip
    try:
        banner = _banner(proc)
        assert banner[1] == f"  credential {DEFAULT_ACCESS_ID} (token): region 330100"
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode()
        assert "TEST-ONLY-city-token" not in cmdline
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_use_log_shows_a_caller_its_own_uses_only(http: httpx.Client, pki: Pki) -> None:
    holder = "91350100M000100Y43"
    query = json.dumps({"holderCode": holder, "useCause": "办理 TEST ONLY 业务"}).encode()
    assert http.post("/api/v1/share/query", content=query,
                     headers=bearer("lookup")).status_code == 200  # fmt: skip
    mine = http.get("/api/v1/share/log", headers=bearer("lookup")).json()["uses"]
    assert [(u["accessId"], u["subject"]) for u in mine] == [("lookup", holder)]
    assert http.get("/api/v1/share/log", headers=bearer("health")).json()["uses"] == []


def test_digests_list_only_the_licenses_a_credential_covers(
    http: httpx.Client, pki: Pki
) -> None:
    item = sealed_item(pki, "G1")
    assert http.post(LICENSES_PATH, content=envelope(item),
                     headers=bearer("market")).status_code == 200  # fmt: skip

    def listed(access_id: str) -> set[str]:
        headers = request_headers(BY_ID[access_id], "GET", "/api/v1/digests?limit=20000", b"",
                                  now=time.time())  # fmt: skip
        page = http.get("/api/v1/digests", params={"limit": 20000}, headers=headers).json()
        return {d["ZZBS"] for d in page["items"]}

    assert item["ZZBS"] in listed("market")
    assert listed("market") == listed("signer")  # region 350100 within province 35
    assert listed("health") == listed("lookup") == set()
