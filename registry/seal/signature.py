"""GB/T 38540 v4 SES_Signature: built by concatenating DER, read with asn1crypto.

Sealing a hundred thousand licenses must run near the raw ECDSA signing rate, so the per-license
work is a few small byte strings around the (constant) embedded seal, not an asn1crypto object
tree. :class:`SealingContext` goes further: the SHA-256 state after the constant prefix of
DER(TBS_Sign) is computed once per outer length and ``copy()``-ed, so each signature hashes only
the ~150 bytes that change. ``tests/seal/test_signature.py`` checks the bytes against
asn1crypto's own encoding and an independent generic DER walk.

Example::

    ctx = SealingContext(seal_der, signer)
    sig = ctx.sign(record_hash, signed_at, identifier)
    der = assemble(seal_der, signer.certificate_der, signed_at, record_hash, identifier, sig)
    assert parse_signature(der).property_info == identifier

Times: ``timeInfo`` is GeneralizedTime ``YYYYMMDDHHMMSSZ`` in UTC, whole seconds (fractions are
dropped). A naive datetime is taken as UTC, because that is how the registry database hands back
the times it stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from asn1crypto import core

from registry.errors import NotAuthorizedError, SealError, VerificationError
from registry.i18n import _
from registry.seal.asn1 import ECDSA_WITH_SHA256, SEAL_VERSION
from registry.seal.making import SealInfo, parse_seal
from registry.seal.signer import DIGEST_SIZE, Signer

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = [
    "ParsedSignature",
    "SealingContext",
    "assemble",
    "parse_signature",
    "tbs_sign_der",
]

_ECDSA_WITH_SHA256_TLV = core.ObjectIdentifier(ECDSA_WITH_SHA256).dump()
_VERSION_TLV = b"\x02\x01" + bytes([SEAL_VERSION])


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _der_len(len(content)) + content


def _bit_string(data: bytes) -> bytes:
    return _tlv(0x03, b"\x00" + data)  # 0 unused bits: whole bytes


def _generalized_time(when: dt.datetime) -> bytes:
    utc = when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
    return b"\x18\x0f" + utc.strftime("%Y%m%d%H%M%SZ").encode("ascii")


def _ia5(text: str) -> bytes:
    if not text.isascii():
        raise SealError(_("propertyInfo {text} must be ASCII (IA5String)", text=repr(text)))
    return _tlv(0x16, text.encode("ascii"))


def _tbs_tail(signed_at: dt.datetime, data_hash: bytes, property_info: str) -> bytes:
    return _generalized_time(signed_at) + _bit_string(data_hash) + _ia5(property_info)


def tbs_sign_der(
    seal_der: bytes, signed_at: dt.datetime, data_hash: bytes, property_info: str
) -> bytes:
    """DER of TBS_Sign{version 4, eseal, timeInfo, dataHash, propertyInfo}."""
    content = _VERSION_TLV + seal_der + _tbs_tail(signed_at, data_hash, property_info)
    return _tlv(0x30, content)


def assemble(
    seal_der: bytes,
    cert_der: bytes,
    signed_at: dt.datetime,
    data_hash: bytes,
    property_info: str,
    signature: bytes,
) -> bytes:
    """The complete SES_Signature DER from its parts (the inverse of :func:`parse_signature`)."""
    content = (
        tbs_sign_der(seal_der, signed_at, data_hash, property_info)
        + _tlv(0x04, cert_der)
        + _ECDSA_WITH_SHA256_TLV
        + _bit_string(signature)
    )
    return _tlv(0x30, content)


class SealingContext:
    """Signs many licenses with one seal: ``sign`` costs one short SHA-256 and one ECDSA sign.

    Construction checks once that the seal parses and binds the signer's certificate.
    """

    __slots__ = ("_last_time", "_prefix", "_signer", "_states", "seal", "seal_der")

    def __init__(self, seal_der: bytes, signer: Signer) -> None:
        try:
            seal: SealInfo = parse_seal(seal_der)
        except VerificationError as exc:
            raise SealError(_("cannot seal with a malformed seal: {detail}",
                              detail=exc)) from exc
        if signer.certificate_der not in seal.cert_list:
            raise NotAuthorizedError(_("the signer certificate is not in the certList of seal "
                                       "{es_id}", es_id=seal.es_id))
        self.seal = seal
        """The parsed seal (its authorized types, validity, esID)."""
        self.seal_der = seal_der
        """The SESeal DER embedded verbatim in every TBS_Sign."""
        self._signer = signer
        self._prefix = _VERSION_TLV + seal_der
        # SHA-256 state after "30 <len> 02 01 04 <seal>", per content length: lengths vary only
        # with the propertyInfo length, so this holds a handful of entries.
        self._states: dict[int, _Hash] = {}
        # A chunk is usually sealed at one signing time: format it once.
        self._last_time: tuple[dt.datetime, bytes] | None = None

    @property
    def certificate_der(self) -> bytes:
        """The signer certificate that verifies this context's signatures."""
        return self._signer.certificate_der

    def sign(self, data_hash: bytes, signed_at: dt.datetime, property_info: str) -> bytes:
        """The signer's DER ECDSA signature over DER(TBS_Sign) for one license."""
        if len(data_hash) != DIGEST_SIZE:
            raise SealError(_("dataHash must be a {size}-byte SHA-256, got {got}",
                              size=DIGEST_SIZE, got=len(data_hash)))
        last = self._last_time
        if last is None or last[0] != signed_at:
            last = self._last_time = (signed_at, _generalized_time(signed_at))
        tail = last[1] + _bit_string(data_hash) + _ia5(property_info)
        length = len(self._prefix) + len(tail)
        state = self._states.get(length)
        if state is None:
            state = hashlib.sha256(b"\x30" + _der_len(length) + self._prefix)
            self._states[length] = state
        digest = state.copy()
        digest.update(tail)
        return self._signer.sign_digest(digest.digest())

    def assemble(
        self, signed_at: dt.datetime, data_hash: bytes, property_info: str, signature: bytes
    ) -> bytes:
        """:func:`assemble` with this context's seal and signer certificate."""
        return assemble(
            self.seal_der, self.certificate_der, signed_at, data_hash, property_info, signature
        )


