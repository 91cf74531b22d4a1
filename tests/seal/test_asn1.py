"""GB/T 38540 v4 SESeal: the ASN.1 classes, making, parsing, and the seal picture."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
from pathlib import Path

import pytest
from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from PIL import Image

from registry.errors import SealError, VerificationError
from registry.seal.asn1 import (
    AUTHORIZED_TYPES_OID,
    CERT_LIST_DIGESTS,
    ECDSA_WITH_SHA256,
    CertDigestObj,
    ExtData,
    SESCertList,
    SESeal,
    SESHeader,
    SESSealInfo,
    make_cert_list,
)
from registry.seal.making import SEAL_RED, make_seal, parse_seal, seal_picture_png
from registry.seal.pki import CertifiedKey, create_test_pki, issue_signer, load_maker

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PASS = b"test-only-passphrase"
TYPE = "11100000MB0143028R001"
OTHER_TYPE = "11100000000013338W032"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@dataclasses.dataclass(frozen=True)
class Made:
    maker: CertifiedKey
    signer_der: bytes
    png: bytes
    seal: bytes


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    ks = tmp_path_factory.mktemp("seal") / "keystore"
    create_test_pki(ks, PASS, now=NOW)
    signer = issue_signer(
        ks,
        PASS,
        es_id="3301000000001",
        department_name="某市市场监督管理局",
        department_uscc="11330105002500287C",
        now=NOW,
        not_after=NOW.replace(year=2029),
    )
    maker = load_maker(ks, PASS)
    png = seal_picture_png("某市市场监督管理局", "电子证照专用章")
    seal = _make(maker, signer.cert_der, png)
    return Made(maker, signer.cert_der, png, seal)


def _make(maker: CertifiedKey, signer_der: bytes, png: bytes, **over: object) -> bytes:
    args: dict[str, object] = {
        "maker": maker,
        "es_id": "3301000000001",
        "kind": 2,
        "name": "某市市场监督管理局电子证照专用章",
        "signer_cert_der": signer_der,
        "authorized_types": [TYPE, OTHER_TYPE],
        "created": NOW,
        "valid_start": NOW,
        "valid_end": NOW.replace(year=2028),
        "picture_png": png,
    }
    args.update(over)
    return make_seal(**args)  # type: ignore[arg-type]


def _children(value: core.Asn1Value) -> list[core.Asn1Value]:
    """Children of a generic (spec-less) constructed value: asn1crypto's own tree walk."""
    assert isinstance(value, core.Sequence)
    return [value[i] for i in range(len(value))]


# -- the ASN.1 classes -----------------------------------------------------------------------


def test_header_der() -> None:
    der = SESHeader({"ID": "ES", "version": 4, "Vid": "LICREG"}).dump()
    assert der == bytes.fromhex("300f160245530201041606") + b"LICREG"


def test_ext_data_omits_default_critical() -> None:
    plain = ExtData({"extnID": "1.2.3", "critical": False, "extnValue": b"x"}).dump()
    assert plain == bytes.fromhex("300706022a03040178")
    critical = ExtData({"extnID": "1.2.3", "critical": True, "extnValue": b"x"}).dump()
    assert bytes.fromhex("0101ff") in critical


def test_cert_list_choice_cannot_be_told_by_tag() -> None:
    # Why SESCertList is SEQUENCE OF ANY read by certListType: both CHOICE alternatives start
    # with the same universal SEQUENCE tag, so a certs list is indistinguishable by its tag.
    certs = make_cert_list([b"\x30\x00"]).dump()
    digests = SESCertList(
        [core.Any.load(CertDigestObj({"type": "SHA256", "value": b"\x01"}).dump())]
    ).dump()
    assert certs[0] == digests[0] == 0x30

    class Certs(core.SequenceOf):
        _child_spec = core.OctetString

    class Digests(core.SequenceOf):
        _child_spec = CertDigestObj

    class NaiveChoice(core.Choice):
        _alternatives = [("certs", Certs), ("certDigestList", Digests)]  # noqa: RUF012

    assert NaiveChoice.load(certs).name == "certDigestList"  # the wrong alternative


# -- make_seal / parse_seal ------------------------------------------------------------------


