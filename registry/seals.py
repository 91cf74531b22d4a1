"""Department seals: make one (key, signer certificate, SESeal) and load it for sealing.

The spine makes each demo department's seal at ``licreg init --demo``; the full apply → review →
make → authorize lifecycle builds on :func:`make_seal_for`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.errors import NotAuthorizedError, SealError
from registry.models import Department, Seal, SealAuthorization
from registry.seal.making import make_seal, seal_picture_png
from registry.seal.pki import issue_signer, load_maker, load_signer_key
from registry.seal.signature import SealingContext
from registry.seal.signer import SoftwareSigner

__all__ = ["KIND_BUSINESS", "KIND_OFFICIAL", "active_seal_for", "make_seal_for", "sealing_context"]

KIND_OFFICIAL = 1
"""法定名称章 (the body's official-name seal)."""
KIND_BUSINESS = 2
"""业务专用章 (a business-purpose seal, e.g. 行政审批专用章)."""


def make_seal_for(
    session: Session,
    *,
    keystore: Path,
    passphrase: bytes,
    department: Department,
    name: str,
    purpose: str,
    kind: int,
    type_codes: Sequence[str],
    now: dt.datetime,
    valid_until: dt.datetime,
) -> Seal:
    """Make an active seal for ``department`` authorized for ``type_codes`` until ``valid_until``."""
    es_id = f"{department.division_code}{department.uscc[8:17]}{_next_seal_number(session):04d}"
    signer = issue_signer(
        keystore,
        passphrase,
        es_id=es_id,
        department_name=department.name,
        department_uscc=department.uscc,
        now=now,
        not_after=valid_until,
    )
    seal_der = make_seal(
        maker=load_maker(keystore, passphrase),
        es_id=es_id,
        kind=kind,
        name=name,
        signer_cert_der=signer.cert_der,
        authorized_types=list(type_codes),
        created=now,
        valid_start=now,
        valid_end=valid_until,
        picture_png=seal_picture_png(department.name, purpose),
    )
    seal = Seal(
        es_id=es_id,
        department_id=department.id,
        name=name,
        kind=kind,
        status="active",
        key_file=signer.key_file,
        cert_der=signer.cert_der,
        seal_der=seal_der,
        valid_start=now,
        valid_end=valid_until,
        created_at=now,
    )
    session.add(seal)
    session.flush()
    session.add_all(
        SealAuthorization(seal_id=seal.id, type_code=c, valid_from=now, valid_to=valid_until)
        for c in type_codes
    )
    session.flush()
    return seal


def _next_seal_number(session: Session) -> int:
    return len(session.scalars(select(Seal.id)).all()) + 1


def active_seal_for(session: Session, seal_id: int, type_code: str, *, at: dt.datetime) -> Seal:
    """The seal, checked usable for ``type_code`` at ``at``; raise naming what is missing."""
    seal = session.get(Seal, seal_id)
    if seal is None:
        raise SealError(f"seal {seal_id} does not exist")
    if seal.status != "active":
        raise SealError(f"seal {seal.es_id} ({seal.name}) is {seal.status} and cannot seal")
    if not seal.valid_start <= at <= seal.valid_end:
        raise SealError(f"seal {seal.es_id} ({seal.name}) is not valid at {at.isoformat()}")
    auth = session.get(SealAuthorization, (seal.id, type_code))
    if auth is None or not auth.valid_from <= at <= auth.valid_to:
        raise NotAuthorizedError(
            f"seal {seal.es_id} ({seal.name}) has no authorization for license type "
            f"{type_code} at {at.isoformat()}"
        )
    return seal


@lru_cache(maxsize=64)
def _signer(keystore: Path, key_file: str, passphrase: bytes, cert_der: bytes) -> SoftwareSigner:
    # Decrypting a PKCS#8 key costs a key derivation; do it once per seal per process.
    return SoftwareSigner(load_signer_key(keystore, key_file, passphrase), cert_der)


def sealing_context(seal: Seal, *, keystore: Path, passphrase: bytes) -> SealingContext:
    """Everything needed to seal licenses with ``seal``, loaded once per chunk."""
    signer = _signer(keystore, seal.key_file, passphrase, seal.cert_der)
    return SealingContext(seal.seal_der, signer)
