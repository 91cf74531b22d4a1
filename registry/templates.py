"""License-type templates: a versioned template per type and department, bound to a seal.

Only a published, bound template can be used to seal licenses; every sealed license records the
template it was made with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.errors import SealError
from registry.license_types import load_license_types
from registry.models import Template

__all__ = ["publish_template", "published_template", "schema_sha256"]


def schema_sha256(type_code: str) -> str:
    """SHA-256 of the type's schema document, canonically serialized."""
    doc = load_license_types()[type_code].schema
    data = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()


def publish_template(
    session: Session, *, type_code: str, department_id: int, seal_id: int, now: dt.datetime
) -> Template:
    """Make, bind and publish the next template version for a type and department."""
    latest = session.scalar(
        select(Template.version)
        .where(Template.type_code == type_code, Template.department_id == department_id)
        .order_by(Template.version.desc())
        .limit(1)
    )
    template = Template(
        type_code=type_code,
        department_id=department_id,
        version=(latest or 0) + 1,
        status="published",
        seal_id=seal_id,
        schema_sha256=schema_sha256(type_code),
        created_at=now,
    )
    session.add(template)
    session.flush()
    return template


def published_template(session: Session, *, type_code: str, department_id: int) -> Template:
    """The newest published, bound template; raise naming the type and department if none."""
    template = session.scalar(
        select(Template)
        .where(
            Template.type_code == type_code,
            Template.department_id == department_id,
            Template.status == "published",
            Template.seal_id.is_not(None),
        )
        .order_by(Template.version.desc())
        .limit(1)
    )
    if template is None:
        raise SealError(
            f"no published template bound to a seal for license type {type_code} "
            f"and department {department_id}"
        )
    return template
