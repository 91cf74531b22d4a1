"""Check digits and identifiers from the national standards (STANDARDS.md §1.2, §4).

>>> uscc_is_valid("91350100M000100Y43")
True
>>> license_identifier("11100000MB0143028R001", "91350100M000100Y43", "20240001")
'1.2.156.3005.2.11100000MB0143028R001.91350100M000100Y43.20240001.001.N'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from registry.errors import CodeError
from registry.i18n import _

__all__ = [
    "HOLDER_ID_CARD",
    "HOLDER_TYPE_NAMES",
    "HOLDER_USCC",
    "LICENSE_ROOT",
    "LicenseId",
    "id_card_check",
    "id_card_is_valid",
    "iso7064_mod37_36",
    "license_identifier",
    "org_code_check",
    "org_code_is_valid",
    "parse_license_identifier",
    "uscc_check",
    "uscc_is_valid",
]

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]
_USCC_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$")

_ID_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_ID_RE = re.compile(r"^[0-9]{17}[0-9X]$")

_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_RE = re.compile(r"^[0-9A-Z]{8}[0-9X]$")

A36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_A36_VALUE = {c: i for i, c in enumerate(A36)}

LICENSE_ROOT = "1.2.156.3005.2"
"""Root code of every electronic license identifier (GB/T 36904)."""

HOLDER_USCC = "001"
"""持证主体代码类型代码 for a 统一社会信用代码 (GB/T 36903)."""
HOLDER_ID_CARD = "111"
"""持证主体代码类型代码 for a 公民身份号码 (GB/T 36903)."""
HOLDER_TYPE_NAMES = {HOLDER_USCC: "统一社会信用代码", HOLDER_ID_CARD: "公民身份号码"}


def uscc_check(body17: str) -> str:
    """GB 32100 check character for the first 17 characters of a USCC."""
    try:
        total = sum(_USCC_VALUE[c] * w for c, w in zip(body17, _USCC_WEIGHTS, strict=True))
    except (KeyError, ValueError) as exc:
        raise CodeError(_("not a 17-character USCC body: {body!r}", body=body17)) from exc
    return USCC_ALPHABET[(31 - total % 31) % 31]


def org_code_check(body8: str) -> str:
    """GB 11714 check character for an 8-character organization code body."""
    if len(body8) != 8 or any(c not in _A36_VALUE for c in body8):
        raise CodeError(_("not an 8-character organization code body: {body!r}",
                          body=body8))
    r = 11 - sum(_A36_VALUE[c] * w for c, w in zip(body8, _ORG_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(r, str(r))


def org_code_is_valid(code: str) -> bool:
    """True when ``code`` is a 9-character organization code with a correct check character."""
    return bool(_ORG_RE.match(code)) and org_code_check(code[:8]) == code[8]


def uscc_is_valid(code: str) -> bool:
    """True for an 18-character USCC whose GB 32100 check character is correct.

    The organization-code segment (positions 9-17) is checked separately by
    :func:`org_code_is_valid`; many legitimate stock codes fail it, so callers decide.
    """
    return bool(_USCC_RE.match(code)) and uscc_check(code[:17]) == code[17]


def id_card_check(body17: str) -> str:
    """GB 11643 (ISO 7064 MOD 11-2) check character for a resident ID number."""
    if len(body17) != 17 or not body17.isdigit():
        raise CodeError(_("not a 17-digit ID number body: {body!r}", body=body17))
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, _ID_WEIGHTS, strict=True)) % 11]


def id_card_is_valid(code: str) -> bool:
    """True for an 18-character ID number with a correct check character and a real birth date."""
    if not _ID_RE.match(code) or id_card_check(code[:17]) != code[17]:
        return False

    try:
        date(int(code[6:10]), int(code[10:12]), int(code[12:14]))
    except ValueError:
        return False
    return True


def _mod37_36_step(p: int, a: int) -> int:
    s = (p + a) % 36 or 36
    return (2 * s) % 37


# One table lookup per character instead of two modulo operations: identifiers are computed
# for every license sealed, on the hot path.
_STEP = {(p, c): _mod37_36_step(p, a) for p in range(37) for c, a in _A36_VALUE.items()}


def iso7064_mod37_36(text: str) -> str:
    """ISO 7064 MOD 37,36 hybrid check character over ``text`` (characters 0-9, A-Z)."""
    p = 36
    step = _STEP
    try:
        for c in text:
            p = step[p, c]
    except KeyError as exc:
        raise CodeError(_("character {char!r} is not in 0-9A-Z", char=exc.args[0][1])) from exc
    return A36[(37 - p) % 36]


@dataclass(frozen=True)
class LicenseId:
    """The parts of a GB/T 36904 electronic license identifier."""

    type_code: str
    """证照类型代码: 21 characters, the defining authority's USCC plus 3 digits."""
    issuer_code: str
    """证照颁发机构代码: the issuing department's 18-character USCC."""
    serial: str
    """流水号: chosen by the issuer, [0-9A-Z]."""
    version: str
    """版本号: three digits, ``001`` for the first issue."""

    def __str__(self) -> str:
        return license_identifier(self.type_code, self.issuer_code, self.serial, self.version)


_SERIAL_RE = re.compile(r"^[0-9A-Z]{1,64}$")
_TYPE_RE = re.compile(r"^[0-9A-Z]{21}$")


def license_identifier(type_code: str, issuer_code: str, serial: str, version: str = "001") -> str:
    """Build ``1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>``."""
    if not _TYPE_RE.match(type_code):
        raise CodeError(_("license type code must be 21 characters [0-9A-Z]: {code!r}",
                          code=type_code))
    if not _USCC_RE.match(issuer_code):
        raise CodeError(_("issuer code must be an 18-character USCC: {code!r}", code=issuer_code))
    if not _SERIAL_RE.match(serial):
        raise CodeError(_("serial must be 1-64 characters [0-9A-Z]: {serial!r}", serial=serial))
    if not (len(version) == 3 and version.isdigit()):
        raise CodeError(_("version must be three digits: {version!r}", version=version))
    check = iso7064_mod37_36(type_code + issuer_code + serial + version)
    return ".".join((LICENSE_ROOT, type_code, issuer_code, serial, version, check))


def parse_license_identifier(identifier: str) -> LicenseId:
    """Split and check an identifier; raise :class:`CodeError` naming what is wrong."""
    prefix = LICENSE_ROOT + "."
    if not identifier.startswith(prefix):
        raise CodeError(_("identifier must start with {root}: {identifier!r}", root=LICENSE_ROOT,
                          identifier=identifier))
    parts = identifier[len(prefix) :].split(".")
    if len(parts) != 5:
        raise CodeError(_("identifier must have 5 parts after the root: {identifier!r}",
                          identifier=identifier))
    type_code, issuer, serial, version, check = parts
    expected = license_identifier(type_code, issuer, serial, version)
    if expected != identifier:
        raise CodeError(_("identifier check character is {check!r}, expected {expected!r}: "
                          "{identifier!r}", check=check, expected=expected[-1],
                          identifier=identifier))
    return LicenseId(type_code, issuer, serial, version)
