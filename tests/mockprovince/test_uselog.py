"""The platform's use log, read side (registry.mockprovince.uselog): each use's items, and
``GET /api/v1/share/uses`` summing them per department, type and use cause.

The uses are made over HTTP on the in-process platform, on items built from a real registry
(:class:`tests.support.province.World`: five 营业执照 of one holder, one changed).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from registry.city.demo import MARKET
from registry.mockprovince.uselog import check_items, department_of, query_items, type_of
from registry.province.wire import SHARE_CHECK_PATH, SHARE_QUERY_PATH, SHARE_USES_PATH
from tests.support.province import NOW, TOKENS, Platform, World, platform, push

HOLDER = "91330102MAT9HT456F"
BIZ = "11100000MB0143028R001"
AUTH = {"Authorization": f"Bearer {TOKENS['city']}", "X-Access-Id": "city"}
PUSHED_AT = NOW + dt.timedelta(hours=1)  # the in-process platform's pinned clock


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("uselog-world"))


@pytest.fixture
def plat(world: World) -> Iterator[Platform]:
    yield from platform(world.settings)


def share(plat: Platform, path: str, body: dict[str, Any]) -> httpx.Response:
    return plat.http.post(path, content=json.dumps(body, ensure_ascii=False).encode(),
                          headers=AUTH)


def uses(plat: Platform, **params: str) -> httpx.Response:
    return plat.http.get(SHARE_USES_PATH, params=params, headers=AUTH)


def test_items_name_the_department_and_type_of_each_license() -> None:
    ident = f"1.2.156.3005.2.{BIZ}.{MARKET.uscc}.E51B.001.C"
    assert (department_of(ident), type_of(ident)) == (MARKET.uscc, BIZ)
    assert department_of("not-an-identifier") is None and type_of(None) is None
    assert query_items([{"ZZBS": ident}], type_code=None) == [(ident, BIZ, "SERVED")]
    assert check_items({"result": "NOT_FOUND", "ZZBS": None}, identifier=None,
                       type_code=BIZ) == [(None, BIZ, "NOT_FOUND")]


def test_uses_are_summed_per_department_type_cause_and_outcome(plat: Platform,
                                                               world: World) -> None:
    push(plat, world, *world.items)
    v2 = world.item(world.v2, "09")["elements"]
    assert len(share(plat, SHARE_QUERY_PATH, {"holderCode": HOLDER, "typeCode": BIZ,
                                              "useCause": "办理经营许可"}).json()["licenses"]) == 5
    share(plat, SHARE_QUERY_PATH, {"holderCode": "X", "typeCode": BIZ, "useCause": "查询"})
    share(plat, SHARE_CHECK_PATH, {"typeCode": BIZ, "ZZBH": v2["ZZBH"], "useCause": "核验营业执照",
                                   "elements": {"KZ_FDDBR": "张三"}})
    share(plat, SHARE_CHECK_PATH, {"ZZBS": world.v2, "elements": {"KZ_FDDBR": "李四"},
                                   "useCause": "核验"})
    share(plat, SHARE_CHECK_PATH, {"ZZBS": world.v2[:-1] + "0", "elements": {"KZ_FDDBR": "李四"},
                                   "useCause": "核验"})
    answer = uses(plat).json()
    assert answer["since"] is None and answer["until"] == PUSHED_AT.isoformat()
    assert [(u["department"], u["typeCode"], u["useCause"], u["action"], u["outcome"], u["uses"])
            for u in answer["uses"]] == [
        (None, BIZ, "查询", "query", "EMPTY", 1),
        (MARKET.uscc, BIZ, "办理经营许可", "query", "SERVED", 5),
        (MARKET.uscc, BIZ, "核验", "check", "MATCH", 1),
        (MARKET.uscc, BIZ, "核验", "check", "NOT_FOUND", 1),  # the identifier names market
        (MARKET.uscc, BIZ, "核验营业执照", "check", "MISMATCH", 1),
    ]
    # five licenses served, v2 among them compared twice; the unknown identifier is none
    assert answer["licenses"] == [{"department": MARKET.uscc, "typeCode": BIZ, "licenses": 5}]
    assert {(r["action"], r["outcome"]): r["requests"] for r in answer["requests"]} == {
        ("check", "MATCH"): 1, ("check", "MISMATCH"): 1, ("check", "NOT_FOUND"): 1,
        ("query", "EMPTY"): 1, ("query", "SERVED"): 1}
    # a window is [since, until): the uses were logged at the platform's clock
    after = (PUSHED_AT + dt.timedelta(seconds=1)).isoformat()
    assert uses(plat, since=after, until=after).json()["uses"] == []
    assert uses(plat, until=PUSHED_AT.isoformat()).json()["uses"] == []
    assert len(uses(plat, since=PUSHED_AT.isoformat(), until=after).json()["uses"]) == 5


def test_the_summary_needs_credentials_and_real_times(plat: Platform) -> None:
    assert plat.http.get(SHARE_USES_PATH).status_code == 401
    bad = uses(plat, since="last week")
    assert (bad.status_code, bad.json()) == (400, {"detail": "since is not an ISO 8601 time: "
                                                             "'last week'"})
    naive = uses(plat, until="2026-11-27T00:00:00")
    assert naive.status_code == 400 and "needs a time zone" in naive.json()["detail"]
    backwards = uses(plat, since="2026-11-28T00:00:00+00:00", until="2026-11-27T00:00:00+00:00")
    assert backwards.json() == {"detail": "since is after until"}
