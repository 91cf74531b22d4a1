"""The push envelope exchanged with the provincial platform (STANDARDS.md §2.2, §2.3).

No public specification of the provincial 汇聚 interface exists, so the envelope follows the
observed public push interfaces: a ``head`` with credentials, a ``data`` with items that carry an
``operateType``, a ``certState``, the identifier (``ZZBS``), its version, the predecessor
(``associatedZZBS``), every element and the GB/T 38540 ``SES_Signature`` (base64 DER). The
response acknowledges each item, in request order.

>>> cert_state_of("SUSPENDED"), status_of("07")
('02', <LicenseStatus.WITHDRAWN: 'WITHDRAWN'>)
>>> ack = parse_response({"head": {"status": 0, "message": "ok"}, "data": {"acks": [
...     {"ZZBS": "1.2.156.3005.2.X", "version": "001", "result": "DUPLICATE",
...      "code": "OK", "message": "already stored"}]}})[0]
>>> ack.result, ack.ok
(<AckResult.DUPLICATE: 'DUPLICATE'>, True)

Everything here is pure: build, validate and parse JSON-ready structures; no I/O.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NotRequired, TypedDict

from registry.codes import parse_license_identifier
from registry.errors import AggregationError, CodeError

__all__ = [
    "CERT_STATES",
    "CODE_CONFLICT",
    "CODE_OK",
    "CODE_SCHEMA",
    "CREATING_OPERATE_TYPES",
    "HEAD_BAD_REQUEST",
    "HEAD_OK",
    "HEAD_TOO_LARGE",
    "HEAD_UNAUTHORIZED",
    "LICENSES_PATH",
    "OPERATE_NEW",
    "OPERATE_TYPES",
    "PREDECESSOR_OPERATE_TYPES",
    "Ack",
    "AckResult",
    "EnvelopeError",
    "Head",
    "Item",
    "ItemSchemaError",
    "LicenseStatus",
    "WireItem",
    "build_item",
    "build_request",
    "build_response",
    "cert_state_of",
    "error_response",
    "parse_request",
    "parse_response",
    "status_of",
    "validate_item",
]

LICENSES_PATH = "/api/v1/licenses"
"""Where items are pushed (POST) and read back (GET ``/{identifier}``)."""

# -- code tables (STANDARDS.md §2.2, MOHURD push model) ---------------------------------------

OPERATE_TYPES: Mapping[str, str] = {
    "01": "新发",
    "02": "延续",
    "03": "暂扣",
    "04": "过期失效",
    "05": "注销(撤销/吊销/转出)",
    "06": "暂扣发还",
    "07": "其他",
    "08": "转入",
    "09": "变更",
    "10": "取消转出",
}
"""operateType code → meaning."""

OPERATE_NEW = "01"
"""operateType 新发: a license version is issued."""

CREATING_OPERATE_TYPES = frozenset({"01", "02", "08", "09"})
"""Operate types that bring a license version into existence (新发, 延续, 转入, 变更); the others
only change the status of a version the platform already holds."""

PREDECESSOR_OPERATE_TYPES = frozenset({"02", "08", "09"})
"""延续 / 转入 / 变更 re-issue a license under a new identifier: ``associatedZZBS`` is required."""

CERT_STATES: Mapping[str, str] = {
    "01": "有效",
    "02": "暂扣",
    "03": "撤销",
    "04": "注销",
    "05": "失效",
    "06": "办理转出",
    "07": "吊销",
    "99": "其他",
}
"""certState code → meaning."""


class LicenseStatus(StrEnum):
    """The registry's canonical license status; each platform's codes map through a table."""

    VALID = "VALID"
    SUSPENDED = "SUSPENDED"
    REVOKED = "REVOKED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    TRANSFERRED_OUT = "TRANSFERRED_OUT"
    WITHDRAWN = "WITHDRAWN"
    OTHER = "OTHER"


_STATE_OF_STATUS: Mapping[LicenseStatus, str] = {
    LicenseStatus.VALID: "01",
    LicenseStatus.SUSPENDED: "02",
    LicenseStatus.REVOKED: "03",
    LicenseStatus.CANCELLED: "04",
    LicenseStatus.EXPIRED: "05",
    LicenseStatus.TRANSFERRED_OUT: "06",
    LicenseStatus.WITHDRAWN: "07",
    LicenseStatus.OTHER: "99",
}
_STATUS_OF_STATE: Mapping[str, LicenseStatus] = {v: k for k, v in _STATE_OF_STATUS.items()}


def cert_state_of(status: str) -> str:
    """The certState code for a canonical status (``"VALID"`` → ``"01"``)."""
    try:
        return _STATE_OF_STATUS[LicenseStatus(status)]
    except ValueError as exc:
        raise CodeError(f"unknown license status {status!r}") from exc


def status_of(cert_state: str) -> LicenseStatus:
    """The canonical status for a certState code (``"02"`` → ``SUSPENDED``)."""
    try:
        return _STATUS_OF_STATE[cert_state]
    except KeyError as exc:
        raise CodeError(f"unknown certState {cert_state!r}") from exc


# -- head status codes and per-item result codes ---------------------------------------------

HEAD_OK = 0
"""head.status of a request that was processed (items may still be rejected one by one)."""
HEAD_BAD_REQUEST = 10
"""head.status when the envelope itself is malformed."""
HEAD_UNAUTHORIZED = 11
"""head.status when accessId/accessToken are missing or unknown (HTTP 401)."""
HEAD_TOO_LARGE = 12
"""head.status when a request carries more items than the platform takes at once."""

CODE_OK = "OK"
"""Ack code of an accepted or duplicate item."""
CODE_SCHEMA = "SCHEMA"
"""Ack code of an item that does not have the shape of the interface."""
CODE_CONFLICT = "CONFLICT"
"""Ack code of an item whose identifier (and so version) is stored with other signed content."""


class AckResult(StrEnum):
    """What the platform did with one item."""

    ACCEPTED = "ACCEPTED"
    DUPLICATE = "DUPLICATE"
    """The identical item is already stored: success for the sender."""
    REJECTED = "REJECTED"


# -- JSON shapes ----------------------------------------------------------------------------


class Head(TypedDict):
    """Request head: the caller's credentials and a request id for the logs."""

    accessId: str
    accessToken: str
    requestId: str


