"""RFC 8785 (JSON Canonicalization Scheme) for license records.

License elements are JSON objects whose values are strings, integers, booleans, null, or
nested objects and arrays of those. For that domain RFC 8785 reduces to: keys sorted by their
UTF-16 code units, no insignificant whitespace, strings escaped as ECMAScript's
``JSON.stringify`` does (which is what :func:`json.dumps` with ``ensure_ascii=False`` does for
strings), integers in plain decimal. Floats are refused rather than risk a different number
serialization. ``tests/license/test_canonical.py`` checks this against an independent
implementation.

>>> canonical_bytes({"b": "乙", "a": 1})
b'{"a":1,"b":"\\xe4\\xb9\\x99"}'
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from registry.errors import CodeError
from registry.i18n import _

__all__ = ["canonical_bytes", "canonical_hash"]

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _prepare(value: Any) -> Any:
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise CodeError(_("canonical JSON keys must be strings, got {key!r}", key=k))
        keys = list(value)
        if not all(k.isascii() for k in keys):
            keys.sort(key=_utf16_key)
        else:
            keys.sort()
        return {k: _prepare(value[k]) for k in keys}
    if isinstance(value, list | tuple):
        return [_prepare(v) for v in value]
    if isinstance(value, float):
        raise CodeError(_("floats are not allowed in license records; write numbers as "
                          "strings"))
    return value


_encode_sorted = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, sort_keys=True
).encode


def _is_flat_record(value: Any) -> bool:
    # A license's elements: ASCII element codes → strings. Python's sort of ASCII keys is
    # the UTF-16 code-unit order RFC 8785 asks for, so the encoder may sort them itself.
    return (
        type(value) is dict
        and set(map(type, value)) <= {str}
        and set(map(type, value.values())) <= {str}
        and "".join(value).isascii()
    )


def canonical_bytes(value: Any) -> bytes:
    """The RFC 8785 serialization of ``value`` as UTF-8 bytes."""
    try:
        if _is_flat_record(value):
            return _encode_sorted(value).encode("utf-8")
        return _encode(_prepare(value)).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CodeError(_("license records may not contain lone surrogates")) from exc


def canonical_hash(value: Any) -> bytes:
    """SHA-256 of :func:`canonical_bytes`; the ``dataHash`` of a license's SES_Signature."""
    return hashlib.sha256(canonical_bytes(value)).digest()
