"""Checking a document people wrote against a JSON Schema, and saying what is wrong in their
language: the place (``license_types/2/fields/0/code``) and the problem, for the kinds of
problem people make (a missing key, a key not allowed, a value of the wrong form); any other
falls back to jsonschema's own English message.

>>> problem_of(load_validator(Path("schemas/city.schema.json")), {"city": {}})  # doctest: +SKIP
"city: 'division_code' is missing"
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from registry.i18n import _

__all__ = ["load_validator", "place_of", "problem_of"]


@cache
def load_validator(path: Path) -> Any:
    """The validator of the schema in ``path`` (checked once, kept for the process)."""
    schema = json.loads(path.read_text("utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def place_of(error: ValidationError) -> str:
    """Where in the document: ``license_types/2/fields/0/code``, or ``(top)``."""
    return "/".join(str(p) for p in error.absolute_path) or _("(top)")


def _text(error: ValidationError) -> str:
    v: Any = error.validator
    value: Any = error.instance
    expected: Any = error.validator_value
    schema: Any = error.schema
    if v == "required":
        missing = [k for k in expected if k not in value]
        return _("{keys} is missing", keys=", ".join(repr(k) for k in missing))
    if v == "additionalProperties":
        allowed = set(schema.get("properties", {}))
        extra = sorted(k for k in value if k not in allowed)
        return _("{keys} is not allowed here (allowed: {allowed})",
                 keys=", ".join(repr(k) for k in extra), allowed=", ".join(sorted(allowed)))
    if v == "pattern":
        return _("{value!r} is not of the form {pattern}", value=value, pattern=expected)
    if v == "enum":
        return _("{value!r} is not one of {choices}", value=value,
                 choices=", ".join(repr(c) for c in expected))
    if v == "type":
        return _("{value!r} should be of type {kind}", value=value, kind=expected)
    if v == "minLength" and expected == 1:
        return _("must not be empty")
    if v == "uniqueItems":
        return _("lists the same item twice")
    return error.message


def problem_of(validator: Any, doc: Any) -> str | None:
    """The most telling problem of ``doc`` (``place: problem``), or None when it is valid.

    Of alternatives (``oneOf``), the one the document came closest to is explained, so a
    mistyped field of a written-out license type is named as such, not as "not valid under
    any of the given schemas".
    """
    error = best_match(validator.iter_errors(doc))
    if error is None:
        return None
    while error.validator in ("oneOf", "anyOf") and error.context:
        error = best_match(error.context) or error
        if not error.context:
            break
    return _("{place}: {problem}", place=place_of(error), problem=_text(error))
