"""Structuring a normalized row into elements and an identifier."""

from __future__ import annotations

import jsonschema
import pytest
import referencing

from registry.license.codes import parse_license_identifier
from registry.license.issue import Issuer, build_elements, next_version, serial_for, with_identifier
from registry.license.types import base_schema, catalogue

BIZ = "11100000MB0143028R001"
ISSUER = Issuer("示范市市场监督管理局", "11330100MB1703218R")
ROW = {
    "ZZBH": "330100000012345", "CZZT": "示范市青禾餐饮管理有限公司", "CZZTDM": "91330100MA2H3K4L4W",
    "CZZTDMLXDM": "001", "ZZBFRQ": "20240105", "ZZYXQQSRQ": "20240105", "ZZYXQJZRQ": "长期",
    "KZ_LX": "有限责任公司", "KZ_FDDBR": "李堃", "KZ_ZCZB": "100万元人民币", "KZ_CLRQ": "20200301",
    "KZ_ZS": "示范市西湖路1号", "KZ_JYFW": "餐饮服务", "ZZMC": "",
}


def _validator(type_code: str) -> jsonschema.Draft202012Validator:
    base = base_schema()
    registry = referencing.Registry().with_resource(
        base["$id"], referencing.Resource.from_contents(base))
    return jsonschema.Draft202012Validator(catalogue()[type_code].schema,
                                           registry=registry)


def test_elements_validate_against_the_type_schema() -> None:
    lt = catalogue()[BIZ]
    elements = with_identifier(build_elements(ROW, lt, ISSUER))
    _validator(BIZ).validate(elements)
    assert elements["ZZMC"] == "营业执照"  # defaulted from the type
    assert elements["CZZTDMLX"] == "统一社会信用代码"
    assert elements["ZZBFJGDM"] == ISSUER.uscc


def test_schema_refuses_unknown_and_missing_elements() -> None:
    lt = catalogue()[BIZ]
    elements = with_identifier(build_elements(ROW, lt, ISSUER))
    validator = _validator(BIZ)
    assert not validator.is_valid({**elements, "KZ_UNKNOWN": "x"})
    assert not validator.is_valid({k: v for k, v in elements.items() if k != "KZ_FDDBR"})


def test_business_license_face_fields_are_exactly_the_six() -> None:
    titles = [f.title for f in catalogue()[BIZ].face_fields]
    assert titles == ["类型", "法定代表人", "注册资本", "成立日期", "住所", "经营范围"]


@pytest.mark.parametrize("lt", list(catalogue().values()), ids=lambda t: t.name)
def test_type_codes_follow_the_21_character_rule(lt) -> None:  # type: ignore[no-untyped-def]
    from registry.license.codes import uscc_is_valid

    assert len(lt.code) == 21 and lt.code[18:].isdigit()
    assert uscc_is_valid(lt.code[:18]) and lt.code.startswith(lt.authority_code)


def test_identifier_is_deterministic_and_versions_differ_only_in_version() -> None:
    lt = catalogue()[BIZ]
    e = build_elements(ROW, lt, ISSUER)
    first, second = with_identifier(e)["ZZBS"], with_identifier(e, "002")["ZZBS"]
    p1, p2 = parse_license_identifier(first), parse_license_identifier(second)
    assert p1.serial == p2.serial == serial_for(BIZ, "330100000012345")
    assert (p1.version, p2.version) == ("001", "002")
    assert next_version("009") == "010"