def test_parse_round_trip(made: Made) -> None:
    info = parse_seal(made.seal)
    assert info.es_id == "3301000000001"
    assert info.name == "某市市场监督管理局电子证照专用章"
    assert info.kind == 2
    assert info.vendor_id == "LICREG"
    assert info.cert_list_type == 1
    assert info.cert_list == (made.signer_der,)
    assert info.cert_digests == ()
    assert (info.created, info.valid_start) == (NOW, NOW)
    assert info.valid_end == NOW.replace(year=2028)
    assert info.authorized_types == tuple(sorted([TYPE, OTHER_TYPE]))
    assert info.maker_cert_der == made.maker.cert.public_bytes(Encoding.DER)
    assert info.sign_algorithm == ECDSA_WITH_SHA256
    assert (info.picture_type, info.picture_data, info.picture_mm) == ("PNG", made.png, (40, 40))


def test_maker_signature_verifies_with_cryptography(made: Made) -> None:
    info = parse_seal(made.seal)
    maker_cert = x509.load_der_x509_certificate(info.maker_cert_der)
    public_key = maker_cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(info.signed_value, info.sealinfo_der, ec.ECDSA(hashes.SHA256()))
    # The signed bytes are the eSealInfo exactly as they sit in the seal.
    assert made.seal.find(info.sealinfo_der) > 0


def test_independent_tree_walk_of_seal(made: Made) -> None:
    top = core.load(made.seal)
    seal_info, cert, alg, signed = _children(top)
    assert cert.tag == 4
    assert alg.tag == 6
    assert signed.tag == 3
    assert core.ObjectIdentifier.load(alg.dump()).dotted == "1.2.840.10045.4.3.2"
    header, es_id, prop, picture, ext_datas = _children(seal_info)
    assert [c.contents for c in _children(header)] == [b"ES", b"\x04", b"LICREG"]
    assert es_id.tag == 22
    assert es_id.contents == b"3301000000001"
    kind, name, list_type, cert_list, created, start, end = _children(prop)
    assert name.tag == 12
    assert name.contents.decode() == "某市市场监督管理局电子证照专用章"
    assert list_type.contents == b"\x01"
    (only,) = _children(cert_list)
    assert only.tag == 4
    assert only.contents == made.signer_der
    assert [t.tag for t in (created, start, end)] == [24, 24, 24]
    assert created.contents == b"20260101000000Z"
    assert _children(picture)[0].contents == b"PNG"
    (ext,) = _children(ext_datas)
    ext_id, critical, value = _children(ext)
    assert core.ObjectIdentifier.load(ext_id.dump()).dotted == AUTHORIZED_TYPES_OID
    assert critical.contents == b"\xff"
    types = _children(core.load(value.contents))
    assert [(t.tag, t.contents.decode()) for t in types] == [
        (19, OTHER_TYPE),
        (19, TYPE),
    ]
    assert kind.contents == b"\x02"


def test_make_seal_is_deterministic_apart_from_signature(made: Made) -> None:
    again = _make(made.maker, made.signer_der, made.png)
    assert parse_seal(again).sealinfo_der == parse_seal(made.seal).sealinfo_der


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"authorized_types": []}, "at least one license type"),
        ({"authorized_types": ["short"]}, "21 characters"),
        ({"valid_end": NOW}, "validity is empty"),
        ({"created": dt.datetime(2026, 1, 1)}, "time zone"),
        ({"es_id": "印章"}, "IA5String"),
        ({"signer_cert_der": b"junk"}, "not a DER X.509"),
        ({"picture_png": b"GIF89a"}, "PNG"),
    ],
)
def test_make_seal_rejects_bad_input(made: Made, override: dict[str, object], message: str) -> None:
    with pytest.raises(SealError, match=message):
        _make(made.maker, made.signer_der, made.png, **override)


def _resign(maker: CertifiedKey, info: SESSealInfo) -> bytes:
    info_der = info.dump(force=True)
    return SESeal(
        {
            "eSealInfo": SESSealInfo.load(info_der),
            "cert": maker.cert.public_bytes(Encoding.DER),
            "signAlgID": ECDSA_WITH_SHA256,
            "signedValue": maker.key.sign(info_der, ec.ECDSA(hashes.SHA256())),
        }
    ).dump()


