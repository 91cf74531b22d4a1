"""The push envelope exchanged with the provincial platform (STANDARDS.md §2.2, §2.3).

No public specification of the provincial 汇聚 interface exists, so the envelope follows the
observed public push interfaces: a ``head`` with credentials, a ``data`` with items that carry an
``operateType``, a ``certState``, the identifier (``ZZBS``), its version, the predecessor
(``associatedZZBS``), every element and the GB/T 38540 ``SES_Signature`` (base64 DER). The
response acknowledges each item, in request order.

Two additions keep a push of 100,000 licenses cheap and safe to replay:

- ``signatureParts`` (instead of ``signature``): the SES_Signature minus the constant SESeal and
  signer certificate, which travel once per request in ``data.blobs`` (SHA-256 hex → base64
  DER). The platform reassembles the exact DER (:func:`registry.seal.signature.assemble`) and
  verifies that, so nothing about the verdict changes; a request shrinks from ~12 KB to ~1.5 KB
  per license.
- ``eventSeq``: the sender's event number (its outbox id). The platform applies a status only
  if it is not older than the last event it applied to that license, so events that overtake
  each other (concurrent batches, retries) end in the same state as in order. Acks echo it.

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
import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NotRequired, TypedDict

from registry.errors import (
    AggregationError,
    CodeError,
    EnvelopeError,
    ItemSchemaError,
    SealError,
    VerificationError,
)
from registry.i18n import _
from registry.license.codes import parse_license_identifier
from registry.seal.signature import assemble, parse_signature

__all__ = [
    "CERT_STATES",
    "CODE_CONFLICT",
    "CODE_OK",
    "CODE_SCHEMA",
    "CODE_UNKNOWN_BASE",
    "CREATING_OPERATE_TYPES",
    "DIGESTS_PATH",
    "HEAD_BAD_REQUEST",
    "HEAD_FORBIDDEN",
    "HEAD_OK",
    "HEAD_TOO_LARGE",
    "HEAD_UNAUTHORIZED",
    "LICENSES_PATH",
    "OPERATE_NEW",
    "OPERATE_TYPES",
    "PREDECESSOR_OPERATE_TYPES",
    "SHARE_CHECK_PATH",
    "SHARE_LOG_PATH",
    "SHARE_QUERY_PATH",
    "SHARE_USES_PATH",
    "Ack",
    "AckResult",
    "Head",
    "Item",
    "LicenseStatus",
    "SignatureParts",
    "WireItem",
    "blob_ref",
    "build_item",
    "build_request",
    "build_response",
    "cert_state_of",
    "content_digest",
    "error_response",
    "parse_json",
    "parse_request",
    "parse_response",
    "request_blobs",
    "split_signature",
    "status_of",
    "validate_item",
]

LICENSES_PATH = "/api/v1/licenses"
"""Where items are pushed (POST) and read back (GET ``/{identifier}``)."""
DIGESTS_PATH = "/api/v1/digests"
"""Content digests in identifier order (GET ``?after=&limit=``), for reconciliation."""
SHARE_QUERY_PATH = "/api/v1/share/query"
"""Sharing: a holder's current licenses (POST holderCode, typeCode, useCause)."""
SHARE_CHECK_PATH = "/api/v1/share/check"
"""Sharing: 核验 claimed face data (POST ZZBS or typeCode + ZZBH, elements, useCause)."""
SHARE_LOG_PATH = "/api/v1/share/log"
"""Sharing: the use log (GET ``?limit=``)."""
SHARE_USES_PATH = "/api/v1/share/uses"
"""Sharing: the use log summed per department, type and use cause (GET ``?since=&until=``)."""

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
"""head.status when a request carries more items or bytes than the platform takes at once."""
HEAD_FORBIDDEN = 13
"""head.status when the credential may not push for a department an item names (HTTP 403)."""
MAX_DEPTH = 32
"""Deepest nesting of objects and lists a request body may have."""

