"""``licreg seal …``: apply for, review, make, file, authorize and look after department seals.

Every step says who (``--by``, or the ``LICREG_ACTOR`` environment variable) and why
(``--reason``); ``licreg seal show`` prints the recorded history. A seal is named by its esID,
or by its application number (then the newest seal made from it). Dates are ISO 8601; a bare
date means the start of that day (``--from``) or its end (``--valid-until``, ``--until``), UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import click
from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.cli._common import echo_json, engine, handle_errors, now
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import Department, Seal
from registry.errors import SealError
from registry.seal import lifecycle as seal_lifecycle
from registry.seal.crl import load_crls
from registry.seal.kinds import seal_kind
from registry.seal.lifecycle import apply_for_seal, authorize_seal, make_seal_from, remake_seal
from registry.seal.making import parse_seal
from registry.seal.queries import find_seal, list_seals, seal_detail, seal_history

__all__ = [
    "parse_time",
    "seal_apply",
    "seal_authorize",
    "seal_crl",
    "seal_group",
    "seal_list",
    "seal_make",
    "seal_remake",
    "seal_show",
]

_BY = click.option("--by", "actor", envvar="LICREG_ACTOR", required=True,
                   help="Who does this step (default: $LICREG_ACTOR).")
_REASON = click.option("--reason", required=True, help="Why (recorded in the seal's history).")


def parse_time(value: str | None, *, end_of_day: bool, param: str) -> dt.datetime | None:
    """An ISO 8601 date or time; a date is its first (or last) second, UTC."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            clock = dt.time(23, 59, 59) if end_of_day else dt.time(0, 0)
            return dt.datetime.combine(day, clock, tzinfo=dt.UTC)
        at = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 date or time: {value!r}",
                                 param_hint=param) from exc
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def _department_id(session: Session, uscc: str) -> int:

    dept_id = session.scalar(select(Department.id).where(Department.uscc == uscc))
    if dept_id is None:
        raise SealError(f"unknown department {uscc}")
    return dept_id


def _last_step(session: Session, seal_id: int) -> str:

    h = seal_history(session, seal_id=seal_id)[-1]
    return f"{h.from_status or '—'} → {h.to_status}"


@click.group("seal")
def seal_group() -> None:
    """Department seals: apply, approve/reject, make, file, authorize, suspend/resume,
    report-lost, cancel, remake."""


