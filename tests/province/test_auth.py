"""Credentials between the registry and the platform (registry.province.auth): HMAC signatures
and bearer tokens, checked by the mock platform.

Items are built from a real registry (demo world, licenses sealed as ingest seals them, then
lifecycle steps) exactly as the sync builds them (:class:`tests.support.province.World`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import pytest

from registry.errors import AggregationError, ConfigError
from registry.province.auth import Authenticator, Credential, load_credentials, signature_of
from registry.province.wire import AckResult
from tests.support.province import NOW, TOKENS, World, platform, province_client


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("aggregation-world"))


def test_hmac_and_bearer_credentials(world: World, caplog: pytest.LogCaptureFixture) -> None:
    gen = platform(world.settings, credentials=[Credential("other", "TEST-ONLY-key", "hmac",
                                                         region="330100")])
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


@pytest.mark.parametrize(("entry", "message"), [
    ('access_id = "a"\nsecret = "s"\nrole = "x"', "credential 1: unknown key(s) role"),
    ('access_id = "a"\nsecret_env = "NOT_SET_ANYWHERE"', "environment variable NOT_SET_ANYWHERE "
                                                         "is not set"),
    ('access_id = "a"\nsecret = "s"\nregion = "浙江"', "region must be 2 to 6 digits"),
    ('access_id = "a"\nsecret = "s"\ndepartments = ["1133"]', "'1133' is not an 18-character"),
    ('access_id = "a"\nsecret = "s"\nscheme = "basic"', "unknown credential scheme 'basic'"),
    ('access_id = 7\nsecret = "s"', "access_id, scheme, secret and region are strings"),
], ids=["unknown-key", "missing-env", "region", "uscc", "scheme", "type"])  # fmt: skip
def test_a_bad_credentials_file_is_named_with_its_entry(
    tmp_path: Path, entry: str, message: str
) -> None:
    path = tmp_path / "credentials.toml"
    path.write_text(f"[[credential]]\n{entry}\n", encoding="utf-8")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        load_credentials(path, environ={})
    assert str(path) in str(info.value)


def test_a_credentials_file_reads_secrets_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "credentials.toml"
    path.write_text('[[credential]]\naccess_id = "city"\nsecret_env = "CITY_TOKEN"\n'
                    'region = "330100"\n', encoding="utf-8")  # fmt: skip
    path.chmod(0o640)
    with pytest.raises(ConfigError, match="readable by others"):
        load_credentials(path, environ={"CITY_TOKEN": "TEST-ONLY-t"})
    path.chmod(0o600)
    (city,) = load_credentials(path, environ={"CITY_TOKEN": "TEST-ONLY-t"})
    assert (city.access_id, city.secret, city.scheme, city.region) == (
        "city", "TEST-ONLY-t", "token", "330100")
    assert "TEST-ONLY-t" not in repr(city)
    # a city's code covers its districts, not its neighbours
    assert [city.covers(u) for u in ("11330100MB1703218R", "11330102MB0000000X",
                                     "11330200MB0000000X")] == [True, True, False]  # fmt: skip


@pytest.mark.parametrize("timestamp", ["nan", "1e9", "-5", "１７００"])
def test_a_timestamp_is_whole_unix_seconds(timestamp: str) -> None:
    key = Credential("other", "TEST-ONLY-key", "hmac", region="35")
    headers = {"X-Access-Id": "other", "X-Timestamp": timestamp, "X-Nonce": "n" * 20,
               "X-Signature": signature_of(key.secret, "GET", "/", timestamp, "n" * 20,
                                           hashlib.sha256(b"").hexdigest())}  # fmt: skip
    result = Authenticator({"other": key}).check(method="GET", path="/", body=b"",
                                                 headers=headers, now=1_700_000_000)  # fmt: skip
    assert (result.access_id, result.reason) == (None, "X-Timestamp is not whole Unix seconds")
