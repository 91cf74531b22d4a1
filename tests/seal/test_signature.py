"""SES_Signature built by concatenation: equal to asn1crypto's encoding, readable by a generic
DER walk, and verifiable with the signer certificate."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from asn1crypto import core
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.errors import NotAuthorizedError, SealError, VerificationError
from registry.seal.asn1 import ECDSA_WITH_SHA256, SESeal, SESSignature, TBSSign
from registry.seal.making import make_seal, seal_picture_png
from registry.seal.pki import create_test_pki, issue_signer, load_maker, load_signer_key
from registry.seal.signature import (
    SealingContext,
    assemble,
    parse_signature,
    tbs_sign_der,
)
from registry.seal.signer import SoftwareSigner

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PASS = b"test-only-passphrase"
ZZBS = "1.2.156.3005.2.11100000MB0143028R001.91350100M000100Y43.20240001.001.N"
SIGNED_AT = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class Kit:
    seal: bytes
    signer: SoftwareSigner
    other_signer: SoftwareSigner


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    ks: Path = tmp_path_factory.mktemp("sig") / "keystore"
    create_test_pki(ks, PASS, now=NOW)
    signers = []
    for es_id in ("S1", "S2"):
        issued = issue_signer(
            ks,
            PASS,
            es_id=es_id,
            department_name="某市市场监督管理局",
            department_uscc="11330105002500287C",
            now=NOW,
            not_after=NOW.replace(year=2029),
        )
        signers.append(SoftwareSigner(load_signer_key(ks, issued.key_file, PASS), issued.cert_der))
    seal = make_seal(
        maker=load_maker(ks, PASS),
        es_id="S1",
        kind=2,
        name="电子证照专用章",
        signer_cert_der=signers[0].certificate_der,
        authorized_types=["11100000MB0143028R001"],
        created=NOW,
        valid_start=NOW,
        valid_end=NOW.replace(year=2028),
        picture_png=seal_picture_png("某市市场监督管理局", "电子证照专用章", size_px=96),
    )
    return Kit(seal, signers[0], signers[1])


def _reference_tbs(seal: bytes, signed_at: dt.datetime, data_hash: bytes, info: str) -> bytes:
    return TBSSign(
        {
            "version": 4,
            "eseal": SESeal.load(seal),
            "timeInfo": signed_at,
            "dataHash": data_hash,
            "propertyInfo": info,
        }
    ).dump()


def _children(value: core.Asn1Value) -> list[core.Asn1Value]:
    assert isinstance(value, core.Sequence)
    return [value[i] for i in range(len(value))]


def _verify(cert_der: bytes, signature: bytes, data: bytes) -> None:
    public_key = x509.load_der_x509_certificate(cert_der).public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))


def test_fast_tbs_equals_asn1crypto_encoding(kit: Kit) -> None:
    data_hash = hashlib.sha256(b"record").digest()
    fast = tbs_sign_der(kit.seal, SIGNED_AT, data_hash, ZZBS)
    assert fast == _reference_tbs(kit.seal, SIGNED_AT, data_hash, ZZBS)


@settings(max_examples=60, deadline=None)
@given(
    info=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300),
    when=st.datetimes(
        min_value=dt.datetime(2000, 1, 1),
        max_value=dt.datetime(2099, 12, 31),
        timezones=st.just(dt.UTC),
    ),
    data_hash=st.binary(min_size=0, max_size=200),
)
def test_fast_der_equals_asn1crypto_for_any_lengths(
    kit: Kit, info: str, when: dt.datetime, data_hash: bytes
) -> None:
    # Lengths cross the short/long DER length forms for propertyInfo and dataHash.
    when = when.replace(microsecond=0)
    assert tbs_sign_der(kit.seal, when, data_hash, info) == _reference_tbs(
        kit.seal, when, data_hash, info
    )
    cert = kit.signer.certificate_der
    full = assemble(kit.seal, cert, when, data_hash, info, b"\x30\x06\x02\x01\x01\x02\x01\x02")
    reference = SESSignature(
        {
            "toSign": TBSSign.load(tbs_sign_der(kit.seal, when, data_hash, info)),
            "cert": cert,
            "signatureAlgID": ECDSA_WITH_SHA256,
            "signature": b"\x30\x06\x02\x01\x01\x02\x01\x02",
        }
    ).dump()
    assert full == reference


def test_sealing_context_signature_verifies_over_tbs(kit: Kit) -> None:
    ctx = SealingContext(kit.seal, kit.signer)
    data_hash = hashlib.sha256(b"record").digest()
    signature = ctx.sign(data_hash, SIGNED_AT, ZZBS)
    _verify(
        kit.signer.certificate_der, signature, tbs_sign_der(kit.seal, SIGNED_AT, data_hash, ZZBS)
    )


def test_sealing_context_handles_varying_outer_lengths(kit: Kit) -> None:
    # The cached hash prefix depends on the outer length; 127 vs 200 characters change it.
    ctx = SealingContext(kit.seal, kit.signer)
    data_hash = hashlib.sha256(b"r").digest()
    for info in ("A", "B" * 127, "C" * 200, "A"):
        signature = ctx.sign(data_hash, SIGNED_AT, info)
        _verify(
            kit.signer.certificate_der,
            signature,
            tbs_sign_der(kit.seal, SIGNED_AT, data_hash, info),
        )
    with pytest.raises(InvalidSignature):
        _verify(
            kit.signer.certificate_der,
            ctx.sign(data_hash, SIGNED_AT, "A"),
            tbs_sign_der(kit.seal, SIGNED_AT, data_hash, "B"),
        )


def test_independent_walk_of_ses_signature(kit: Kit) -> None:
    ctx = SealingContext(kit.seal, kit.signer)
    record = b'{"ZZBS":"x"}'
    data_hash = hashlib.sha256(record).digest()
    signature = ctx.sign(data_hash, SIGNED_AT, ZZBS)
    der = ctx.assemble(SIGNED_AT, data_hash, ZZBS, signature)

    to_sign, cert, alg, sig_bits = _children(core.load(der))
    assert [to_sign.tag, cert.tag, alg.tag, sig_bits.tag] == [16, 4, 6, 3]
    version, eseal, time_info, hash_bits, property_info = _children(to_sign)
    assert version.contents == b"\x04"
    assert eseal.dump() == kit.seal
    assert (time_info.tag, time_info.contents) == (24, b"20260304050607Z")
    assert hash_bits.contents == b"\x00" + data_hash
    assert (property_info.tag, property_info.contents) == (22, ZZBS.encode())
    assert cert.contents == kit.signer.certificate_der
    assert core.ObjectIdentifier.load(alg.dump()).dotted == "1.2.840.10045.4.3.2"
    assert sig_bits.contents[0] == 0
    _verify(cert.contents, sig_bits.contents[1:], to_sign.dump())


def test_parse_signature_round_trip(kit: Kit) -> None:
    data_hash = hashlib.sha256(b"record").digest()
    signed_at = dt.datetime(2026, 3, 4, 5, 6, 7, 890000)  # naive = UTC; fraction dropped
    ctx = SealingContext(kit.seal, kit.signer)
    signature = ctx.sign(data_hash, signed_at, ZZBS)
    parsed = parse_signature(
        assemble(kit.seal, kit.signer.certificate_der, signed_at, data_hash, ZZBS, signature)
    )
    assert parsed.tbs_der == tbs_sign_der(kit.seal, SIGNED_AT, data_hash, ZZBS)
    assert parsed.version == 4
    assert parsed.seal_der == kit.seal
    assert parsed.signed_at == SIGNED_AT
    assert parsed.data_hash == data_hash
    assert parsed.property_info == ZZBS
    assert parsed.cert_der == kit.signer.certificate_der
    assert parsed.algorithm == ECDSA_WITH_SHA256
    assert parsed.signature == signature
    _verify(parsed.cert_der, parsed.signature, parsed.tbs_der)


def test_aware_non_utc_time_is_converted(kit: Kit) -> None:
    beijing = dt.timezone(dt.timedelta(hours=8))
    local = SIGNED_AT.astimezone(beijing)
    data_hash = bytes(32)
    assert tbs_sign_der(kit.seal, local, data_hash, "x") == tbs_sign_der(
        kit.seal, SIGNED_AT, data_hash, "x"
    )


@pytest.mark.parametrize(
    "der",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x30\x00", id="empty-sequence"),
        pytest.param(b"\x04\x03abc", id="octet-string"),
    ],
)
def test_parse_signature_rejects_malformed(der: bytes) -> None:
    with pytest.raises(VerificationError) as caught:
        parse_signature(der)
    assert caught.value.sub_indication == "FORMAT_FAILURE"


def test_parse_signature_rejects_truncation_and_trailing_bytes(kit: Kit) -> None:
    der = assemble(kit.seal, kit.signer.certificate_der, SIGNED_AT, bytes(32), "x", b"\x30\x00")
    for bad in (der[:-1], der + b"\x00"):
        with pytest.raises(VerificationError) as caught:
            parse_signature(bad)
        assert caught.value.sub_indication == "FORMAT_FAILURE"


def test_context_refuses_signer_outside_cert_list(kit: Kit) -> None:
    with pytest.raises(NotAuthorizedError, match="certList"):
        SealingContext(kit.seal, kit.other_signer)


def test_context_refuses_malformed_seal(kit: Kit) -> None:
    with pytest.raises(SealError, match="malformed seal"):
        SealingContext(kit.seal[:-3], kit.signer)


def test_sign_rejects_bad_hash_and_non_ascii_property(kit: Kit) -> None:
    ctx = SealingContext(kit.seal, kit.signer)
    with pytest.raises(SealError, match="32-byte"):
        ctx.sign(b"short", SIGNED_AT, ZZBS)
    with pytest.raises(SealError, match="IA5String"):
        ctx.sign(bytes(32), SIGNED_AT, "证照")


def test_context_exposes_parsed_seal(kit: Kit) -> None:
    ctx = SealingContext(kit.seal, kit.signer)
    assert ctx.seal.es_id == "S1"
    assert ctx.seal.authorized_types == ("11100000MB0143028R001",)
    assert ctx.certificate_der == kit.signer.certificate_der


def test_software_signer_signs_prehashed_digest(kit: Kit) -> None:
    digest = hashlib.sha256(b"message").digest()
    signature = kit.signer.sign_digest(digest)
    public_key = x509.load_der_x509_certificate(kit.signer.certificate_der).public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    _verify(kit.signer.certificate_der, signature, b"message")
    with pytest.raises(SealError, match="32-byte"):
        kit.signer.sign_digest(b"\x00" * 20)


def test_software_signer_refuses_key_of_another_certificate(kit: Kit) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(SealError, match="does not belong"):
        SoftwareSigner(stranger, kit.signer.certificate_der)
    with pytest.raises(SealError, match=r"not a DER X\.509"):
        SoftwareSigner(stranger, b"junk")


# -- the hand-written reader against asn1crypto's classes -----------------------------------

_OPTIONAL_EXT = [{"extnID": "1.2.3.4", "extnValue": b"ext"}]


@settings(max_examples=60, deadline=None)
@given(
    info=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200),
    when=st.datetimes(
        min_value=dt.datetime(1950, 1, 1),
        max_value=dt.datetime(2099, 12, 31),
        timezones=st.just(dt.UTC),
    ),
    data_hash=st.binary(max_size=140),
    signature=st.binary(max_size=140),
    cert=st.binary(max_size=300),
    with_ext=st.booleans(),
    with_timestamp=st.booleans(),
    version=st.integers(min_value=-(2**31), max_value=2**31 - 1),
)
def test_parse_signature_agrees_with_asn1crypto(
    kit: Kit,
    info: str,
    when: dt.datetime,
    data_hash: bytes,
    signature: bytes,
    cert: bytes,
    with_ext: bool,
    with_timestamp: bool,
    version: int,
) -> None:
    tbs: dict[str, object] = {
        "version": version,
        "eseal": SESeal.load(kit.seal),
        "timeInfo": when,
        "dataHash": data_hash,
        "propertyInfo": info,
    }
    if with_ext:
        tbs["extDatas"] = _OPTIONAL_EXT
    fields: dict[str, object] = {
        "toSign": tbs,
        "cert": cert,
        "signatureAlgID": "1.2.156.10197.1.501" if with_ext else ECDSA_WITH_SHA256,
        "signature": signature,
    }
    if with_timestamp:
        fields["timeStamp"] = b"token"
    der = SESSignature(fields).dump()
    parsed = parse_signature(der)
    reference = SESSignature.load(der)
    assert parsed.tbs_der == reference["toSign"].dump()
    assert parsed.version == version
    assert parsed.seal_der == kit.seal
    assert parsed.signed_at == reference["toSign"]["timeInfo"].native == when
    assert parsed.data_hash == data_hash
    assert parsed.property_info == info
    assert parsed.cert_der == cert
    assert parsed.algorithm == reference["signatureAlgID"].dotted
    assert parsed.signature == signature


_HASH_TLV = b"\x03\x21\x00" + bytes(32)  # dataHash of _good(): all zero


def _good(kit: Kit) -> bytes:
    return assemble(kit.seal, kit.signer.certificate_der, SIGNED_AT, bytes(32), "x", b"\x30\x00")


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        pytest.param(lambda d: d[:1] + b"\x84\x00" + d[2:], "not minimal", id="non-minimal-length"),
        pytest.param(lambda d: b"\x31" + d[1:], "expected tag 0x30", id="outer-is-a-set"),
        pytest.param(
            lambda d: d.replace(_HASH_TLV + b"\x16", b"\x03\x21\x01" + _HASH_TLV[3:] + b"\x16"),
            "unused bits",
            id="unused-bits",
        ),
        pytest.param(
            lambda d: d.replace(b"\x18\x0f20260304050607Z", b"\x18\x0f2026030405060.Z", 1),
            "GeneralizedTime",
            id="bad-time",
        ),
        pytest.param(
            lambda d: d.replace(_HASH_TLV + b"\x16\x01x", _HASH_TLV + b"\x13\x01x"),
            "propertyInfo",
            id="printable",
        ),
    ],
)
def test_parse_signature_is_strict(
    kit: Kit, mangle: Callable[[bytes], bytes], message: str
) -> None:
    bad = mangle(_good(kit))
    assert bad != _good(kit)
    with pytest.raises(VerificationError, match=message) as caught:
        parse_signature(bad)
    assert caught.value.sub_indication == "FORMAT_FAILURE"
