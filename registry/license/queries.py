"""Reading the registry: licenses as a clerk or auditor sees them, and export bundles.

>>> for summary in list_licenses(session, limit=5): print(summary["identifier"])  # doctest: +SKIP
>>> export_bundle(session, settings, identifier, Path("out"))                      # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.config import Settings
from registry.db.models import License, Seal, Template
from registry.errors import RegistryError
from registry.seal.making import parse_seal
from registry.seal.signature import assemble
from registry.verify.bundle import write_bundle

__all__ = ["export_bundle", "get_license", "license_detail", "list_licenses", "signature_der"]


class LicenseNotFound(RegistryError):
    """No license has this identifier."""


def get_license(session: Session, identifier: str) -> License:
    lic = session.scalar(select(License).where(License.identifier == identifier))
    if lic is None:
        raise LicenseNotFound(f"no license with identifier {identifier}")
    return lic


def signature_der(lic: License, seal: Seal) -> bytes:
    """The license's complete GB/T 38540 SES_Signature, rebuilt from its parts and its seal."""
    return assemble(seal.seal_der, seal.cert_der, lic.signed_at, lic.data_hash, lic.identifier,
                    lic.signature)


def _summary(lic: License, elements: dict[str, Any]) -> dict[str, Any]:
    return {
        "identifier": lic.identifier,
        "type_code": lic.type_code,
        "name": elements.get("ZZMC"),
        "number": lic.number,
        "holder": elements.get("CZZT"),
        "holder_code": lic.holder_code,
        "version": lic.version,
        "status": lic.status,
        "valid_to": lic.valid_to,
        "signed_at": lic.signed_at.isoformat(),
    }


def list_licenses(
    session: Session, *, limit: int | None = None, type_code: str | None = None
) -> list[dict[str, Any]]:
    """One summary per license version, oldest first."""
    query = select(License).order_by(License.id)
    if type_code:
        query = query.where(License.type_code == type_code)
    if limit:
        query = query.limit(limit)
    return [_summary(lic, json.loads(lic.record)) for lic in session.scalars(query)]


def license_detail(session: Session, identifier: str) -> dict[str, Any]:
    """Everything about one license: summary, elements, seal, template and predecessor."""
    lic = get_license(session, identifier)
    seal = session.get_one(Seal, lic.seal_id)
    template = session.get_one(Template, lic.template_id)
    elements = json.loads(lic.record)
    return {
        **_summary(lic, elements),
        "predecessor": lic.predecessor,
        "seal": {"es_id": seal.es_id, "name": seal.name, "status": seal.status},
        "template": {"id": template.id, "version": template.version},
        "data_hash": lic.data_hash.hex(),
        "elements": elements,
    }


def export_bundle(
    session: Session,
    identifier: str,
    out: Path,
    *,
    settings: Settings | None = None,
    at: dt.datetime | None = None,
) -> list[Path]:
    """Write the auditor's bundle for one license; returns the files written. Once a log
    checkpoint covers the license the bundle also holds ``proof.json``.

    With ``settings`` the bundle also holds ``license.pdf``, the license's signed PDF
    rendition (rendered, signed and recorded now, at ``at``, if it has none yet).
    """
    lic = get_license(session, identifier)
    seal = session.get_one(Seal, lic.seal_id)
    maker = x509.load_der_x509_certificate(parse_seal(seal.seal_der).maker_cert_der)
    signer = x509.load_der_x509_certificate(seal.cert_der)
    from registry.tlog.proof import NotInLog, prove_identifier

    try:  # proof.json: the log's inclusion proof, once a checkpoint covers the license
        proof: bytes | None = prove_identifier(session, identifier).to_json()
    except NotInLog:
        proof = None
    write_bundle(out, record=lic.record, signature_der=signature_der(lic, seal),
                 seal_der=seal.seal_der, chain=[signer, maker], proof=proof)
    if settings is not None:
        from registry.render.renditions import ensure_rendition, rendition_path

        stored = (ensure_rendition(session, settings, identifier, at=at) if at is not None
                  else rendition_path(session, settings, identifier))
        shutil.copyfile(stored, out / "license.pdf")
    return sorted(out.iterdir())