@dataclass(frozen=True)
class ParsedSignature:
    """The parts of a SES_Signature, as they appear in the DER."""

    tbs_der: bytes
    """The exact bytes of toSign: what the signature covers."""
    version: int
    """TBS_Sign.version (4 for GB/T 38540-2020)."""
    seal_der: bytes
    """The embedded SESeal, verbatim."""
    signed_at: dt.datetime
    """TBS_Sign.timeInfo (UTC): the claimed signing time."""
    data_hash: bytes
    """TBS_Sign.dataHash: SHA-256 of the signed record."""
    property_info: str
    """TBS_Sign.propertyInfo: the identifier (ZZBS) of the sealed license."""
    cert_der: bytes
    """SES_Signature.cert: the signer certificate (DER)."""
    algorithm: str
    """SES_Signature.signatureAlgID (dotted OID)."""
    signature: bytes
    """SES_Signature.signature: DER ECDSA over ``tbs_der``."""


class _Reader:
    """A strict DER reader for exactly the SES_Signature layout (definite, minimal lengths)."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, tag: int, end: int, what: str) -> tuple[int, int]:
        """(start, end) of the contents of the next element, which must carry ``tag``."""
        buf, pos = self.buf, self.pos
        if pos + 2 > end or buf[pos] != tag:
            found = f"0x{buf[pos]:02x}" if pos < end else "the end"
            raise ValueError(f"{what}: expected tag 0x{tag:02x} at byte {pos}, found {found}")
        first = buf[pos + 1]
        if first < 0x80:
            start, length = pos + 2, first
        else:
            n = first & 0x7F
            if n == 0 or n > 4 or pos + 2 + n > end:
                raise ValueError(f"{what}: bad length at byte {pos}")
            length = int.from_bytes(buf[pos + 2 : pos + 2 + n], "big")
            if length < 0x80 or buf[pos + 2] == 0:
                raise ValueError(f"{what}: length at byte {pos} is not minimal (not DER)")
            start = pos + 2 + n
        stop = start + length
        if stop > end:
            raise ValueError(f"{what}: {length} bytes announced at byte {pos}, fewer remain")
        self.pos = stop
        return start, stop

    def enter(self, tag: int, end: int, what: str) -> int:
        """Step into the next constructed element; returns where its contents end."""
        start, stop = self.take(tag, end, what)
        self.pos = start
        return stop

    def bits(self, end: int, what: str) -> bytes:
        start, stop = self.take(0x03, end, what)
        if stop == start or self.buf[start] != 0:
            raise ValueError(f"{what}: a BIT STRING of whole bytes needs 0 unused bits")
        return self.buf[start + 1 : stop]


_TIME_RE = re.compile(rb"^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.(\d*[1-9]))?Z$")


def _parse_time(raw: bytes) -> dt.datetime:
    match = _TIME_RE.match(raw)
    if match is None:
        raise ValueError(f"timeInfo {raw!r} is not a DER GeneralizedTime (YYYYMMDDHHMMSS[.f]Z)")
    y, mo, d, h, mi, sec, frac = match.groups()
    micro = int((frac or b"0")[:6].ljust(6, b"0"))
    return dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec), micro, tzinfo=dt.UTC)


def _parse_der(der: bytes) -> ParsedSignature:
    r = _Reader(der)
    total = len(der)
    outer_end = r.enter(0x30, total, "SES_Signature")
    if outer_end != total:
        raise ValueError(f"{total - outer_end} bytes after the SES_Signature")
    tbs_start = r.pos
    tbs_end = r.enter(0x30, outer_end, "toSign")
    v_start, v_stop = r.take(0x02, tbs_end, "version")
    if v_stop == v_start or v_stop - v_start > 4:
        raise ValueError("version is not a small INTEGER")
    version = int.from_bytes(der[v_start:v_stop], "big", signed=True)
    seal_start = r.pos
    r.take(0x30, tbs_end, "eseal")
    seal_der = der[seal_start : r.pos]
    t_start, t_stop = r.take(0x18, tbs_end, "timeInfo")
    signed_at = _parse_time(der[t_start:t_stop])
    data_hash = r.bits(tbs_end, "dataHash")
    p_start, p_stop = r.take(0x16, tbs_end, "propertyInfo")
    property_info = der[p_start:p_stop].decode("ascii")
    if r.pos < tbs_end:
        r.take(0xA0, tbs_end, "extDatas")  # [0] EXPLICIT ExtensionDatas: signed, not read here
    if r.pos != tbs_end:
        raise ValueError("unexpected data at the end of toSign")
    c_start, c_stop = r.take(0x04, outer_end, "cert")
    a_start = r.pos
    r.take(0x06, outer_end, "signatureAlgID")
    alg_tlv = der[a_start : r.pos]
    algorithm = (
        ECDSA_WITH_SHA256
        if alg_tlv == _ECDSA_WITH_SHA256_TLV
        else core.ObjectIdentifier.load(alg_tlv).dotted
    )
    signature = r.bits(outer_end, "signature")
    if r.pos < outer_end:
        r.take(0x80, outer_end, "timeStamp")  # [0] IMPLICIT BIT STRING: not checked yet
    if r.pos != outer_end:
        raise ValueError("unexpected data at the end of the SES_Signature")
    return ParsedSignature(
        tbs_der=der[tbs_start:tbs_end],
        version=version,
        seal_der=seal_der,
        signed_at=signed_at,
        data_hash=data_hash,
        property_info=property_info,
        cert_der=der[c_start:c_stop],
        algorithm=algorithm,
        signature=signature,
    )


def parse_signature(der: bytes) -> ParsedSignature:
    """Read a SES_Signature. Malformed or non-DER input → VerificationError(FORMAT_FAILURE).

    A hand-written reader of this one fixed layout rather than asn1crypto's object tree: the
    provincial endpoint verifies thousands of signatures a second and the generic parse was a
    third of that cost. ``tests/seal/test_signature.py`` checks it against
    :class:`registry.seal.asn1.SESSignature`. The embedded seal is not parsed here (see
    :func:`registry.seal.making.parse_seal`), so a verifier can cache its work on the seal by
    the exact seal bytes.
    """
    try:
        return _parse_der(der)
    except (ValueError, UnicodeDecodeError, IndexError) as exc:
        raise VerificationError(_("not a GB/T 38540 v4 SES_Signature: {detail}", detail=exc),
                                sub_indication="FORMAT_FAILURE") from exc
