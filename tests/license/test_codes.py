"""Check digits and identifiers against the vectors of STANDARDS.md §1.2 and §4.5."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.errors import CodeError
from registry.license.codes import (
    USCC_ALPHABET,
    id_card_check,
    id_card_is_valid,
    iso7064_mod37_36,
    license_identifier,
    org_code_is_valid,
    parse_license_identifier,
    uscc_check,
    uscc_is_valid,
)

VALID_USCC = [
    "91350100M000100Y43", "91310230MA1K314J7C", "91310230MA1K314K57",  # S15
    "91350200776049653A", "91350500798359476R", "91440101MA5CJQ4N59", "913502000728319549",
    "123502001549897397", "91120222MA06DG3067", "91430111MA4L41YT1U",  # S16
    "11100000000013338W", "11110000000021135M", "11220000013544541J", "11100000000013127D",
    "11100000MB0143028R",  # government bodies
]
VALID_ID = [
    "11010519491231002X", "110105195001010039", "11010519500101999X", "11010519500102000X",
    "321083197812162119", "932682198501010017", "13043419840726291X",
]
VALID_LICENSE_IDS = [
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F",
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
    "1.2.156.3005.2.11100000MB0143028R001.91350100M000100Y43.20240001.001.N",
]


@pytest.mark.parametrize("code", VALID_USCC)
def test_valid_uscc(code: str) -> None:
    assert uscc_is_valid(code)


def test_early_pilot_uscc_fails_its_check() -> None:
    # A real Xiamen pilot code: the computed check character is 9, not B.
    assert not uscc_is_valid("91350203M0001QAY9B")
    assert uscc_check("91350203M0001QAY9") == "9"


@pytest.mark.parametrize("code", VALID_ID)
def test_valid_id_numbers(code: str) -> None:
    assert id_card_is_valid(code)


@pytest.mark.parametrize("code", ["110101199001011234", "110101197608056896"])
def test_sample_id_numbers_with_wrong_check_fail(code: str) -> None:
    assert not id_card_is_valid(code)


def test_id_number_with_impossible_birth_date_fails() -> None:
    body = "11010519990230001"  # 1999-02-30
    assert not id_card_is_valid(body + id_card_check(body))


def test_org_code() -> None:
    assert org_code_is_valid("MA1FL0LY9")
    for code in VALID_USCC:
        assert org_code_is_valid(code[8:17]), code


@pytest.mark.parametrize("identifier", VALID_LICENSE_IDS)
def test_real_license_identifiers_reverify(identifier: str) -> None:
    parsed = parse_license_identifier(identifier)
    assert str(parsed) == identifier


def test_hand_typed_identifier_is_refused_with_expected_character() -> None:
    bad = ("1.2.156.3005.2.11100000000013661B006.113700000045046442."
           "209FA4E88F9E4C878F3E9BED2CE7EA49.001.M")
    with pytest.raises(CodeError, match="expected 'D'"):
        parse_license_identifier(bad)


def test_home_made_variant_differs_from_iso7064() -> None:
    # S5's variant gives T for the first vector; the standard gives U.
    assert iso7064_mod37_36("11100000000013338W01111430000006122244L20230000403001") == "U"


@given(
    body=st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17),
)
def test_any_uscc_body_with_its_check_is_valid_format_permitting(body: str) -> None:
    code = body + uscc_check(body)
    # The format check additionally requires digits at positions 3-8.
    assert uscc_is_valid(code) == body[2:8].isdigit()


@given(serial=st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=40),
       version=st.integers(1, 999))
def test_identifier_round_trip_and_single_character_errors_detected(serial: str,
                                                                    version: int) -> None:
    ident = license_identifier("11100000MB0143028R001", "91350100M000100Y43", serial,
                               f"{version:03d}")
    assert parse_license_identifier(ident).serial == serial
    # MOD 37,36 detects every single substitution in the serial.
    i = len(ident) - 7 - len(serial)  # position of the serial's first character
    swapped = "1" if ident[i] != "1" else "2"
    with pytest.raises(CodeError):
        parse_license_identifier(ident[:i] + swapped + ident[i + 1 :])


def test_identifier_refuses_lowercase_and_bad_parts() -> None:
    with pytest.raises(CodeError, match="serial"):
        license_identifier("11100000MB0143028R001", "91350100M000100Y43", "abc")
    with pytest.raises(CodeError, match="type code"):
        license_identifier("11100000MB0143028R", "91350100M000100Y43", "ABC")
