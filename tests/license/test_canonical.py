"""RFC 8785 canonical JSON, checked against an independent implementation."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from registry.errors import CodeError
from registry.license.canonical import canonical_bytes, canonical_hash

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(st.characters(blacklist_categories=("Cs",))),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",)), max_size=6),
                      children, max_size=5),
    max_leaves=20,
)


@given(json_values)
def test_matches_independent_rfc8785(value: object) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


def test_keys_sort_by_utf16_code_units() -> None:
    # U+1F600 (a surrogate pair in UTF-16) sorts before U+FB01 by code units.
    value = {"\ufb01": 1, "\U0001f600": 2, "a": 3}
    assert canonical_bytes(value) == rfc8785.dumps(value)
    assert canonical_bytes(value).index("\U0001f600".encode()) < canonical_bytes(value).index(
        "\ufb01".encode())


def test_chinese_is_not_escaped_and_hash_is_sha256() -> None:
    assert canonical_bytes({"CZZT": "堃𠮷"}) == '{"CZZT":"堃𠮷"}'.encode()
    assert len(canonical_hash({"a": "b"})) == 32


def test_floats_are_refused() -> None:
    with pytest.raises(CodeError, match="floats"):
        canonical_bytes({"ZCZB": 1.5})
