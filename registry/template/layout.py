"""Template layouts: where the title, fields, identifier, seal and QR code go on the page.

A layout is JSON described by ``schemas/template-layout.schema.json`` (millimetres, origin at
the page's top-left, y downward). Each license type has a default in
``schemas/layouts/<type code>.json``; a template version stores its own copy, so changing a file
never changes a template already made. :func:`check_layout` applies the schema and the rules a
schema cannot state:

1. every box lies inside the page;
2. every field names an element of the license type, once;
3. every face field (KZ_*) and the base elements a reader needs (:data:`MUST_SHOW`) are shown;
4. ``date-zh`` formats only date elements.

>>> from registry.license.types import load_license_types
>>> lt = load_license_types()["11100000MB0143028R001"]
>>> layout = check_layout(default_layout(lt.code), lt)
>>> layout["page"]["width_mm"], layout["seal"]["size_mm"]
(297, 40)
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from registry.config import SCHEMA_DIR
from registry.errors import LayoutError
from registry.license.types import LicenseType

__all__ = [
    "LAYOUT_DIR",
    "LAYOUT_SCHEMA",
    "MUST_SHOW",
    "check_layout",
    "default_layout",
    "load_layout_file",
]

LAYOUT_SCHEMA = SCHEMA_DIR / "template-layout.schema.json"
LAYOUT_DIR = SCHEMA_DIR / "layouts"
MUST_SHOW = ("CZZT", "CZZTDM", "ZZBH", "ZZBFJG", "ZZBFRQ", "ZZYXQQSRQ", "ZZYXQJZRQ")
"""Base elements every layout prints (besides all face fields): holder, number, issuer, dates."""


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(LAYOUT_SCHEMA.read_text("utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)  # type: ignore[no-any-return]


def load_layout_file(path: Path) -> dict[str, Any]:
    """Read a layout file (not yet checked: pass it to :func:`check_layout`)."""
    try:
        doc = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise LayoutError(f"cannot read layout {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise LayoutError(f"layout {path} is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise LayoutError(f"layout {path} must be a JSON object")
    return doc


def default_layout(type_code: str) -> dict[str, Any]:
    """A copy of ``schemas/layouts/<type_code>.json``; LayoutError if the type has none."""
    path = LAYOUT_DIR / f"{type_code}.json"
    if not path.exists():
        raise LayoutError(f"license type {type_code} has no default layout ({path} is missing)")
    return load_layout_file(path)


def _where(path: Any) -> str:
    return "/".join(str(p) for p in path) or "(top)"


def _box(name: str, box: dict[str, Any], page: dict[str, Any]) -> None:
    width = box.get("width_mm", box.get("size_mm"))
    height = box.get("height_mm", box.get("size_mm"))
    if box["x_mm"] + width > page["width_mm"] or box["y_mm"] + height > page["height_mm"]:
        raise LayoutError(
            f"layout {name}: box at ({box['x_mm']}, {box['y_mm']}) mm of {width} x {height} mm "
            f"goes past the {page['width_mm']} x {page['height_mm']} mm page"
        )


def check_layout(layout: dict[str, Any], license_type: LicenseType) -> dict[str, Any]:
    """A checked copy of ``layout`` for ``license_type``; LayoutError naming the first problem."""
    errors = sorted(_validator().iter_errors(layout), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise LayoutError(f"layout {_where(first.absolute_path)}: {first.message}{more}")
    page = layout["page"]
    # (1) every box on the page.
    for name in ("title", "identifier", "seal", "qr"):
        _box(name, layout[name], page)
    for i, field in enumerate(layout["fields"]):
        _box(f"fields/{i} ({field['element']})", field, page)
        if field.get("label_width_mm", 0) >= field["width_mm"]:
            raise LayoutError(f"layout fields/{i} ({field['element']}): label_width_mm leaves "
                              f"no room for the value")
    # (2) elements of this type, each once; (4) date-zh on dates only.
    shown: set[str] = set()
    for i, field in enumerate(layout["fields"]):
        code = field["element"]
        try:
            element = license_type.element(code)
        except KeyError:
            raise LayoutError(f"layout fields/{i}: {code} is not an element of "
                              f"{license_type.name} ({license_type.code})") from None
        if code in shown:
            raise LayoutError(f"layout fields/{i}: {code} is shown twice")
        shown.add(code)
        if field.get("format") == "date-zh" and not element.is_date:
            raise LayoutError(f"layout fields/{i}: date-zh on {code} ({element.title}), "
                              f"which is not a date")
    # (3) what a reader of the license needs to see.
    needed = [*MUST_SHOW, *(f.code for f in license_type.face_fields)]
    missing = [c for c in needed if c not in shown]
    if missing:
        names = ", ".join(f"{c} ({license_type.element(c).title})" for c in missing)
        raise LayoutError(f"layout for {license_type.name} ({license_type.code}) does not show "
                          f"{names}")
    return copy.deepcopy(layout)