class Item(TypedDict):
    """One license event on the wire."""

    operateType: str
    certState: str
    ZZBS: str
    version: str
    associatedZZBS: str | None
    elements: dict[str, Any]
    signature: str
    certStatusDescription: NotRequired[str]


@dataclass(frozen=True)
class WireItem:
    """A validated, decoded item."""

    operate_type: str
    """operateType code (a key of :data:`OPERATE_TYPES`)."""
    cert_state: str
    """certState code (a key of :data:`CERT_STATES`)."""
    identifier: str
    """ZZBS: the GB/T 36904 identifier, which includes the version."""
    version: str
    """Three digits; equals the identifier's version part."""
    predecessor: str | None
    """associatedZZBS: the identifier this version replaces."""
    elements: dict[str, Any]
    """Every element of the license (the signed content)."""
    signature: bytes
    """The SES_Signature DER."""

    @property
    def status(self) -> LicenseStatus:
        return status_of(self.cert_state)


@dataclass(frozen=True)
class Ack:
    """The platform's answer for one item."""

    identifier: str
    """ZZBS of the item acknowledged."""
    version: str
    """Version of the item acknowledged."""
    result: AckResult
    """ACCEPTED, DUPLICATE (already stored, success) or REJECTED."""
    code: str
    """``OK``, or why the item was rejected (``SCHEMA``, ``CONFLICT``, a verification
    sub-indication such as ``HASH_FAILURE``)."""
    message: str
    """A sentence for a person."""

    @property
    def ok(self) -> bool:
        """True for ACCEPTED and DUPLICATE: the sender may mark the event delivered."""
        return self.result is not AckResult.REJECTED

    def to_dict(self) -> dict[str, str]:
        return {
            "ZZBS": self.identifier,
            "version": self.version,
            "result": self.result.value,
            "code": self.code,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, obj: Any) -> Ack:
        """Read an ack; :class:`AggregationError` if it is not one."""
        if not isinstance(obj, dict):
            raise AggregationError(f"ack is not an object: {obj!r}")
        try:
            values = {k: obj[k] for k in ("ZZBS", "version", "result", "code", "message")}
        except KeyError as exc:
            raise AggregationError(f"ack lacks {exc.args[0]!r}: {obj!r}") from exc
        if not all(isinstance(v, str) for v in values.values()):
            raise AggregationError(f"ack fields must be strings: {obj!r}")
        try:
            result = AckResult(values["result"])
        except ValueError as exc:
            raise AggregationError(f"unknown ack result {values['result']!r}") from exc
        return cls(values["ZZBS"], values["version"], result, values["code"], values["message"])


