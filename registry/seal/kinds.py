"""Seal kinds (印章类型): the codes written in SES_ESPropertyInfo.type, read from a data file.

GB/T 38540 v4 leaves the kind codes to the business; ``schemas/seal-kinds.json`` defines ours
(法定名称章, 业务专用章, 内设机构章, 分支机构章) with each kind's printed diameter in millimetres.

>>> kind = seal_kind("business")
>>> kind.code, kind.name, kind.diameter_mm
(2, '业务专用章', 40)
>>> seal_kind("2") == seal_kind("业务专用章") == kind
True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from registry.config import SCHEMA_DIR
from registry.errors import ConfigError, SealError
from registry.i18n import SEPARATOR, _, word

__all__ = ["SEAL_KINDS_FILE", "SealKind", "load_seal_kinds", "seal_kind"]

SEAL_KINDS_FILE = SCHEMA_DIR / "seal-kinds.json"


@dataclass(frozen=True)
class SealKind:
    """One seal kind."""

    code: int
    """SES_ESPropertyInfo.type."""
    key: str
    """A short ASCII name for the command line, e.g. ``business``."""
    name: str
    """The Chinese name, e.g. 业务专用章."""
    diameter_mm: int
    """The printed seal's diameter: the SESeal picture's width and height in millimetres."""


@cache
def load_seal_kinds(path: Path = SEAL_KINDS_FILE) -> dict[int, SealKind]:
    """Every seal kind in the data file, keyed by code."""
    try:
        doc = json.loads(path.read_text("utf-8"))
        kinds = [
            SealKind(code=int(k["code"]), key=str(k["key"]), name=str(k["name"]),
                     diameter_mm=int(k["diameter_mm"]))
            for k in doc["kinds"]
        ]
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(_("{file}: not a seal-kinds file ({detail})", file=path,
                            detail=exc)) from exc
    by_code: dict[int, SealKind] = {}
    for kind in kinds:
        if kind.code in by_code or any(k.key == kind.key for k in by_code.values()):
            raise ConfigError(_("{file}: seal kind {code} / {key} is listed twice", file=path,
                                code=kind.code, key=kind.key))
        if not 10 <= kind.diameter_mm <= 80:
            raise ConfigError(_("{file}: seal kind {key} diameter {mm} mm is not a seal's size "
                                "(10-80 mm)", file=path, key=kind.key, mm=kind.diameter_mm))
        by_code[kind.code] = kind
    return by_code


def seal_kind(ref: str | int) -> SealKind:
    """The kind named by its code, key or Chinese name; SealError listing the kinds if none."""
    kinds = load_seal_kinds()
    for kind in kinds.values():
        if str(ref) in (str(kind.code), kind.key, kind.name):
            return kind
    known = word(SEPARATOR).join(
        _("{code} {key} ({name})", code=k.code, key=k.key, name=k.name) for k in kinds.values())
    raise SealError(_("unknown seal kind {kind}; known kinds: {known}", kind=repr(ref),
                      known=known))
