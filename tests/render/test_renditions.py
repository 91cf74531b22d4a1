"""Renditions in the registry (registry.render.renditions): render pending licenses, store and
record them, export them, the CLI and the flow task."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from registry.bench.synthetic import rendered_business_license as rendered_license
from registry.cli import cli
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import License
from registry.render.models import PdfRendition
from registry.render.pdf.read import read_license_pdf, read_pdf
from registry.render.renditions import (
    ensure_rendition,
    pending_count,
    render_pending,
    rendition_path,
)
from registry.seal.pki import load_root_cert
from registry.verify.bundle import verify_bundle
from registry.verify.export import export_bundle
from registry.verify.pdf import verify_pdf
from registry.verify.report import Indication
from tests.conftest import NOW, PASSPHRASE
from tests.support.licenses import seal_rows

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
    assert [f.name for f in files] == ["chain.pem", "license.json", "license.pdf",
                                       "manifest.json", "seal.der", "signature.der"]
    bundle = tmp_path / "bundle"
    anchors = [load_root_cert(settings.keystore)]
    report = verify_bundle(bundle, anchors=anchors, at=AT)  # no checkpoint: no proof.json
    assert (report.indication, report.sub_indication) == (Indication.INDETERMINATE,
                                                          "LOG_PROOF_MISSING")
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