@seal_group.command("list")
@click.option("--department", "uscc", default=None, help="Only this department (USCC).")
@click.option("--status", default=None, help="Only seals or applications in this status.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def seal_list(settings: Settings, uscc: str | None, status: str | None, as_json: bool) -> None:
    """Seals, and applications no seal was made from yet."""

    with session_scope(engine(settings)) as session:
        rows = list_seals(session, department_uscc=uscc, status=status)
    if as_json:
        echo_json([r.to_dict() for r in rows])
        return
    for r in rows:
        ref = r.es_id or f"application {r.application_id}"
        click.echo(f"{ref:<22} {r.status:<10} {r.name} ({r.kind})  "
                   f"types: {', '.join(r.type_codes) or '—'}")


def _t(iso: str) -> str:
    """A stored time for people: UTC to the second."""
    return dt.datetime.fromisoformat(iso).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _render_show(detail: dict[str, Any]) -> None:
    app, seal = detail["application"], detail["seal"]
    if seal is not None:
        click.echo(f"seal {seal['es_id']}  {seal['name']}")
        rows = [
            ("status", seal["status"]),
            ("kind", f"{seal['kind']} {seal['kind_name']}"),
            ("department", f"{seal['department']} ({seal['department_uscc']})"),
            ("valid", f"{_t(seal['valid_start'])} .. {_t(seal['valid_end'])}"),
            ("made for", ", ".join(seal["made_for_types"])),
            *((("authorized" if i == 0 else ""),
               f"{a['type_code']}  {_t(a['valid_from'])} .. {_t(a['valid_to'])}")
              for i, a in enumerate(seal["authorizations"])),
            ("image", f"{seal['picture_mm'][0]} x {seal['picture_mm'][1]} mm PNG, "
                      f"{seal['picture_bytes']} bytes; SESeal {seal['seal_der_bytes']} bytes"),
            ("revoked", f"{_t(seal['revoked_at'])} ({seal['revocation_reason']})"
                        if seal["revoked_at"] else "—"),
        ]
        if seal["replaces"]:
            rows.append(("replaces", seal["replaces"]))
        if seal["replaced_by"]:
            rows.append(("replaced by", seal["replaced_by"]))
        if app is not None:
            rows.append(("application",
                         f"{app['id']} by {app['applicant']} at {_t(app['applied_at'])}"))
    else:
        click.echo(f"application {app['id']}  {app['name']}")
        rows = [
            ("status", app["status"]),
            ("kind", f"{app['kind']} {app['kind_name']}"),
            ("purpose", app["purpose"] or "—"),
            ("types", ", ".join(app["type_codes"])),
            ("valid until", _t(app["valid_until"])),
            ("applicant", f"{app['applicant']} at {_t(app['applied_at'])}"),
        ]
    for label, value in rows:
        click.echo(f"  {label:<12}{value}")
    click.echo("history")
    for h in detail["history"]:
        which = f" [{h['es_id']}]" if h["es_id"] and (seal is None or
                                                       h["es_id"] != seal["es_id"]) else ""
        change = f"{h['from_status'] or '—'} → {h['to_status']}"
        click.echo(f"  {_t(h['at'])}  {h['step']:<11} {change:<22} {h['actor']}: "
                   f"{h['reason']}{which}")


@seal_group.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def seal_show(settings: Settings, ref: str, as_json: bool) -> None:
    """One seal (esID) or application (number), with its whole history."""

    with session_scope(engine(settings)) as session:
        detail = seal_detail(session, ref)
    if as_json:
        echo_json(detail)
    else:
        _render_show(detail)


@seal_group.command("apply")
@click.option("--department", "uscc", required=True, help="The applying department (USCC).")
@click.option("--kind", required=True,
              help="Seal kind: code, key or name (schemas/seal-kinds.json).")
@click.option("--name", required=True, help="The seal's registered name.")
@click.option("--purpose", default="", help="Printed below the star, e.g. 行政审批专用章.")
@click.option("--type", "type_codes", multiple=True, required=True,
              help="A license type the seal will seal (repeat for several).")
@click.option("--valid-until", default=None, help="End of validity (default: 5 years from now).")
@_BY
@_REASON
@click.pass_obj
@handle_errors
def seal_apply(settings: Settings, uscc: str, kind: str, name: str, purpose: str,
               type_codes: tuple[str, ...], valid_until: str | None, actor: str,
               reason: str) -> None:
    """Apply for a seal (申请)."""

    at = now()
    until = parse_time(valid_until, end_of_day=True, param="--valid-until") or at.replace(
        year=at.year + 5)
    k = seal_kind(kind)
    with session_scope(engine(settings)) as session:
        app = apply_for_seal(session, department_id=_department_id(session, uscc), kind=k.code,
                             name=name, purpose=purpose, type_codes=type_codes,
                             valid_until=until, actor=actor, reason=reason, at=at)
        click.echo(f"application {app.id}: applied for {app.name} ({k.name}) for "
                   f"{', '.join(app.type_codes)}, valid until {app.valid_until.isoformat()}")


def _application_step(name: str, doc: str) -> None:
    @seal_group.command(name, help=doc)
    @click.argument("application", type=int)
    @_BY
    @_REASON
    @click.pass_obj
    @handle_errors
    def command(settings: Settings, application: int, actor: str, reason: str) -> None:

        step: Callable[..., Any] = {"approve": seal_lifecycle.approve_application,
                                    "reject": seal_lifecycle.reject_application}[name]
        with session_scope(engine(settings)) as session:
            app = step(session, application, actor=actor, reason=reason, at=now())
            click.echo(f"application {app.id} ({app.name}): {app.status}")


_application_step("approve", "Approve an application (the seal administrator).")
_application_step("reject", "Reject an application, saying why (the seal administrator).")


@seal_group.command("make")
@click.argument("application", type=int)
@_BY
@_REASON
@click.pass_obj
@handle_errors
def seal_make(settings: Settings, application: int, actor: str, reason: str) -> None:
    """Make (制作) the seal of an approved application: key, certificate, image, SESeal."""

    passphrase = settings.require_passphrase()
    with session_scope(engine(settings)) as session:
        seal = make_seal_from(session, application, keystore=settings.keystore,
                              passphrase=passphrase, actor=actor, reason=reason, at=now())
        mm = parse_seal(seal.seal_der).picture_mm
        click.echo(f"seal {seal.es_id} ({seal.name}): made from application {application}; "
                   f"valid {seal.valid_start.isoformat()} .. {seal.valid_end.isoformat()}; "
                   f"image {mm[0]} x {mm[1]} mm. Next: file it, then authorize it.")


def _seal_step(name: str, doc: str, *, revokes: bool) -> None:
    @seal_group.command(name, help=doc)
    @click.argument("ref")
    @_BY
    @_REASON
    @click.pass_obj
    @handle_errors
    def command(settings: Settings, ref: str, actor: str, reason: str) -> None:

        kw: dict[str, Any] = {"actor": actor, "reason": reason, "at": now()}
        if revokes:
            kw |= {"keystore": settings.keystore, "passphrase": settings.require_passphrase()}
        steps: dict[str, Callable[..., Seal]] = {
            "file": seal_lifecycle.file_seal,
            "suspend": seal_lifecycle.suspend_seal,
            "resume": seal_lifecycle.resume_seal,
            "report-lost": seal_lifecycle.report_seal_lost,
            "cancel": seal_lifecycle.cancel_seal,
        }
        step = steps[name]
        with session_scope(engine(settings)) as session:
            seal = step(session, find_seal(session, ref).id, **kw)
            revoked = (f"; certificate revoked at {seal.revoked_at.isoformat()} "
                       f"({seal.revocation_reason})" if revokes and seal.revoked_at else "")
            click.echo(f"seal {seal.es_id} ({seal.name}): {_last_step(session, seal.id)}"
                       f"{revoked}")


_seal_step("file", "Record the seal's filing (备案): made → filed.", revokes=False)
_seal_step("suspend", "Suspend (停用) an active seal.", revokes=False)
_seal_step("resume", "Resume a suspended seal.", revokes=False)
_seal_step("report-lost", "Report a seal lost (挂失); revokes its certificate.", revokes=True)
_seal_step("cancel", "Cancel (注销) a seal; revokes its certificate.", revokes=True)


@seal_group.command("authorize")
@click.argument("ref")
@click.option("--type", "type_codes", multiple=True,
              help="A license type (repeat; default: every type the seal was made for).")
@click.option("--from", "valid_from", default=None, help="Start (default: now).")
@click.option("--until", "valid_to", default=None, help="End (default: the seal's validity end).")
@_BY
@_REASON
@click.pass_obj
@handle_errors
def seal_authorize(settings: Settings, ref: str, type_codes: tuple[str, ...],
                   valid_from: str | None, valid_to: str | None, actor: str,
                   reason: str) -> None:
    """Authorize (授权) a filed or active seal for license types, for a period."""

    at = now()
    with session_scope(engine(settings)) as session:
        seal = find_seal(session, ref)
        codes = type_codes or parse_seal(seal.seal_der).authorized_types
        start = parse_time(valid_from, end_of_day=False, param="--from") or at
        end = parse_time(valid_to, end_of_day=True, param="--until") or seal.valid_end
        seal = authorize_seal(session, seal.id, type_codes=codes, valid_from=start,
                              valid_to=end, actor=actor, reason=reason, at=at)
        click.echo(f"seal {seal.es_id} ({seal.name}): {_last_step(session, seal.id)}; "
                   f"authorized for {', '.join(sorted(codes))} from {start.isoformat()} "
                   f"until {end.isoformat()}")


@seal_group.command("remake")
@click.argument("ref")
@_BY
@_REASON
@click.pass_obj
@handle_errors
def seal_remake(settings: Settings, ref: str, actor: str, reason: str) -> None:
    """Re-make (重新制作) a seal: new key and esID; the old seal is cancelled and revoked."""

    passphrase = settings.require_passphrase()
    with session_scope(engine(settings)) as session:
        old = find_seal(session, ref)
        new = remake_seal(session, old.id, keystore=settings.keystore, passphrase=passphrase,
                          actor=actor, reason=reason, at=now())
        click.echo(f"seal {old.es_id} ({old.name}): {_last_step(session, old.id)}; "
                   f"certificate revoked at {old.revoked_at.isoformat() if old.revoked_at else '?'}"
                   f" ({old.revocation_reason})")
        click.echo(f"seal {new.es_id} ({new.name}): made. Next: file it, authorize it, and "
                   f"bind new template versions to it.")


@seal_group.command("crl")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def seal_crl(settings: Settings, as_json: bool) -> None:
    """The seal-maker CA's revocation list: which signer certificates are revoked, when, why."""


    with session_scope(engine(settings)) as session:
        es_id_of = {x509.load_der_x509_certificate(der).serial_number: es_id
                    for es_id, der in session.execute(select(Seal.es_id, Seal.cert_der))}
    rows = []
    for crl in load_crls(settings.keystore):
        for entry in crl:
            try:
                reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
                why = reason.value
            except x509.ExtensionNotFound:
                why = "unspecified"
            rows.append({"issuer": crl.issuer.rfc4514_string(),
                         "serial": format(entry.serial_number, "x"),
                         "es_id": es_id_of.get(entry.serial_number),
                         "revoked_at": entry.revocation_date_utc.isoformat(), "reason": why,
                         "this_update": crl.last_update_utc.isoformat()})
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no certificate has been revoked")
    for r in rows:
        click.echo(f"seal {r['es_id'] or '?'}  certificate {r['serial']}  revoked "
                   f"{r['revoked_at']}  {r['reason']}")
