"""Layouts (registry.template.layout): every license type has a default layout that checks,
and a broken one is refused naming where (no database)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from registry.errors import LayoutError
from registry.license.types import catalogue
from registry.template.layout import LAYOUT_DIR, LAYOUT_SCHEMA, check_layout, default_layout

BIZ = "11100000MB0143028R001"


def test_every_catalogue_type_has_a_default_layout_that_checks() -> None:
    """Drawn (the demo types' files in schemas/layouts/) or generated (the others)."""
    schema = json.loads(LAYOUT_SCHEMA.read_text("utf-8"))
    types = catalogue()
    drawn = {code for code, lt in types.items() if lt.layout is not None}
    assert drawn == {p.stem for p in LAYOUT_DIR.glob("*.json")} and drawn < set(types)
    for lt in types.values():
        layout = default_layout(lt)
        jsonschema.validate(layout, schema)
        assert check_layout(layout, lt) == layout
        shown = {f["element"] for f in layout["fields"]}
        assert {f.code for f in lt.face_fields} <= shown


def _broken(change: str) -> dict[str, Any]:
    layout = default_layout(catalogue()[BIZ])
    if change == "no page":
        del layout["page"]
    elif change == "negative x":
        layout["fields"][0]["x_mm"] = -1
    elif change == "unknown key":
        layout["seal"]["colour"] = "red"
    elif change == "off the page":
        layout["seal"]["x_mm"] = 280
    elif change == "not an element":
        layout["fields"][0]["element"] = "KZ_NOPE"
    elif change == "twice":
        layout["fields"].append(dict(layout["fields"][0]))
    elif change == "face field missing":
        layout["fields"] = [f for f in layout["fields"] if f["element"] != "KZ_JYFW"]
    elif change == "date-zh on text":
        layout["fields"][1]["format"] = "date-zh"
    elif change == "label too wide":
        layout["fields"][0]["label_width_mm"] = layout["fields"][0]["width_mm"]
    return layout


@pytest.mark.parametrize(("change", "message"), [
    ("no page", r"layout \(top\): 'page' is missing"),
    ("negative x", "layout fields/0/x_mm: -1 is less than the minimum of 0"),
    ("unknown key", r"layout seal: 'colour' is not allowed here \(allowed: size_mm, x_mm, "
                    r"y_mm\)"),
    ("off the page", r"layout seal: box at \(280, 143\) mm of 40 x 40 mm goes past the "
                     r"297 x 210 mm page"),
    ("not an element", r"layout fields/0: KZ_NOPE is not an element of 营业执照"),
    ("twice", "layout fields/13: CZZTDM is shown twice"),
    ("face field missing", r"does not show KZ_JYFW \(经营范围\)"),
    ("date-zh on text", r"layout fields/1: date-zh on CZZT \(持证主体\), which is not a date"),
    ("label too wide", "label_width_mm leaves no room for the value"),
])
def test_a_broken_layout_is_refused_naming_where(change: str, message: str) -> None:
    with pytest.raises(LayoutError, match=message):
        check_layout(_broken(change), catalogue()[BIZ])