CODE_OK = "OK"
"""Ack code of an accepted or duplicate item."""
CODE_SCHEMA = "SCHEMA"
"""Ack code of an item that does not have the shape of the interface."""
CODE_CONFLICT = "CONFLICT"
"""Ack code of an item whose identifier (and so version) is stored with other signed content."""
CODE_UNKNOWN_BASE = "UNKNOWN_BASE"
"""Ack code of a status event for a license version the platform has never received: HELD
until the version arrives, or REJECTED when the platform does not hold events."""


class AckResult(StrEnum):
    """What the platform did with one item."""

    ACCEPTED = "ACCEPTED"
    DUPLICATE = "DUPLICATE"
    """The identical item is already stored: success for the sender."""
    HELD = "HELD"
    """A status event for a version not received yet: kept, applied when the version arrives.
    Success for the sender (the platform has taken it over)."""
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
    signature: NotRequired[str]
    """base64 SES_Signature DER; or ``signatureParts`` instead."""
    signatureParts: NotRequired[dict[str, str]]
    """The SES_Signature without its constant parts (see :class:`SignatureParts`)."""
    eventSeq: NotRequired[int]
    """The sender's event number: a later event of a license has a larger one."""
    repair: NotRequired[bool]
    """A reconciliation's repair: replaces other stored content (when this verifies) and
    applies the status whatever the stored event number."""
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
    """The SES_Signature DER as received; empty when the item came as ``signatureParts``."""
    seq: int | None = None
    """eventSeq, when the sender numbers its events."""
    parts: SignatureParts | None = None
    """The signature's parts: as received, or split from the DER when it splits exactly."""
    blobs: Mapping[str, bytes] = field(default_factory=dict)
    """The SESeal and certificate DER that ``parts`` references."""
    repair: bool = False
    """Sent by a reconciliation to repair drift (see :class:`Item`)."""

    def signature_der(self) -> bytes:
        """The complete SES_Signature DER (rebuilt from the parts when it came as parts)."""
        if self.signature or self.parts is None:
            return self.signature
        return self.parts.der(self.blobs)

    @property
    def digest_input(self) -> SignatureParts | bytes:
        """What :func:`content_digest` of this item's signature is computed over."""
        return self.parts if self.parts is not None else self.signature

    @property
    def status(self) -> LicenseStatus:
        return status_of(self.cert_state)


@dataclass(frozen=True)
class SignatureParts:
    """A SES_Signature as the registry stores it: its own fields plus references to the SESeal
    and the signer certificate, which are the same for every license of a seal.

    :meth:`der` rebuilds the exact DER with :func:`registry.seal.signature.assemble`.
    """

    seal_ref: str
    """:func:`blob_ref` of the SESeal DER."""
    cert_ref: str
    """:func:`blob_ref` of the signer certificate DER."""
    signed_at: dt.datetime
    """TBS_Sign.timeInfo, whole seconds, UTC."""
    data_hash: bytes
    """TBS_Sign.dataHash as signed (not recomputed: an edited record must still fail)."""
    property_info: str
    """TBS_Sign.propertyInfo (the identifier the signature names)."""
    value: bytes
    """The signer's DER ECDSA signature."""

    def der(self, blobs: Mapping[str, bytes]) -> bytes:
        """The complete SES_Signature DER; :class:`KeyError` names a missing blob."""
        return assemble(
            blobs[self.seal_ref],
            blobs[self.cert_ref],
            self.signed_at,
            self.data_hash,
            self.property_info,
            self.value,
        )

    def to_dict(self) -> dict[str, str]:
        return {
            "seal": self.seal_ref,
            "cert": self.cert_ref,
            "signedAt": self.signed_at.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ"),
            "dataHash": base64.b64encode(self.data_hash).decode("ascii"),
            "propertyInfo": self.property_info,
            "value": base64.b64encode(self.value).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, obj: Any) -> SignatureParts:
        """Read the wire form; :class:`ValueError` says what is wrong."""
        if not isinstance(obj, dict):
            raise ValueError("signatureParts must be an object")
        keys = ("seal", "cert", "signedAt", "dataHash", "propertyInfo", "value")
        for key in keys:
            if not isinstance(obj.get(key), str):
                raise ValueError(f"signatureParts.{key} must be a string")
        signed_at = _generalized_time(obj["signedAt"])
        try:
            data_hash = base64.b64decode(obj["dataHash"], validate=True)
            value = base64.b64decode(obj["value"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("signatureParts.dataHash and .value must be base64") from exc
        return cls(obj["seal"], obj["cert"], signed_at, data_hash, obj["propertyInfo"], value)


def blob_ref(der: bytes) -> str:
    """How items refer to a SESeal or certificate carried once in ``data.blobs``."""
    return hashlib.sha256(der).hexdigest()


def _generalized_time(text: str) -> dt.datetime:
    # strptime costs 20 µs; this is the one fixed form TBS_Sign.timeInfo takes here.
    if len(text) != 15 or text[-1] != "Z" or not text[:14].isdigit():
        raise ValueError("signatureParts.signedAt must be YYYYMMDDHHMMSSZ")
    try:
        return dt.datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]),
                           int(text[10:12]), int(text[12:14]), tzinfo=dt.UTC)  # fmt: skip
    except ValueError as exc:
        raise ValueError(f"signatureParts.signedAt {text!r} is not a valid time") from exc


