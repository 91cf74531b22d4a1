"""Setting a registry up one thing at a time: the city, types, departments, and the checks each
step makes (registry/city/setup.py), through the library and ``licreg department/type``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from registry.city.demo import MARKET
from registry.city.setup import (
    add_department,
    department_detail,
    init_registry,
    register_type,
    remove_department,
    remove_type,
    set_city,
    update_department,
)
from registry.cli import cli
from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.errors import CityError, DepartmentNotFound, LicenseTypeNotFound
from registry.license.types import (
    CATALOGUE,
    catalogue,
    license_type,
    parse_type,
    registered_types,
)
from tests.conftest import PASSPHRASE

ROAD = "11100000MB16021266001"
DRUG = "11100000MB17031387001"
TRANSPORT = "11320600MB210601XH"


@pytest.fixture
def bare(db_url: str) -> Iterator[Engine]:
    """A migrated registry with nothing in it: no city, no types, no departments."""
    eng = make_engine(db_url)
    init_registry(eng)
    yield eng
    eng.dispose()


def test_an_empty_registry_has_no_types_until_one_is_registered(bare: Engine) -> None:
    with session_scope(bare) as s:
        assert registered_types(s) == {}
        with pytest.raises(LicenseTypeNotFound, match=f"no license type {ROAD}"):
            license_type(s, ROAD)
        changes = register_type(s, catalogue()[ROAD])
        assert [(c.kind, c.key, c.action) for c in changes] == [("type", ROAD, "added")]
        assert license_type(s, ROAD).name == "道路运输经营许可证"
        assert register_type(s, catalogue()[ROAD]) == []  # the same document: nothing


def test_a_changed_type_document_replaces_the_registered_one(bare: Engine) -> None:
    lt = catalogue()[ROAD]
    changed = {**lt.schema, "title": "道路运输经营许可证（正本）"}
    with session_scope(bare) as s:
        register_type(s, lt)
        changes = register_type(s, parse_type(changed, where="test"))
        assert [c.action for c in changes] == ["updated"]
    with session_scope(bare) as s:
        assert license_type(s, ROAD).name == "道路运输经营许可证（正本）"


def test_the_city_is_set_once_and_renamed_but_never_replaced(bare: Engine) -> None:
    with session_scope(bare) as s:
        assert [c.action for c in set_city(s, division_code="320600", name="江海市")] == ["added"]
        assert set_city(s, division_code="320600", name="江海市") == []
        assert [c.action for c in set_city(s, division_code="320600", name="新江海市")] == [
            "updated"]
        with pytest.raises(CityError, match=r"serves 新江海市 \(320600\); it cannot become 330100"):
            set_city(s, division_code="330100", name="示范市")
        with pytest.raises(CityError, match="six-digit"):
            set_city(s, division_code="3206", name="x")


def test_a_department_is_checked_before_it_is_added(bare: Engine) -> None:
    with session_scope(bare) as s:
        register_type(s, catalogue()[ROAD])
        with pytest.raises(CityError, match="wrong check character, it should be H"):
            add_department(s, uscc=TRANSPORT[:-1] + "J", name="江海市交通运输局",
                           division_code="320600", type_codes=[ROAD])
        with pytest.raises(CityError, match="is not a USCC"):
            add_department(s, uscc="1132060", name="江海市交通运输局", division_code="320600",
                           type_codes=[ROAD])
        with pytest.raises(CityError, match="six-digit GB/T 2260"):
            add_department(s, uscc=TRANSPORT, name="江海市交通运输局", division_code="32060X",
                           type_codes=[ROAD])
        with pytest.raises(CityError, match=f"would issue {DRUG}, which this registry does not"):
            add_department(s, uscc=TRANSPORT, name="江海市交通运输局", division_code="320600",
                           type_codes=[ROAD, DRUG])
        add_department(s, uscc=TRANSPORT, name="江海市交通运输局", division_code="320600",
                       type_codes=[ROAD], short_name="交通局")
        with pytest.raises(CityError, match="exists already"):
            add_department(s, uscc=TRANSPORT, name="又一个", division_code="320600",
                           type_codes=[])
        d = department_detail(s, TRANSPORT)
        assert (d["name"], d["short_name"], d["types"], d["seals"], d["licenses"]) == (
            "江海市交通运输局", "交通局", [{"code": ROAD, "name": "道路运输经营许可证"}], [], 0)


def test_updating_a_department_says_what_changed(bare: Engine) -> None:
    with session_scope(bare) as s:
        for code in (ROAD, DRUG):
            register_type(s, catalogue()[code])
        add_department(s, uscc=TRANSPORT, name="江海市交通局", division_code="320600",
                       type_codes=[ROAD])
        [change] = update_department(s, uscc=TRANSPORT, name="江海市交通运输局",
                                     type_codes=[ROAD, DRUG])
        assert str(change) == (f"department {TRANSPORT} 江海市交通运输局: name 江海市交通局 → "
                               f"江海市交通运输局; now issues {DRUG}")
        assert update_department(s, uscc=TRANSPORT, name="江海市交通运输局") == []
        [change] = update_department(s, uscc=TRANSPORT, type_codes=[ROAD])
        assert str(change).endswith(f"no longer issues {DRUG}")
        with pytest.raises(DepartmentNotFound, match="no department 11320600MB2106028H"):
            update_department(s, uscc="11320600MB2106028H", name="x")


def test_what_was_issued_under_cannot_be_removed(world: Engine) -> None:
    biz = "11100000MB0143028R001"
    with session_scope(world) as s:
        with pytest.raises(CityError, match=r"cannot be removed: it has 2 templates"):
            remove_department(s, MARKET.uscc)
        with pytest.raises(CityError, match=r"营业执照 cannot be removed: it has 1 template$"):
            remove_type(s, biz)
        with pytest.raises(CityError, match=r"cannot stop issuing .*R001: it has 1 template$"):
            update_department(s, uscc=MARKET.uscc, type_codes=["11100000MB0143028R002"])


def test_an_unused_department_and_type_are_removed(bare: Engine) -> None:
    with session_scope(bare) as s:
        register_type(s, catalogue()[ROAD])
        add_department(s, uscc=TRANSPORT, name="江海市交通运输局", division_code="320600",
                       type_codes=[ROAD])
        with pytest.raises(CityError, match="cannot be removed: 1 department issues it"):
            remove_type(s, ROAD)
        assert [c.action for c in remove_department(s, TRANSPORT)] == ["removed"]
        assert [c.action for c in remove_type(s, ROAD)] == ["removed"]
        assert registered_types(s) == {}


# -- the commands ------------------------------------------------------------------------------


def _licreg(settings: Settings, *args: str, lang: str | None = None) -> Result:
    env = {"LICREG_HOME": str(settings.home), "LICREG_DATABASE_URL": settings.database_url,
           "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode(), "LICREG_LANG": lang}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_a_department_and_a_type_one_at_a_time_in_chinese_by_default(
        bare: Engine, settings: Settings, tmp_path: Path) -> None:
    entry = tmp_path / "waste.toml"
    entry.write_text('''
code = "11320600MB21060447001"
name = "城市建筑垃圾处置核准"
authority = { name = "江海市城市管理局", code = "11320600MB21060447" }
validity = { open_ended = false, max_years = 2 }
fields = [{ code = "KZ_CZCS", title = "处置场所" }]
''', encoding="utf-8")
    r = _licreg(settings, "type", "add", str(entry))
    assert r.exit_code == 0 and r.output == (
        "  已添加证照类型 11320600MB21060447001 城市建筑垃圾处置核准\n")
    r = _licreg(settings, "type", "add", str(entry))
    assert r.exit_code == 1 and "证照类型 11320600MB21060447001 已存在" in r.output
    r = _licreg(settings, "type", "show", "11320600MB21060447001")
    assert "有效期：长期不允许；最长2年" in r.output and "KZ_CZCS        处置场所" in r.output
    r = _licreg(settings, "--lang", "en", "type", "show", "11320600MB21060447001")
    assert "validity: open-ended (长期) not allowed; longest 2 years" in r.output

    r = _licreg(settings, "department", "add", "--uscc", "11320600MB21060447", "--name",
                "江海市城市管理局", "--type", "11320600MB21060447001")
    assert r.exit_code == 1 and "本系统尚未配置城市" in r.output  # the division comes from it
    r = _licreg(settings, "department", "add", "--uscc", "11320600MB21060447", "--name",
                "江海市城市管理局", "--division-code", "320602", "--type",
                "11320600MB21060447001")
    assert r.exit_code == 0 and "已添加部门 11320600MB21060447 江海市城市管理局" in r.output
    r = _licreg(settings, "department", "update", "11320600MB21060447", "--short-name", "城管局",
                "--json")
    assert json.loads(r.output)["changes"][0]["action"] == "updated"
    r = _licreg(settings, "department", "show", "11320600MB21060447")
    assert r.output.splitlines()[:2] == ["11320600MB21060447  江海市城市管理局（城管局）",
                                         "  行政区划代码：320602"]
    r = _licreg(settings, "department", "add", "--uscc", "11320600MB2106028X", "--name",
                "江海市市场监督管理局", "--division-code", "320600")
    assert r.exit_code == 1
    assert r.output == ("错误：部门 江海市市场监督管理局：统一社会信用代码 11320600MB2106028X "
                        "校验位错误，应为H\n")


def test_a_catalogue_is_imported_whole_or_in_part(bare: Engine, settings: Settings,
                                                  tmp_path: Path) -> None:
    csv = tmp_path / "目录.csv"
    csv.write_text(
        "type_code,type_name,authority_name,authority_code,level,holder_types,field_code,"
        "field_title,required,date\n"
        "11320600MB21060447002,户外广告设施设置许可,江海市城市管理局,11320600MB21060447,市,001,"
        "KZ_SZDD,设置地点,是,否\n"
        "11320600MB21060447002,户外广告设施设置许可,江海市城市管理局,11320600MB21060447,市,001,"
        "KZ_SZQX,设置期限,是,是\n", encoding="utf-8")
    r = _licreg(settings, "--lang", "en", "type", "import", str(csv))
    assert r.output == "  license type 11320600MB21060447002 户外广告设施设置许可 added\n"
    r = _licreg(settings, "type", "list", "--json")
    [row] = json.loads(r.output)
    assert row["face_fields"] == {"KZ_SZDD": "设置地点", "KZ_SZQX": "设置期限"}
    r = _licreg(settings, "--lang", "en", "type", "import",
                str(CATALOGUE), "--only", ROAD, "--only", DRUG)
    assert r.output.count("added") == 2
    r = _licreg(settings, "--lang", "en", "type", "import",
                str(CATALOGUE), "--only", "11100000MB16021266009")
    assert r.exit_code == 1 and "the catalogue has no license type 11100000MB16021266009" in (
        r.output)
    r = _licreg(settings, "--lang", "en", "type", "remove", ROAD)
    assert r.output == f"  license type {ROAD} 道路运输经营许可证 removed\n"


def test_a_department_s_seals_are_shown_with_their_status_in_words(
        world: Engine, settings: Settings) -> None:
    zh = _licreg(settings, "department", "show", MARKET.uscc)
    assert zh.exit_code == 0
    assert ("  印章：\n    330100MB17032180001  示范市市场监督管理局行政审批专用章  已启用\n"
            in zh.output)
    en = _licreg(settings, "department", "show", MARKET.uscc, lang="en")
    assert "    330100MB17032180001  示范市市场监督管理局行政审批专用章  active\n" in en.output
