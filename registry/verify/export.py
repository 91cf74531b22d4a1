"""Export bundles: one sealed license as a folder an auditor verifies offline.

>>> export_bundle(session, identifier, Path("out"), settings=settings, at=now)  # doctest: +SKIP

The bundle (:func:`registry.verify.bundle.write_bundle`) holds the exact signed record, the
SES_Signature, the seal, the certificate chain, the log's inclusion proof once a checkpoint
covers the license, a manifest saying whether it carries that proof (and why not) and the
license's status at export, and with ``settings`` the license's signed PDF rendition.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.config import Settings
from registry.db.models import License, Seal
from registry.errors import NotInLog
from registry.license.queries import get_license, signature_der
from registry.render.renditions import ensure_rendition, rendition_path
from registry.seal.making import parse_seal
from registry.tlog.proof import prove_identifier
from registry.verify.bundle import BundleManifest, write_bundle

__all__ = ["export_bundle"]


def export_bundle(
    session: Session,
    identifier: str,
    out: Path,
    *,
    settings: Settings | None = None,
    at: dt.datetime | None = None,
) -> list[Path]:
    """Write the auditor's bundle for one license; returns the files written. Once a log
    checkpoint covers the license the bundle also holds ``proof.json``; its ``manifest.json``
    says whether it does, why not, and the license's status (as of ``at``, when given).

    With ``settings`` the bundle also holds ``license.pdf``, the license's signed PDF
    rendition (rendered, signed and recorded now, at ``at``, if it has none yet).
    """
    lic = get_license(session, identifier)
    seal = session.get_one(Seal, lic.seal_id)
    maker = x509.load_der_x509_certificate(parse_seal(seal.seal_der).maker_cert_der)
    signer = x509.load_der_x509_certificate(seal.cert_der)
    no_proof = None
    try:  # proof.json: the log's inclusion proof, once a checkpoint covers the license
        proof: bytes | None = prove_identifier(session, identifier).to_json()
    except NotInLog as exc:
        proof, no_proof = None, str(exc)
    successor = session.scalar(select(License.identifier).where(
        License.predecessor == identifier).order_by(License.id).limit(1))
    manifest = BundleManifest(identifier=identifier, log_proof=proof is not None,
                              no_log_proof=no_proof, status=lic.status,
                              superseded_by=successor, exported_at=at)
    write_bundle(out, record=lic.record, signature_der=signature_der(lic, seal),
                 seal_der=seal.seal_der, chain=[signer, maker], proof=proof, manifest=manifest)
    if settings is not None:
        stored = (ensure_rendition(session, settings, identifier, at=at) if at is not None
                  else rendition_path(session, settings, identifier))
        shutil.copyfile(stored, out / "license.pdf")
    return sorted(out.iterdir())