def split_signature(der: bytes) -> tuple[SignatureParts, dict[str, bytes]] | None:
    """The parts and blobs of a whole SES_Signature DER, when they rebuild it exactly.

    None for a DER that does not parse or carries more than the parts hold (extDatas, a
    timestamp): such a signature is kept, compared and stored whole.
    """
    try:
        sig = parse_signature(der)
    except VerificationError:
        return None
    parts = SignatureParts(blob_ref(sig.seal_der), blob_ref(sig.cert_der), sig.signed_at,
                           sig.data_hash, sig.property_info, sig.signature)  # fmt: skip
    blobs = {parts.seal_ref: sig.seal_der, parts.cert_ref: sig.cert_der}
    try:
        same = parts.der(blobs) == der
    except (SealError, ValueError):
        same = False
    return (parts, blobs) if same else None


def content_digest(
    record: bytes, signature: SignatureParts | bytes, predecessor: str | None
) -> str:
    """SHA-256 over the signed content of an item: record, signature and predecessor.

    What "the same item" means on both sides (idempotency, reconciliation). The signature
    counts by its parts (the seal and certificate by their SHA-256), so a whole DER and the
    same signature sent as parts have one digest; a DER that does not split exactly is hashed
    whole. Status fields are left out on purpose: a status change of a stored version is an
    update, not a conflict. Each part is length-prefixed so no two contents share a digest.
    """
    if isinstance(signature, bytes):
        split = split_signature(signature)
        if split is not None:
            signature = split[0]
    if isinstance(signature, SignatureParts):
        fields: tuple[bytes, ...] = (
            b"parts-v1", record, signature.seal_ref.encode(), signature.cert_ref.encode(),
            signature.signed_at.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ").encode(),
            signature.data_hash, signature.property_info.encode(), signature.value,
        )  # fmt: skip
    else:
        fields = (b"der-v1", record, signature)
    h = hashlib.sha256()
    for part in (*fields, (predecessor or "").encode()):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


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
    seq: int | None = None
    """The item's eventSeq, echoed when it had one: matches acks to items without relying on
    their order or count."""

    @property
    def ok(self) -> bool:
        """True for ACCEPTED, DUPLICATE and HELD: the sender may mark the event delivered."""
        return self.result is not AckResult.REJECTED

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ZZBS": self.identifier,
            "version": self.version,
            "result": self.result.value,
            "code": self.code,
            "message": self.message,
        }
        if self.seq is not None:
            out["eventSeq"] = self.seq
        return out

    @classmethod
    def from_dict(cls, obj: Any) -> Ack:
        """Read an ack; :class:`AggregationError` if it is not one."""
        if not isinstance(obj, dict):
            raise AggregationError(_("ack is not an object: {ack!r}", ack=obj))
        try:
            values = {k: obj[k] for k in ("ZZBS", "version", "result", "code", "message")}
        except KeyError as exc:
            raise AggregationError(_("ack lacks {key!r}: {ack!r}", key=exc.args[0],
                                     ack=obj)) from exc
        if not all(isinstance(v, str) for v in values.values()):
            raise AggregationError(_("ack fields must be strings: {ack!r}", ack=obj))
        try:
            result = AckResult(values["result"])
        except ValueError as exc:
            raise AggregationError(_("unknown ack result {result!r}",
                                     result=values["result"])) from exc
        seq = obj.get("eventSeq")
        if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool)):
            raise AggregationError(_("ack eventSeq must be an integer: {ack!r}", ack=obj))
        return cls(
            values["ZZBS"], values["version"], result, values["code"], values["message"], seq
        )


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
    items: Sequence[Item | Mapping[str, Any]],
    *,
    access_id: str,
    access_token: str,
    request_id: str,
    blobs: Mapping[str, bytes] | None = None,
) -> dict[str, Any]:
    """The request envelope around ``items``; ``blobs`` (ref → DER) back ``signatureParts``."""
    head: Head = {"accessId": access_id, "accessToken": access_token, "requestId": request_id}
    data: dict[str, Any] = {"items": list(items)}
    if blobs:
        data["blobs"] = {k: base64.b64encode(v).decode("ascii") for k, v in blobs.items()}
    return {"head": head, "data": data}


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

