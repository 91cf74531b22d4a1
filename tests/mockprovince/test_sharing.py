"""The mock platform's sharing side (registry.mockprovince.sharing): licenses by holder, with
a cause, face-data checks per element, the use log.

Items are built from a real registry (demo world, licenses sealed as ingest seals them, then
lifecycle steps) exactly as the sync builds them (:class:`tests.support.province.World`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from registry.province.wire import SHARE_CHECK_PATH, SHARE_LOG_PATH, SHARE_QUERY_PATH
from tests.support.province import TOKENS, Platform, World, platform, push

HOLDER = "91330102MAT9HT456F"
BIZ = "11100000MB0143028R001"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("aggregation-world"))


@pytest.fixture
def plat(world: World) -> Iterator[Platform]:
    yield from platform(world.settings)


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
