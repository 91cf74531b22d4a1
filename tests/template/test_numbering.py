"""Numbering rules (registry.template.numbering): checked, and numbers assigned by them (no
database)."""

from __future__ import annotations

import pytest

from registry.errors import NumberingError
from registry.template.numbering import assign_number, check_numbering


def test_numbering_rules() -> None:
    assert check_numbering(None) == {"assigned_by": "department"}
    rule = check_numbering({"assigned_by": "registry", "pattern": "YY-{division}-{yyyy}-{seq:5}"})
    assert assign_number(rule, division_code="330100", year=2026, seq=7) == "YY-330100-2026-00007"
    with pytest.raises(NumberingError, match="does not fit in 5 digits"):
        assign_number(rule, division_code="330100", year=2026, seq=100_000)
    with pytest.raises(NumberingError, match="assigned by the department"):
        assign_number({"assigned_by": "department"}, division_code="330100", year=2026, seq=1)
    for bad, message in (
        ({"assigned_by": "registry", "pattern": "{yyyy}"}, r"exactly one \{seq:N\}"),
        ({"assigned_by": "registry", "pattern": "{seq:0}"}, "needs N of 1-12"),
        ({"assigned_by": "registry", "pattern": "{month}{seq:3}"}, "unknown field {month}"),
        ({"assigned_by": "registry", "pattern": "证{seq:3}"}, "literal text '证'"),
        ({"assigned_by": "province"}, "must be 'department' or 'registry'"),
        ({"assigned_by": "department", "pattern": "{seq:3}"}, "takes no other keys"),
    ):
        with pytest.raises(NumberingError, match=message):
            check_numbering(bad)