_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_json(raw: bytes) -> Any:
    """A request body as JSON, or :class:`EnvelopeError` saying why not: not UTF-8, not JSON,
    NaN or Infinity, nested deeper than :data:`MAX_DEPTH`, or a lone surrogate (``\\ud800``)
    that no UTF-8 text can hold."""
    try:
        obj = json.loads(raw, parse_constant=_no_constant)
    except RecursionError as exc:
        raise EnvelopeError(f"body is nested deeper than {MAX_DEPTH} levels") from exc
    except UnicodeDecodeError as exc:
        raise EnvelopeError(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from exc
    except ValueError as exc:
        raise EnvelopeError(f"body is not JSON: {exc}") from exc
    # Valid UTF-8 cannot carry a surrogate, so only a \\uD800-\\uDFFF escape can: the strings
    # are looked at only when the raw bytes have one (a surrogate pair is fine).
    surrogates = _SURROGATE_ESCAPE.search(raw) is not None
    # Containers only, from a list around the body (depth 0); iterative: depth costs no stack.
    todo: list[tuple[dict[str, Any] | list[Any], int]] = [([obj], 0)]
    while todo:
        node, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise EnvelopeError(f"body is nested deeper than {MAX_DEPTH} levels")
        values = list(node.values()) if isinstance(node, dict) else node
        for value in values:
            if type(value) is dict or type(value) is list:
                todo.append((value, depth + 1))
        if surrogates and any(type(t) is str and _SURROGATE.search(t) for t in (*node, *values)):
            raise EnvelopeError("body holds a lone surrogate (\\ud800-\\udfff), not text")
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")



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


def request_blobs(obj: Any) -> dict[str, bytes]:
    """``data.blobs`` of a request, decoded and checked against their refs.

    :class:`EnvelopeError` if a blob is not base64 or does not hash to its ref: one bad blob
    would otherwise fail every item that uses it with a misleading verdict.
    """
    data = obj.get("data") if isinstance(obj, dict) else None
    raw = data.get("blobs") if isinstance(data, dict) else None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise EnvelopeError("data.blobs must be an object")
    blobs: dict[str, bytes] = {}
    for ref, text in raw.items():
        try:
            der = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise EnvelopeError(f"data.blobs[{ref!r}] is not base64") from exc
        if blob_ref(der) != ref:
            raise EnvelopeError(f"data.blobs[{ref!r}] does not hash to its reference")
        blobs[ref] = der
    return blobs


_ITEM_KEYS = ("operateType", "certState", "ZZBS", "version", "associatedZZBS", "elements")


def validate_item(obj: Any, *, blobs: Mapping[str, bytes] | None = None) -> WireItem:
    """Check one item's shape and decode it; :class:`ItemSchemaError` names what is wrong.

    Checks, in order: (1) an object with every key; (2) operateType and certState are known
    codes (99 needs certStatusDescription); (3) ZZBS is a well-formed identifier with a correct
    check character and its version part equals ``version``; (4) associatedZZBS is null or an
    identifier, and is present for 延续/转入/变更; (5) elements is an object whose ZZBS is the
    item's; (6) signature is base64, or signatureParts is well formed and its blobs are in
    ``blobs``; (7) eventSeq, if present, is a non-negative integer, and repair a boolean.
    """
    # (1) shape
    if not isinstance(obj, dict):
        raise ItemSchemaError("item must be a JSON object")
    zzbs = obj["ZZBS"] if isinstance(obj.get("ZZBS"), str) else ""
    ver = obj["version"] if isinstance(obj.get("version"), str) else ""

    def fail(message: str) -> ItemSchemaError:
        return ItemSchemaError(message, identifier=zzbs, version=ver)

    compact = "signature" not in obj and "signatureParts" in obj
    for key in (*_ITEM_KEYS, "signatureParts" if compact else "signature"):
        if key not in obj:
            raise fail(f"item lacks {key!r}")
    strings = ("operateType", "certState", "ZZBS", "version", *(() if compact else ("signature",)))
    for key in strings:
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
    parts: SignatureParts | None = None
    item_blobs: dict[str, bytes] = {}
    signature = b""
    if compact:
        try:
            parts = SignatureParts.from_dict(obj["signatureParts"])
        except ValueError as exc:
            raise fail(str(exc)) from exc
        pool = blobs or {}
        for ref in (parts.seal_ref, parts.cert_ref):
            if ref not in pool:
                raise fail(f"signatureParts names blob {ref!r}, not in data.blobs")
            item_blobs[ref] = pool[ref]
    else:
        try:
            signature = base64.b64decode(obj["signature"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise fail("signature is not base64") from exc
        if not signature:
            raise fail("signature is empty")
        split = split_signature(signature)
        if split is not None:
            parts, item_blobs = split
    # (7) event number
    seq = obj.get("eventSeq")
    if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool)
                            or not 0 <= seq < 2**63):  # fmt: skip
        raise fail("eventSeq must be a non-negative 64-bit integer")
    repair = obj.get("repair", False)
    if not isinstance(repair, bool):
        raise fail("repair must be true or false")
    return WireItem(
        operate_type=obj["operateType"],
        cert_state=obj["certState"],
        identifier=zzbs,
        version=ver,
        predecessor=predecessor,
        elements=elements,
        signature=signature,
        seq=seq,
        parts=parts,
        blobs=item_blobs,
        repair=repair,
    )


# -- reading a response (the sender's side) --------------------------------------------------


def parse_response(obj: Any) -> list[Ack]:
    """The acks of a success envelope; :class:`EnvelopeError` if it is not one."""
    if not isinstance(obj, dict) or not isinstance(obj.get("head"), dict):
        raise EnvelopeError(_("response lacks a head object"))
    status = obj["head"].get("status")
    if status != HEAD_OK:
        message = obj["head"].get("message", "")
        raise EnvelopeError(_("platform refused the request: status {status!r}: {message}",
                              status=status, message=message))
    data = obj.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("acks"), list):
        raise EnvelopeError(_("response lacks data.acks (a list)"))
    return [Ack.from_dict(a) for a in data["acks"]]
