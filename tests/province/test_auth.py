"""Credentials between the registry and the platform (registry.province.auth): HMAC signatures
and bearer tokens, checked by the mock platform.

Items are built from a real registry (demo world, licenses sealed as ingest seals them, then
lifecycle steps) exactly as the sync builds them (:class:`tests.support.province.World`).
"""

from __future__ import annotations

import logging

import pytest

from registry.errors import AggregationError
from registry.province.auth import Credential
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
