"""PAdES B-T (registry.render.pdf.timestamp): renditions signed with a trusted RFC 3161
timestamp from a TEST ONLY time-stamping authority, and the ways a timestamp is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import httpx
import pytest
from asn1crypto import keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from registry.errors import SealError, TimestampError
from registry.render.pdf.pades import PadesSigner
from registry.render.pdf.timestamp import HttpTimestampSource
from registry.seal.pki import load_maker
from registry.verify.pdf import verify_pdf_bytes
from registry.verify.report import Indication
from tests.conftest import NOW
from tests.support.pdf import Kit, biz_elements, make_kit

AT = NOW + dt.timedelta(days=1)


def _tsa(kit: Kit) -> object:
    """A TEST ONLY time-stamping authority: pyHanko's dummy TSA with a certificate from the
    test seal-maker CA (extendedKeyUsage timeStamping, critical, as RFC 3161 requires)."""
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    maker = load_maker(kit.keystore, b"TEST-ONLY-pdf-tests")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # the dummy is RSA-only
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TEST ONLY TSA")]))
        .issuer_name(maker.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            maker.cert.public_key()), critical=False)
        .sign(maker.key, hashes.SHA256())
    )
    der = serialization.Encoding.DER
    return DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(cert.public_bytes(der)),
        tsa_key=keys.PrivateKeyInfo.load(key.private_bytes(
            der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
        certs_to_embed=[asn1_x509.Certificate.load(maker.cert.public_bytes(der))],
        fixed_dt=NOW,
    )


def _client(tsa: object, *, tamper_nonce: bool = False) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        req = tsp.TimeStampReq.load(request.content)
        assert request.headers["content-type"] == "application/timestamp-query"
        if tamper_nonce:
            req = tsp.TimeStampReq({**{k: req[k] for k in ("version", "message_imprint",
                                                          "cert_req")}, "nonce": 1})
        response = tsa.request_tsa_response(req)  # type: ignore[attr-defined]
        return httpx.Response(200, content=response.dump())

    return httpx.Client(transport=httpx.MockTransport(handle))


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("pdfbt"))


def test_b_t_signatures_carry_a_trusted_timestamp(kit: Kit) -> None:
    from asn1crypto import x509 as ax
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    source = HttpTimestampSource("http://tsa.test/", client=_client(_tsa(kit)))
    signer = PadesSigner(kit.signer, chain=[load_maker(
        kit.keystore, b"TEST-ONLY-pdf-tests").cert.public_bytes(serialization.Encoding.DER)],
        timestamps=source)
    assert signer.level == "B-T"
    pdf = kit.pdf(biz_elements(), pades=signer)
    root = ax.Certificate.load(kit.root.public_bytes(serialization.Encoding.DER))
    context = ValidationContext(trust_roots=[root], moment=AT)
    embedded = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    status = validate_pdf_signature(embedded, context, ts_validation_context=context)
    assert (status.intact, status.valid, status.trusted) == (True, True, True)
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.intact
    assert status.timestamp_validity.trusted
    assert status.timestamp_validity.timestamp == NOW
    report = verify_pdf_bytes(pdf, anchors=[kit.root], at=AT, subject="bt.pdf")
    assert report.indication is Indication.PASSED
    assert "PAdES B-T" in report.check("signature").detail


def test_a_timestamp_for_another_request_is_refused(kit: Kit) -> None:
    source = HttpTimestampSource("http://tsa.test/", client=_client(_tsa(kit), tamper_nonce=True))
    with pytest.raises(TimestampError, match="nonce"):
        source.timestamp(hashlib.sha256(b"x").digest())


def test_an_unreachable_tsa_fails_the_signing(kit: Kit) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    source = HttpTimestampSource("http://tsa.test/", client=httpx.Client(
        transport=httpx.MockTransport(refuse)))
    with pytest.raises(SealError, match="unreachable"):
        source.timestamp(hashlib.sha256(b"x").digest())