def _info(made: Made) -> SESSealInfo:
    return SESSealInfo.load(parse_seal(made.seal).sealinfo_der).copy()


def test_wrong_header_version_is_format_failure(made: Made) -> None:
    info = _info(made)
    info["header"] = SESHeader({"ID": "ES", "version": 1, "Vid": "LICREG"})
    with pytest.raises(VerificationError, match="version 1") as caught:
        parse_seal(_resign(made.maker, info))
    assert caught.value.sub_indication == "FORMAT_FAILURE"


def test_unknown_critical_extension_is_format_failure(made: Made) -> None:
    info = _info(made)
    info["extDatas"] = [
        *info["extDatas"],
        ExtData({"extnID": "1.2.3.4", "critical": True, "extnValue": b"?"}),
    ]
    with pytest.raises(VerificationError, match=r"unknown critical extension 1\.2\.3\.4"):
        parse_seal(_resign(made.maker, info))
    info["extDatas"] = [ExtData({"extnID": "1.2.3.4", "extnValue": b"?"})]
    assert parse_seal(_resign(made.maker, info)).authorized_types == ()


def test_cert_digest_list_is_read_by_cert_list_type(made: Made) -> None:
    info = _info(made)
    digest = hashlib.sha256(made.signer_der).digest()
    info["property"]["certListType"] = CERT_LIST_DIGESTS
    info["property"]["certList"] = SESCertList(
        [core.Any.load(CertDigestObj({"type": "SHA256", "value": digest}).dump())]
    )
    parsed = parse_seal(_resign(made.maker, info))
    assert parsed.cert_list_type == CERT_LIST_DIGESTS
    assert parsed.cert_digests == (("SHA256", digest),)
    assert parsed.cert_list == ()


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda d: b"", id="empty"),
        pytest.param(lambda d: b"\x30\x03\x02\x01\x04", id="not-a-seal"),
        pytest.param(lambda d: d[:-10], id="truncated"),
        pytest.param(lambda d: d + b"\x00", id="trailing-byte"),
        # Long-form length where short form would do: BER, not DER.
        pytest.param(lambda d: d[:1] + b"\x83\x00" + d[2:], id="non-der-length"),
    ],
)
def test_malformed_seal_is_format_failure(made: Made, mangle: object) -> None:
    assert callable(mangle)
    with pytest.raises(VerificationError) as caught:
        parse_seal(mangle(made.seal))
    assert caught.value.sub_indication == "FORMAT_FAILURE"


# -- the picture -----------------------------------------------------------------------------


def _rgba(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGBA")


def test_picture_is_small_red_transparent_png(made: Made) -> None:
    assert made.png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(made.png) < 8 * 1024
    image = _rgba(made.png)
    assert image.size == (240, 240)
    assert image.getpixel((0, 0))[3] == 0  # transparent corner
    assert image.getpixel((120, 120)) == (*SEAL_RED, 255)  # the star's centre
    assert image.getpixel((120, 3))[3] > 0  # the ring at the top


def test_picture_is_deterministic() -> None:
    assert seal_picture_png("甲局", "专用章", size_px=120) == seal_picture_png(
        "甲局", "专用章", size_px=120
    )


@pytest.mark.skipif(not DEJAVU.exists(), reason="needs DejaVu Sans for a Latin text check")
def test_picture_draws_text_with_a_font() -> None:
    plain = _rgba(seal_picture_png("", "", font_path=DEJAVU))  # no text to draw
    lettered = _rgba(seal_picture_png("ABC BUREAU", "SEAL", font_path=DEJAVU))

    def inked(image: Image.Image, box: tuple[int, int, int, int]) -> int:
        alpha = image.getchannel("A").crop(box)
        return sum(1 for v in alpha.tobytes() if v > 128)

    upper_arc = (60, 12, 180, 50)
    below_star = (80, 170, 160, 200)
    assert inked(lettered, upper_arc) > inked(plain, upper_arc) + 50
    assert inked(lettered, below_star) > inked(plain, below_star) + 20


def test_picture_too_small_is_refused() -> None:
    with pytest.raises(SealError, match="too small"):
        seal_picture_png("甲", "乙", size_px=32)
