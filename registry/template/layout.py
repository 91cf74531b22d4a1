"""Template layouts: where the title, fields, identifier, seal and QR code go on the page.

A layout is JSON described by ``schemas/template-layout.schema.json`` (millimetres, origin at
the page's top-left, y downward); a renderer reads it as a typed :class:`Layout`
(:func:`layout_for`: the template's own, else the type's default). A license type's default
is the layout its document carries (``x-layout``: the demo types draw theirs in
``schemas/layouts/``), else the plain A4 page :func:`generated_layout` lays out from its face
fields; a template version stores its own copy, so changing a type never changes a template
already made. :func:`check_layout`
applies the schema and the rules a schema cannot state:

1. every box lies inside the page;
2. every field names an element of the license type, once;
3. every face field (KZ_*) and the base elements a reader needs (:data:`MUST_SHOW`) are shown;
4. ``date-zh`` formats only date elements.

>>> from registry.license.types import catalogue
>>> lt = catalogue()["11100000MB0143028R001"]
>>> layout = check_layout(default_layout(lt), lt)
>>> layout["page"]["width_mm"], layout["seal"]["size_mm"]
(297, 40)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from registry.config import SCHEMA_DIR
from registry.errors import LayoutError
from registry.i18n import SEPARATOR, _, ngettext, os_reason, word
from registry.license.types import LicenseType
from registry.schemacheck import problem_of

__all__ = [
    "LAYOUT_DIR",
    "LAYOUT_SCHEMA",
    "MUST_SHOW",
    "Box",
    "FieldBox",
    "Layout",
    "Page",
    "SquareBox",
    "check_layout",
    "default_layout",
    "generated_layout",
    "layout_for",
    "load_layout_file",
]

LAYOUT_SCHEMA = SCHEMA_DIR / "template-layout.schema.json"
LAYOUT_DIR = SCHEMA_DIR / "layouts"
"""The default layouts of the shipped catalogue's types (its ``x-layout``, one file each)."""
MUST_SHOW = ("CZZT", "CZZTDM", "ZZBH", "ZZBFJG", "ZZBFRQ", "ZZYXQQSRQ", "ZZYXQJZRQ")
"""Base elements every layout prints (besides all face fields): holder, number, issuer, dates."""


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(LAYOUT_SCHEMA.read_text("utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def load_layout_file(path: Path) -> dict[str, Any]:
    """Read a layout file (not yet checked: pass it to :func:`check_layout`)."""
    try:
        doc = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise LayoutError(_("cannot read layout {file}: {detail}", file=path,
                            detail=os_reason(exc))) from exc
    except ValueError as exc:
        raise LayoutError(_("layout {file} is not JSON: {detail}", file=path,
                            detail=exc)) from exc
    if not isinstance(doc, dict):
        raise LayoutError(_("layout {file} must be a JSON object", file=path))
    return doc


def default_layout(license_type: LicenseType) -> dict[str, Any]:
    """A copy of the type's default layout (its document's ``x-layout``), else the plain A4
    page :func:`generated_layout` lays out."""
    if license_type.layout is not None:
        return copy.deepcopy(dict(license_type.layout))
    return _generated_document(license_type)


def _box(name: str, box: dict[str, Any], page: dict[str, Any]) -> None:
    width = box.get("width_mm", box.get("size_mm"))
    height = box.get("height_mm", box.get("size_mm"))
    if box["x_mm"] + width > page["width_mm"] or box["y_mm"] + height > page["height_mm"]:
        raise LayoutError(_(
            "layout {name}: box at ({x}, {y}) mm of {width} x {height} mm goes past the "
            "{page_width} x {page_height} mm page", name=name, x=box["x_mm"], y=box["y_mm"],
            width=width, height=height, page_width=page["width_mm"],
            page_height=page["height_mm"]))


def check_layout(layout: dict[str, Any], license_type: LicenseType) -> dict[str, Any]:
    """A checked copy of ``layout`` for ``license_type``; LayoutError naming the first problem."""
    problem = problem_of(_validator(), layout)
    if problem is not None:
        more = sum(1 for _e in _validator().iter_errors(layout)) - 1
        raise LayoutError(ngettext("layout {problem} (and {n} more)",
                                   "layout {problem} (and {n} more)", more, problem=problem,
                                   n=more) if more else _("layout {problem}", problem=problem))
    page = layout["page"]
    # (1) every box on the page.
    for name in ("title", "identifier", "seal", "qr"):
        _box(name, layout[name], page)
    for i, field in enumerate(layout["fields"]):
        _box(f"fields/{i} ({field['element']})", field, page)
        if field.get("label_width_mm", 0) >= field["width_mm"]:
            raise LayoutError(_("layout fields/{i} ({element}): label_width_mm leaves no room "
                                "for the value", i=i, element=field["element"]))
    # (2) elements of this type, each once; (4) date-zh on dates only.
    shown: set[str] = set()
    for i, field in enumerate(layout["fields"]):
        code = field["element"]
        try:
            element = license_type.element(code)
        except KeyError:
            raise LayoutError(_("layout fields/{i}: {code} is not an element of {type_name} "
                                "({type_code})", i=i, code=code, type_name=license_type.name,
                                type_code=license_type.code)) from None
        if code in shown:
            raise LayoutError(_("layout fields/{i}: {code} is shown twice", i=i, code=code))
        shown.add(code)
        if field.get("format") == "date-zh" and not element.is_date:
            raise LayoutError(_("layout fields/{i}: date-zh on {code} ({title}), which is not a "
                                "date", i=i, code=code, title=element.title))
    # (3) what a reader of the license needs to see.
    needed = [*MUST_SHOW, *(f.code for f in license_type.face_fields)]
    missing = [c for c in needed if c not in shown]
    if missing:
        names = word(SEPARATOR).join(
            _("{code} ({title})", code=c, title=license_type.element(c).title) for c in missing)
        raise LayoutError(_("layout for {type_name} ({type_code}) does not show {names}",
                            type_name=license_type.name, type_code=license_type.code,
                            names=names))
    return copy.deepcopy(layout)


# -- the typed layout a renderer reads ------------------------------------------------------------

_ALIGNS = frozenset({"left", "center", "right"})
_FORMATS = frozenset({"text", "date-zh"})
_LONG_TITLE_WORDS = ("范围", "项目", "住所", "地址", "场所")  # two lines in the default layout


@dataclass(frozen=True)
class Page:
    """The page, in millimetres."""

    width_mm: float
    height_mm: float
    frame_mm: float
    """Inset of the decorative frame; 0: no frame."""


@dataclass(frozen=True)
class Box:
    """A text box: top-left corner, size, largest font size, alignment and optional label."""

    x_mm: float
    y_mm: float
    width_mm: float
    height_mm: float
    font_size_pt: float
    align: str
    """left / center / right."""
    label: str | None
    """Printed before the text; None: the renderer's default, "": no label."""
    label_width_mm: float | None
    """Width of the label column; None: as wide as the label needs."""


@dataclass(frozen=True)
class FieldBox:
    """One element shown on the page."""

    element: str
    """Element code (CZZT, KZ_JYFW …)."""
    box: Box
    """Where it goes."""
    date_zh: bool
    """Print a yyyyMMdd value as 2024年1月5日 (长期 stays 长期)."""


@dataclass(frozen=True)
class SquareBox:
    """A square: top-left corner and side."""

    x_mm: float
    y_mm: float
    size_mm: float


@dataclass(frozen=True)
class Layout:
    """A whole page layout (layout format version 1)."""

    page: Page
    """Page size and frame."""
    title: Box
    """The title box; ``title_text`` None means the license's name."""
    title_text: str | None
    """A fixed title, or None for the license's 证照名称."""
    fields: tuple[FieldBox, ...]
    """Elements in reading order."""
    identifier: Box
    """Where the GB/T 36904 identifier is printed in full."""
    seal: SquareBox
    """The seal image's box (also the signature widget's rectangle)."""
    qr: SquareBox
    """The QR code's box; the code carries the identifier."""

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Layout:
        """Read a layout document; raise :class:`LayoutError` naming what is wrong."""
        try:
            if doc.get("layout_version", 1) != 1:
                raise LayoutError(_("layout_version {version} is not 1",
                                    version=repr(doc.get("layout_version"))))
            page = doc["page"]
            title = doc["title"]
            layout = cls(
                page=Page(_mm(page["width_mm"]), _mm(page["height_mm"]),
                          _mm(page.get("frame_mm", 0))),
                title=_text_box(title),
                title_text=title.get("text"),
                fields=tuple(
                    FieldBox(element=str(f["element"]), box=_text_box(f),
                             date_zh=_format(f.get("format", "text")) == "date-zh")
                    for f in doc["fields"]
                ),
                identifier=_text_box(doc["identifier"]),
                seal=_square(doc["seal"]),
                qr=_square(doc["qr"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, LayoutError):
                raise
            raise LayoutError(_("not a version 1 page layout: {detail}",
                                detail=repr(exc))) from exc
        for name, (x, y, w, h) in layout.boxes():
            if x + w > layout.page.width_mm + 0.01 or y + h > layout.page.height_mm + 0.01:
                raise LayoutError(_("layout box {name} lies outside the page", name=name))
        return layout

    def boxes(self) -> list[tuple[str, tuple[float, float, float, float]]]:
        """Every box as (name, (x, y, width, height)) in millimetres."""
        def rect(b: Box) -> tuple[float, float, float, float]:
            return (b.x_mm, b.y_mm, b.width_mm, b.height_mm)

        return [
            ("title", rect(self.title)),
            *((f"field {f.element}", rect(f.box)) for f in self.fields),
            ("identifier", rect(self.identifier)),
            ("seal", (self.seal.x_mm, self.seal.y_mm, self.seal.size_mm, self.seal.size_mm)),
            ("qr", (self.qr.x_mm, self.qr.y_mm, self.qr.size_mm, self.qr.size_mm)),
        ]


def _mm(value: Any) -> float:
    number = float(value)
    if number < 0:
        raise LayoutError(_("length {value} mm is negative", value=repr(value)))
    return number


def _format(value: Any) -> str:
    if value not in _FORMATS:
        raise LayoutError(_("field format {value} is not one of {choices}", value=repr(value),
                            choices=sorted(_FORMATS)))
    return str(value)


def _text_box(doc: Mapping[str, Any]) -> Box:
    align = doc.get("align", "left")
    if align not in _ALIGNS:
        raise LayoutError(_("align {value} is not one of {choices}", value=repr(align),
                            choices=sorted(_ALIGNS)))
    label_width = doc.get("label_width_mm")
    return Box(
        x_mm=_mm(doc["x_mm"]),
        y_mm=_mm(doc["y_mm"]),
        width_mm=_mm(doc["width_mm"]),
        height_mm=_mm(doc["height_mm"]),
        font_size_pt=float(doc["font_size_pt"]),
        align=align,
        label=doc.get("label"),
        label_width_mm=None if label_width is None else _mm(label_width),
    )


def _square(doc: Mapping[str, Any]) -> SquareBox:
    return SquareBox(_mm(doc["x_mm"]), _mm(doc["y_mm"]), _mm(doc["size_mm"]))


def generated_layout(license_type: LicenseType) -> Layout:
    """A plain A4 portrait layout: the title, one row per element, the seal and the QR code."""
    return Layout.from_dict(_generated_document(license_type))


def _generated_document(license_type: LicenseType) -> dict[str, Any]:
    codes = ["CZZT", "CZZTDM", *(f.code for f in license_type.face_fields),
             "ZZBH", "ZZYXQQSRQ", "ZZYXQJZRQ", "ZZBFJG", "ZZBFRQ"]
    fields = []
    y = 50.0
    for code in codes:
        element = license_type.element(code)
        height = 16.0 if any(w in element.title for w in _LONG_TITLE_WORDS) else 8.0
        fields.append({"element": code, "label": element.title, "x_mm": 22, "y_mm": y,
                       "width_mm": 166, "height_mm": height, "font_size_pt": 11,
                       "label_width_mm": 42,
                       "format": "date-zh" if element.is_date else "text"})
        y += height + 2
    doc = {
        "layout_version": 1,
        "page": {"width_mm": 210, "height_mm": 297, "frame_mm": 8},
        "title": {"x_mm": 30, "y_mm": 22, "width_mm": 150, "height_mm": 16, "font_size_pt": 30,
                  "align": "center"},
        "fields": fields,
        "identifier": {"x_mm": 22, "y_mm": 276, "width_mm": 166, "height_mm": 6,
                       "font_size_pt": 7},
        "seal": {"x_mm": 140, "y_mm": min(y + 2, 228), "size_mm": 40},
        "qr": {"x_mm": 22, "y_mm": min(y + 8, 240), "size_mm": 30, "content": "identifier"},
    }
    return doc


def layout_for(
    license_type: LicenseType, *, template_layout: Mapping[str, Any] | None = None,
) -> Layout:
    """The layout to render a license with: the template's own, else the type's default."""
    return Layout.from_dict(template_layout or default_layout(license_type))