class EnvelopeError(AggregationError):
    """A request or response envelope is malformed as a whole."""


class ItemSchemaError(AggregationError):
    """One item does not have the shape of the interface (ack code ``SCHEMA``)."""

    def __init__(self, message: str, *, identifier: str = "", version: str = "") -> None:
        super().__init__(message)
        self.identifier = identifier
        self.version = version


# -- building (the sender's side) -----------------------------------------------------------


def build_item(
    *,
    operate_type: str,
    status: str,
    identifier: str,
    elements: Mapping[str, Any],
    signature_der: bytes,
    version: str | None = None,
    predecessor: str | None = None,
) -> Item:
    """One item; ``version`` defaults to the identifier's version part."""
    if operate_type not in OPERATE_TYPES:
        raise CodeError(f"unknown operateType {operate_type!r}")
    return {
        "operateType": operate_type,
        "certState": cert_state_of(status),
        "ZZBS": identifier,
        "version": version if version is not None else identifier.split(".")[-2],
        "associatedZZBS": predecessor,
        "elements": dict(elements),
        "signature": base64.b64encode(signature_der).decode("ascii"),
    }


def build_request(
    items: Sequence[Item | Mapping[str, Any]], *, access_id: str, access_token: str, request_id: str
) -> dict[str, Any]:
    """The request envelope around ``items``."""
    head: Head = {"accessId": access_id, "accessToken": access_token, "requestId": request_id}
    return {"head": head, "data": {"items": list(items)}}


def build_response(acks: Sequence[Ack]) -> dict[str, Any]:
    """The success envelope: one ack per item, in request order."""
    return {
        "head": {"status": HEAD_OK, "message": "ok"},
        "data": {"acks": [a.to_dict() for a in acks]},
    }


def error_response(status: int, message: str) -> dict[str, Any]:
    """The envelope of a refused request (no acks)."""
    return {"head": {"status": status, "message": message}, "data": None}


# -- validating (the platform's side) --------------------------------------------------------


def parse_request(obj: Any) -> tuple[Head, list[Any]]:
    """Split a request into its head and raw items; :class:`EnvelopeError` if malformed.

    Items are returned unvalidated so that one bad item is rejected alone
    (:func:`validate_item`), not the whole request.
    """
    if not isinstance(obj, dict):
        raise EnvelopeError("request body must be a JSON object")
    head, data = obj.get("head"), obj.get("data")
    if not isinstance(head, dict):
        raise EnvelopeError("request lacks a head object")
    for key in ("accessId", "accessToken"):
        if not isinstance(head.get(key), str):
            raise EnvelopeError(f"head.{key} must be a string")
    request_id = head.get("requestId", "")
    if not isinstance(request_id, str):
        raise EnvelopeError("head.requestId must be a string")
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise EnvelopeError("request lacks data.items (a list)")
    checked: Head = {
        "accessId": head["accessId"],
        "accessToken": head["accessToken"],
        "requestId": request_id,
    }
    return checked, data["items"]


