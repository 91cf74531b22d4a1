"""Reading the registry: licenses as a clerk or auditor sees them.

>>> for summary in list_licenses(session, limit=5): print(summary["identifier"])  # doctest: +SKIP

An auditor's export bundle is :func:`registry.verify.export.export_bundle`.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.db.models import License, Seal, Template
from registry.errors import LicenseNotFound
from registry.i18n import _
from registry.seal.signature import assemble

__all__ = ["get_license", "license_detail", "list_licenses", "signature_der"]


def get_license(session: Session, identifier: str) -> License:
    lic = session.scalar(select(License).where(License.identifier == identifier))
    if lic is None:
        raise LicenseNotFound(_("no license with identifier {identifier}", identifier=identifier))
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
