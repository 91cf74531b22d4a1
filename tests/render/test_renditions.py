"""Renditions in the registry: render pending licenses, store and record them, export them,
the CLI and the flow task, and PAdES B-T with a time-stamping authority."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from pathlib import Path

import httpx
import pytest
from asn1crypto import keys, tsp
from asn1crypto import x509 as asn1_x509
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import Engine, func, select

from registry.cli import cli
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import License
from registry.errors import SealError, TimestampError
from registry.render.models import PdfRendition
from registry.render.pdf.pades import PadesSigner
from registry.render.pdf.read import read_license_pdf, read_pdf
from registry.render.pdf.timestamp import HttpTimestampSource
from registry.render.renditions import (
    ensure_rendition,
    pending_count,
    render_pending,
    rendition_path,
)
from registry.seal.pki import load_maker, load_root_cert
from registry.verify.bundle import verify_bundle
from registry.verify.export import export_bundle
from registry.verify.pdf import verify_pdf, verify_pdf_bytes
from registry.verify.report import Indication
from tests.conftest import NOW, PASSPHRASE
from tests.support.licenses import rendered_license, seal_rows
from tests.support.pdf import Kit, biz_elements, make_kit

AT = NOW + dt.timedelta(days=1)


@pytest.fixture
def sealed(world: Engine, settings: Settings) -> Engine:
    """The demo world with 12 sealed 营业执照, one holder name with 𠮷."""
    with session_scope(world) as session:
        rows = [rendered_license(i) for i in range(1, 13)]
        rows[0] = {**rows[0], "CZZT": "示范市吉𠮷堃商贸有限公司"}
        assert seal_rows(session, settings, rows, at=NOW) == 12
    return world


def _identifiers(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        return list(session.scalars(select(License.identifier).order_by(License.id)))


def test_render_pending_stores_and_records_every_pdf(sealed: Engine, settings: Settings) -> None:
    report = render_pending(sealed, settings, at=AT, workers=0, chunk=5)
    assert (report.rendered, report.chunks, report.with_missing_glyphs) == (12, 3, 0)
    assert report.levels == {"B-B": 12}
    anchors = [load_root_cert(settings.keystore)]
    with session_scope(sealed) as session:
        assert pending_count(session) == 0
        for rendition, record in session.execute(
                select(PdfRendition, License.record).join(License)):
            path = settings.files / rendition.path
            data = path.read_bytes()
            assert rendition.path == f"pdf/{rendition.sha256[:2]}/{rendition.sha256}.pdf"
            assert hashlib.sha256(data).hexdigest() == rendition.sha256
            assert rendition.size == len(data)
            assert rendition.rendered_at == AT
            assert read_pdf(data).record == record  # the round trip, from the registry
        first = session.scalars(select(PdfRendition).order_by(PdfRendition.license_id)).first()
        assert first is not None
        report = verify_pdf(settings.files / first.path, anchors=anchors, at=AT)
        assert report.indication is Indication.PASSED, report.reasons
    again = render_pending(sealed, settings, at=AT, workers=0)
    assert again.rendered == 0  # nothing pending: a re-run renders nothing twice


def test_render_pending_respects_the_limit(sealed: Engine, settings: Settings) -> None:
    assert render_pending(sealed, settings, at=AT, workers=0, limit=5).rendered == 5
    with session_scope(sealed) as session:
        assert pending_count(session) == 7
    assert render_pending(sealed, settings, at=AT, workers=0).rendered == 7


def test_worker_processes_render_the_same(sealed: Engine, settings: Settings) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("one engine is enough for the process pool")
    report = render_pending(sealed, settings, at=AT, workers=2, chunk=4)
    assert (report.rendered, report.chunks, report.workers) == (12, 3, 2)
    assert report.cpu_seconds > 0
    with session_scope(sealed) as session:
        paths = session.scalars(select(PdfRendition.path)).all()
    anchors = [load_root_cert(settings.keystore)]
    for rel in paths[:3]:
        assert verify_pdf(settings.files / rel, anchors=anchors, at=AT).indication is (
            Indication.PASSED)


def test_export_adds_a_verifiable_license_pdf(sealed: Engine, settings: Settings,
                                              tmp_path: Path) -> None:
    identifier = _identifiers(sealed)[0]
    with session_scope(sealed) as session:
        files = export_bundle(session, identifier, tmp_path / "bundle", settings=settings, at=AT)
    assert [f.name for f in files] == ["chain.pem", "license.json", "license.pdf", "seal.der",
                                       "signature.der"]
    bundle = tmp_path / "bundle"
    anchors = [load_root_cert(settings.keystore)]
    assert verify_bundle(bundle, anchors=anchors, at=AT).indication is Indication.PASSED
    pdf = verify_pdf(bundle / "license.pdf", anchors=anchors, at=AT)
    assert pdf.indication is Indication.PASSED
    assert pdf.identifier == identifier
    assert read_license_pdf((bundle / "license.pdf").read_bytes()) == json.loads(
        (bundle / "license.json").read_bytes())
    with session_scope(sealed) as session:  # rendered on the way and recorded
        assert session.scalar(select(func.count()).select_from(PdfRendition)) == 1
        assert rendition_path(session, settings, identifier) == settings.files / session.scalars(
            select(PdfRendition.path)).one()


def test_export_without_settings_is_the_plain_bundle(sealed: Engine, tmp_path: Path) -> None:
    with session_scope(sealed) as session:
        files = export_bundle(session, _identifiers(sealed)[0], tmp_path / "b")
    assert "license.pdf" not in [f.name for f in files]


def test_ensure_rendition_renders_once(sealed: Engine, settings: Settings) -> None:
    identifier = _identifiers(sealed)[1]
    with session_scope(sealed) as session:
        first = ensure_rendition(session, settings, identifier, at=AT)
    with session_scope(sealed) as session:
        again = ensure_rendition(session, settings, identifier, at=AT + dt.timedelta(hours=1))
        assert session.scalar(select(func.count()).select_from(PdfRendition)) == 1
    assert again == first


def test_cli_renders_and_shows(sealed: Engine, settings: Settings, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LICREG_HOME", str(settings.home))
    monkeypatch.setenv("LICREG_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LICREG_KEY_PASSPHRASE", PASSPHRASE.decode())
    monkeypatch.delenv("LICREG_TSA_URL", raising=False)
    runner = CliRunner()
    result = runner.invoke(cli, ["pdf", "render", "--workers", "0", "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("rendered 3 PDFs (B-B 3) in ")
    result = runner.invoke(cli, ["pdf", "render", "--workers", "0", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rendered"] == 9
    identifier = _identifiers(sealed)[0]
    out = tmp_path / "shown.pdf"
    result = runner.invoke(cli, ["pdf", "show", identifier, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output == f"{out}  {out.stat().st_size} bytes\n"
    assert read_pdf(out.read_bytes()).elements["ZZBS"] == identifier
    result = runner.invoke(cli, ["pdf", "show", "1.2.156.3005.2.NOPE", "--out", str(out)])
    assert result.exit_code == 1
    assert "no license with identifier" in result.output


def test_the_flow_task_renders_pending_licenses(sealed: Engine, settings: Settings,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("the task body is engine-agnostic")
    monkeypatch.setenv("LICREG_HOME", str(settings.home))
    monkeypatch.setenv("LICREG_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LICREG_KEY_PASSPHRASE", PASSPHRASE.decode())
    from flows.render import render_pdfs_task

    result = render_pdfs_task.fn(per_task=10, workers=0, tsa_url=None)
    assert (result["rendered"], result["levels"]) == (10, {"B-B": 10})


# -- PAdES B-T ----------------------------------------------------------------------------

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


def test_the_benchmark_verifies_what_it_measured(tmp_path: Path) -> None:
    from registry.bench.pdf import run_pdf_bench

    report = run_pdf_bench(15, at=NOW, workers=0, sample=5, workdir=tmp_path)
    assert report.render.rendered == 15
    assert report.render.with_missing_glyphs == 0  # the rare characters have a font
    assert (report.sample_size, report.sample_verified) == (5, 5)
    assert report.pdfsig_valid in (None, 5)
    assert report.pyhanko_valid == 5
    assert report.mean_size > 10_000