_ITEM_KEYS = ("operateType", "certState", "ZZBS", "version", "associatedZZBS", "elements")


def validate_item(obj: Any) -> WireItem:
    """Check one item's shape and decode it; :class:`ItemSchemaError` names what is wrong.

    Checks, in order: (1) an object with every key; (2) operateType and certState are known
    codes (99 needs certStatusDescription); (3) ZZBS is a well-formed identifier with a correct
    check character and its version part equals ``version``; (4) associatedZZBS is null or an
    identifier, and is present for 延续/转入/变更; (5) elements is an object whose ZZBS is the
    item's; (6) signature is base64.
    """
    # (1) shape
    if not isinstance(obj, dict):
        raise ItemSchemaError("item must be a JSON object")
    zzbs = obj.get("ZZBS") if isinstance(obj.get("ZZBS"), str) else ""
    ver = obj.get("version") if isinstance(obj.get("version"), str) else ""

    def fail(message: str) -> ItemSchemaError:
        return ItemSchemaError(message, identifier=zzbs, version=ver)

    for key in (*_ITEM_KEYS, "signature"):
        if key not in obj:
            raise fail(f"item lacks {key!r}")
    for key in ("operateType", "certState", "ZZBS", "version", "signature"):
        if not isinstance(obj[key], str):
            raise fail(f"{key} must be a string")
    # (2) codes
    if obj["operateType"] not in OPERATE_TYPES:
        raise fail(f"unknown operateType {obj['operateType']!r}")
    if obj["certState"] not in CERT_STATES:
        raise fail(f"unknown certState {obj['certState']!r}")
    if obj["certState"] == "99" and not isinstance(obj.get("certStatusDescription"), str):
        raise fail("certState 99 (其他) requires certStatusDescription")
    # (3) identifier and version
    try:
        parsed = parse_license_identifier(zzbs)
    except CodeError as exc:
        raise fail(f"ZZBS: {exc}") from exc
    if parsed.version != ver:
        raise fail(f"version {ver!r} differs from the identifier's version {parsed.version!r}")
    # (4) predecessor
    predecessor = obj["associatedZZBS"]
    if predecessor is not None:
        if not isinstance(predecessor, str):
            raise fail("associatedZZBS must be a string or null")
        try:
            parse_license_identifier(predecessor)
        except CodeError as exc:
            raise fail(f"associatedZZBS: {exc}") from exc
        if predecessor == zzbs:
            raise fail("associatedZZBS equals ZZBS")
    elif obj["operateType"] in PREDECESSOR_OPERATE_TYPES:
        name = OPERATE_TYPES[obj["operateType"]]
        raise fail(f"operateType {obj['operateType']} ({name}) requires associatedZZBS")
    # (5) elements
    elements = obj["elements"]
    if not isinstance(elements, dict):
        raise fail("elements must be an object")
    if elements.get("ZZBS") != zzbs:
        raise fail("elements.ZZBS differs from the item's ZZBS")
    # (6) signature
    try:
        signature = base64.b64decode(obj["signature"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise fail("signature is not base64") from exc
    if not signature:
        raise fail("signature is empty")
    return WireItem(
        operate_type=obj["operateType"],
        cert_state=obj["certState"],
        identifier=zzbs,
        version=ver,
        predecessor=predecessor,
        elements=elements,
        signature=signature,
    )


# -- reading a response (the sender's side) --------------------------------------------------


def parse_response(obj: Any) -> list[Ack]:
    """The acks of a success envelope; :class:`EnvelopeError` if it is not one."""
    if not isinstance(obj, dict) or not isinstance(obj.get("head"), dict):
        raise EnvelopeError("response lacks a head object")
    status = obj["head"].get("status")
    if status != HEAD_OK:
        message = obj["head"].get("message", "")
        raise EnvelopeError(f"platform refused the request: status {status!r}: {message}")
    data = obj.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("acks"), list):
        raise EnvelopeError("response lacks data.acks (a list)")
    return [Ack.from_dict(a) for a in data["acks"]]
