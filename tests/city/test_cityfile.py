"""A city file: read and checked, applied idempotently, refused whole when it would remove what
was issued under, exported back out in the same shape (registry/city/cityfile.py)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import Engine, select

from registry.city.cityfile import (
    apply_city,
    export_city,
    read_city_file,
    read_type_file,
    write_city_file,
)
from registry.city.demo import DEMO_CITY, HEALTH, MARKET
from registry.city.setup import init_registry
from registry.cli import cli
from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.db.models import City, Department
from registry.errors import CityError, ConfigError
from registry.license.types import catalogue, entry_of, registered_types
from tests.conftest import FIXTURES, PASSPHRASE

JIANGHAI = FIXTURES / "cities" / "jianghai.toml"
WASTE = "11320600MB21060447001"


@pytest.fixture
def bare(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    init_registry(eng)
    yield eng
    eng.dispose()


def test_the_second_city_file_reads_as_its_city_types_and_departments() -> None:
    plan = read_city_file(JIANGHAI)
    assert (plan.division_code, plan.name) == ("320600", "江海市")
    assert [t.name for t in plan.types] == ["道路运输经营许可证", "药品经营许可证",
                                            "城市建筑垃圾处置核准"]
    waste = plan.types[2]
    assert (waste.code, waste.authority_name, waste.level) == (WASTE, "江海市城市管理局", "市")
    assert (waste.rules.open_ended, waste.rules.max_years) == (False, 2)
    assert waste.element("KZ_CZFS").title == "处置方式"
    assert not waste.element("KZ_BZ").required
    assert {d.uscc: d.division_code for d in plan.departments} == {
        "11320600MB210601XH": "320600", "11320600MB2106028H": "320600",
        "11320600MB21060447": "320602"}


def test_applying_a_city_file_twice_changes_nothing_the_second_time(bare: Engine) -> None:
    plan = read_city_file(JIANGHAI)
    with session_scope(bare) as s:
        changes = apply_city(s, plan)
    assert [(c.kind, c.action) for c in changes] == [("city", "added")] + [
        ("type", "added")] * 3 + [("department", "added")] * 3
    with session_scope(bare) as s:
        assert apply_city(s, plan) == []
        assert s.scalars(select(City.name)).all() == ["江海市"]
        assert sorted(registered_types(s)) == sorted(t.code for t in plan.types)


def test_an_exported_city_applies_to_an_empty_registry_as_the_same_city(
        bare: Engine, tmp_path: Path) -> None:
    with session_scope(bare) as s:
        apply_city(s, read_city_file(JIANGHAI))
        exported = export_city(s)
    for suffix in (".toml", ".yaml", ".json"):
        path = tmp_path / f"city{suffix}"
        write_city_file(exported, path)
        other = make_engine(f"sqlite:///{tmp_path / f'other{suffix}.db'}")
        init_registry(other)
        with session_scope(other) as s:
            apply_city(s, read_city_file(path))
            assert export_city(s) == exported
        with session_scope(bare) as s:
            assert apply_city(s, read_city_file(path)) == []  # the file says what it holds
        other.dispose()


def test_a_city_file_that_would_remove_what_was_issued_under_is_refused_whole(
        world: Engine, tmp_path: Path) -> None:
    text = DEMO_CITY.read_text("utf-8")
    without_health = text[: text.index("[[departments]]\nuscc = \"11330100MB1704122R\"")]
    path = tmp_path / "city.toml"
    path.write_text(without_health.replace('name = "示范市"', 'name = "新示范市"'), "utf-8")
    with pytest.raises(CityError, match=(
            f"department {HEALTH.uscc} 示范市卫生健康委员会 cannot be removed: it has 1 "
            "template")), session_scope(world) as s:
        apply_city(s, read_city_file(path))
    with session_scope(world) as s:  # the rename in the same file was rolled back too
        assert s.scalars(select(City.name)).all() == ["示范市"]
        assert len(s.scalars(select(Department)).all()) == 2


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.replace('division_code = "320600"', 'division_code = "3206"', 1),
     r"jianghai.toml: city/division_code: '3206' is not of the form"),
    (lambda t: t.replace('from_catalogue = "11100000MB16021266001"',
                         'from_catalogue = "11100000MB16021266009"'),
     r"license_types\[0\]: the catalogue has no license type 11100000MB16021266009"),
    (lambda t: t.replace('uscc = "11320600MB2106028H"', 'uscc = "11320600MB210601XH"'),
     "department 11320600MB210601XH is listed twice"),
    (lambda t: t.replace('code = "KZ_CZCS"', 'code = "CZCS"'),
     r"license_types/2/fields/0/code: 'CZCS' is not of the form"),
    (lambda t: t.replace('code = "11320600MB21060447001"', 'code = "11320600MB21060448001"'),
     r"type code '11320600MB21060448001' must be the defining authority's USCC"),
    (lambda t: t + "\n[[departments]]\nuscc = \"11320600MB2106036C\"\nname = \"新局\"\n"
                   "types = [\"11100000MB0143028R001\"]\n",
     "新局 would issue 11100000MB0143028R001, which this registry does not have"),
    (lambda t: t.replace("[city]", "[city", 1), "jianghai.toml: not a readable city file"),
])
def test_a_bad_city_file_is_refused_naming_the_file_and_the_place(
        bare: Engine, tmp_path: Path, change: object, message: str) -> None:
    path = tmp_path / "jianghai.toml"
    path.write_text(change(JIANGHAI.read_text("utf-8")), "utf-8")  # type: ignore[operator]
    with pytest.raises(ConfigError, match=message), session_scope(bare) as s:
        apply_city(s, read_city_file(path))
    with session_scope(bare) as s:
        assert registered_types(s) == {} and s.scalars(select(City)).all() == []


def test_a_city_file_may_name_its_own_catalogue(bare: Engine, tmp_path: Path) -> None:
    shutil.copy(JIANGHAI, tmp_path / "city.toml")
    road = catalogue()["11100000MB16021266001"]
    entry = {**entry_of(road), "name": "道路运输经营许可证（江海省目录）"}
    drug = entry_of(catalogue()["11100000MB17031387001"])
    (tmp_path / "省目录.json").write_text(json.dumps({"types": [entry, drug]},
                                                     ensure_ascii=False), "utf-8")
    text = (tmp_path / "city.toml").read_text("utf-8")
    (tmp_path / "city.toml").write_text(text.replace("[city]", 'catalogue = "省目录.json"\n\n'
                                                     "[city]", 1), "utf-8")
    plan = read_city_file(tmp_path / "city.toml")
    assert plan.types[0].name == "道路运输经营许可证（江海省目录）"


def test_a_type_file_is_an_entry_or_a_whole_document(tmp_path: Path) -> None:
    lt = catalogue()["11100000MB17031387001"]
    entry = tmp_path / "drug.yaml"
    entry.write_text(yaml.safe_dump(entry_of(lt), allow_unicode=True), "utf-8")
    document = tmp_path / "drug.json"
    document.write_text(json.dumps(lt.schema, ensure_ascii=False), "utf-8")
    assert read_type_file(entry).sha256 == read_type_file(document).sha256 == lt.sha256
    (tmp_path / "list.json").write_text("[]", "utf-8")
    with pytest.raises(CityError, match=r"list\.json: a license type file holds one type"):
        read_type_file(tmp_path / "list.json")


def test_city_apply_and_export_from_the_command_line(settings: Settings, db_url: str,
                                                     tmp_path: Path) -> None:
    env = {"LICREG_HOME": str(settings.home), "LICREG_DATABASE_URL": db_url,
           "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode(), "LICREG_LANG": None}
    runner = CliRunner()
    dry = runner.invoke(cli, ["city", "apply", str(JIANGHAI), "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines()[:2] == ["将会变更（--dry-run，未写入）：",
                                           "  已添加城市 江海市（320600）"]
    shown = runner.invoke(cli, ["city", "show"], env=env)
    assert shown.exit_code == 1 and "本系统尚未配置城市" in shown.output  # dry run wrote nothing
    applied = runner.invoke(cli, ["city", "apply", str(JIANGHAI), "--json"], env=env)
    assert [c["action"] for c in json.loads(applied.output)["changes"]] == ["added"] * 7
    again = runner.invoke(cli, ["--lang", "en", "city", "apply", str(JIANGHAI)], env=env)
    assert again.output == "nothing to change: the registry already matches\n"
    shown = runner.invoke(cli, ["city", "show"], env=env)
    assert shown.output.splitlines()[0] == "江海市（320600）：3 个部门，3 种证照类型"
    out = tmp_path / "exported.yaml"
    assert runner.invoke(cli, ["city", "export", "--out", str(out)], env=env).exit_code == 0
    assert read_city_file(out).name == "江海市"
    toml = runner.invoke(cli, ["city", "export"], env=env).output
    assert toml.startswith('[city]\ndivision_code = "320600"\nname = "江海市"\n')


def test_the_demo_is_its_city_file() -> None:
    plan = read_city_file(DEMO_CITY)
    assert (plan.division_code, plan.name) == ("330100", "示范市")
    assert {d.uscc: set(d.type_codes) for d in plan.departments} == {
        MARKET.uscc: set(MARKET.type_codes), HEALTH.uscc: set(HEALTH.type_codes)}
