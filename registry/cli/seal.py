"""``licreg seal …``: apply for, review, make, file, authorize and look after department seals.

Every step says who (``--by``, or the ``LICREG_ACTOR`` environment variable) and why
(``--reason``); ``licreg seal show`` prints the recorded history. A seal is named by its esID,
or by its application number (then the newest seal made from it). Dates are ISO 8601 on the
China calendar: a bare date means the start of that day (``--from``) or its end
(``--valid-until``, ``--until``) in Beijing time, as does a time without a zone. Times are
shown in Beijing time; statuses and steps in the reader's language (``--json`` keeps the codes
and adds ``status_text``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.cli._common import echo_json, engine, handle_errors, now
from registry.cli.terminal import LocalizedGroup, pad
from registry.clock import CHINA, china_text
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import Department, Seal
from registry.errors import SealError
from registry.i18n import N_, _, named, os_reason, word
from registry.seal import lifecycle as seal_lifecycle
from registry.seal.crl import load_crls, maker_crl_der
from registry.seal.kinds import seal_kind
from registry.seal.lifecycle import (
    apply_for_seal,
    authorize_seal,
    make_seal_from,
    remake_seal,
    status_name,
    step_name,
)
from registry.seal.making import parse_seal
from registry.seal.queries import find_seal, list_seals, seal_detail, seal_history

__all__ = [
    "CRL_REASONS",
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
                   help=N_("Who does this step (default: $LICREG_ACTOR)."))
_REASON = click.option("--reason", required=True, help=N_("Why (recorded in the seal's history)."))

CRL_REASONS = {
    "keyCompromise": N_("CRL reason|keyCompromise"),
    "cessationOfOperation": N_("CRL reason|cessationOfOperation"),
    "superseded": N_("CRL reason|superseded"),
    "unspecified": N_("CRL reason|unspecified"),
}
"""RFC 5280 revocation reason (the code kept in the CRL and in JSON) → its name for people."""


def _crl_reason(code: str | None) -> str:
    return named(CRL_REASONS, code)


def parse_time(value: str | None, *, end_of_day: bool, param: str) -> dt.datetime | None:
    """An ISO 8601 date or time; a date is its first (or last) second, Beijing time, as is a
    time without a zone."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            clock = dt.time(23, 59, 59) if end_of_day else dt.time(0, 0)
            return dt.datetime.combine(day, clock, tzinfo=CHINA).astimezone(dt.UTC)
        at = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(_("not an ISO 8601 date or time: {value}", value=repr(value)),
                                 param_hint=param) from exc
    return (at if at.tzinfo else at.replace(tzinfo=CHINA)).astimezone(dt.UTC)


def _department_id(session: Session, uscc: str) -> int:
    dept_id = session.scalar(select(Department.id).where(Department.uscc == uscc))
    if dept_id is None:
        raise SealError(_("unknown department {uscc}", uscc=uscc))
    return dept_id


def _change(before: str | None, after: str) -> str:
    return f"{status_name(before)} → {status_name(after)}"


def _last_step(session: Session, seal_id: int) -> str:
    h = seal_history(session, seal_id=seal_id)[-1]
    return _change(h.from_status, h.to_status)


def _t(at: dt.datetime | str, *, seconds: bool = True) -> str:
    """A stored time (or its ISO 8601 text) for people: Beijing time, the zone named."""
    return china_text(dt.datetime.fromisoformat(at) if isinstance(at, str) else at,
                      seconds=seconds)


def _span(start: dt.datetime | str, end: dt.datetime | str) -> str:
    return _("{start} .. {end}", start=_t(start, seconds=False), end=_t(end, seconds=False))


@click.group("seal", cls=LocalizedGroup, help=N_(
    "Department seals: apply, approve/reject, make, file, authorize, suspend/resume, "
    "report-lost, cancel, remake."))
def seal_group() -> None:
    """Department seals: apply, approve/reject, make, file, authorize, suspend/resume,
    report-lost, cancel, remake."""


@seal_group.command("list", help=N_("Seals, and applications no seal was made from yet."))
@click.option("--department", "uscc", default=None, help=N_("Only this department (USCC)."))
@click.option("--status", default=None, help=N_("Only seals or applications in this status."))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def seal_list(settings: Settings, uscc: str | None, status: str | None, as_json: bool) -> None:
    with session_scope(engine(settings)) as session:
        rows = list_seals(session, department_uscc=uscc, status=status)
    if as_json:
        echo_json([r.to_dict() | {"status_text": status_name(r.status)} for r in rows])
        return
    if not rows:
        click.echo(_("no seals or seal applications"))
    for r in rows:
        ref = r.es_id or _("application {id}", id=r.application_id)
        click.echo(_("{ref} {status} {name} ({kind})  types: {types}", ref=pad(ref, 22),
                     status=pad(status_name(r.status), 10), name=r.name, kind=r.kind,
                     types=", ".join(r.type_codes) or "—"))


_LABELS = {
    "status": N_("seal show|status"),
    "kind": N_("seal show|kind"),
    "department": N_("seal show|department"),
    "valid": N_("seal show|validity"),
    "made for": N_("seal show|made for"),
    "authorized": N_("seal show|authorized"),
    "image": N_("seal show|image"),
    "revoked": N_("seal show|revocation"),
    "replaces": N_("seal show|replaces"),
    "replaced by": N_("seal show|replaced by"),
    "application": N_("seal show|application"),
    "purpose": N_("seal show|purpose"),
    "types": N_("seal show|license types"),
    "valid until": N_("seal show|valid until"),
    "applicant": N_("seal show|applicant"),
}
"""The labels of ``licreg seal show``."""


def _render_show(detail: dict[str, Any]) -> None:
    app, seal = detail["application"], detail["seal"]
    rows: list[tuple[str, str]]
    if seal is not None:
        click.echo(_("seal {es_id}  {name}", es_id=seal["es_id"], name=seal["name"]))
        rows = [
            ("status", status_name(seal["status"])),
            ("kind", f"{seal['kind']} {seal['kind_name']}"),
            ("department", _("{name} ({uscc})", name=seal["department"],
                             uscc=seal["department_uscc"])),
            ("valid", _span(seal["valid_start"], seal["valid_end"])),
            ("made for", ", ".join(seal["made_for_types"])),
            *((("authorized" if i == 0 else ""),
               f"{a['type_code']}  {_span(a['valid_from'], a['valid_to'])}")
              for i, a in enumerate(seal["authorizations"])),
            ("image", _("{width} x {height} mm PNG, {size} bytes; SESeal {der} bytes",
                        width=seal["picture_mm"][0], height=seal["picture_mm"][1],
                        size=seal["picture_bytes"], der=seal["seal_der_bytes"])),
            ("revoked", _("{time} ({reason})", time=_t(seal["revoked_at"]),
                          reason=_crl_reason(seal["revocation_reason"]))
                        if seal["revoked_at"] else "—"),
        ]
        if seal["replaces"]:
            rows.append(("replaces", seal["replaces"]))
        if seal["replaced_by"]:
            rows.append(("replaced by", seal["replaced_by"]))
        if app is not None:
            rows.append(("application", _("{id} by {applicant} at {time}", id=app["id"],
                                          applicant=app["applicant"],
                                          time=_t(app["applied_at"]))))
    else:
        click.echo(_("application {id}  {name}", id=app["id"], name=app["name"]))
        rows = [
            ("status", status_name(app["status"])),
            ("kind", f"{app['kind']} {app['kind_name']}"),
            ("purpose", app["purpose"] or "—"),
            ("types", ", ".join(app["type_codes"])),
            ("valid until", _t(app["valid_until"])),
            ("applicant", _("{applicant} at {time}", applicant=app["applicant"],
                            time=_t(app["applied_at"]))),
        ]
    for label, value in rows:
        click.echo(f"  {pad(word(_LABELS[label]) if label else '', 14)}{value}")
    click.echo(word(N_("seal show|history")))
    for h in detail["history"]:
        which = f" [{h['es_id']}]" if h["es_id"] and (seal is None or
                                                       h["es_id"] != seal["es_id"]) else ""
        click.echo("  " + _("{time}  {step} {change} {actor}: {reason}{which}",
                            time=_t(h["at"]), step=pad(step_name(h["step"]), 11),
                            change=pad(_change(h["from_status"], h["to_status"]), 22),
                            actor=h["actor"], reason=h["reason"], which=which))


def _with_texts(detail: dict[str, Any]) -> dict[str, Any]:
    """``seal show --json``: the codes, and beside them the statuses and steps in words."""
    out = dict(detail)
    for part in ("application", "seal"):
        if out[part] is not None:
            out[part] = out[part] | {"status_text": status_name(out[part]["status"])}
    out["history"] = [h | {"step_text": step_name(h["step"])} for h in detail["history"]]
    return out


@seal_group.command("show", help=N_(
    "One seal (esID) or application (number), with its whole history."))
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def seal_show(settings: Settings, ref: str, as_json: bool) -> None:
    with session_scope(engine(settings)) as session:
        detail = seal_detail(session, ref)
    if as_json:
        echo_json(_with_texts(detail))
    else:
        _render_show(detail)


@seal_group.command("apply", help=N_("Apply for a seal (申请)."))
@click.option("--department", "uscc", required=True, help=N_("The applying department (USCC)."))
@click.option("--kind", required=True,
              help=N_("Seal kind: code, key or name (schemas/seal-kinds.json)."))
@click.option("--name", required=True, help=N_("The seal's registered name."))
@click.option("--purpose", default="", help=N_("Printed below the star, e.g. 行政审批专用章."))
@click.option("--type", "type_codes", multiple=True, required=True,
              help=N_("A license type the seal will seal (repeat for several)."))
@click.option("--valid-until", default=None,
              help=N_("End of validity (default: 5 years from now)."))
@_BY
@_REASON
@click.pass_obj
@handle_errors
def seal_apply(settings: Settings, uscc: str, kind: str, name: str, purpose: str,
               type_codes: tuple[str, ...], valid_until: str | None, actor: str,
               reason: str) -> None:
    at = now()
    until = parse_time(valid_until, end_of_day=True, param="--valid-until") or at.replace(
        year=at.year + 5)
    k = seal_kind(kind)
    with session_scope(engine(settings)) as session:
        app = apply_for_seal(session, department_id=_department_id(session, uscc), kind=k.code,
                             name=name, purpose=purpose, type_codes=type_codes,
                             valid_until=until, actor=actor, reason=reason, at=at)
        click.echo(_("application {id}: applied for {name} ({kind}) for {types}, valid until "
                     "{until}", id=app.id, name=app.name, kind=k.name,
                     types=", ".join(app.type_codes), until=_t(app.valid_until)))


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
            click.echo(_("application {id} ({name}): {status}", id=app.id, name=app.name,
                         status=status_name(app.status)))


_application_step("approve", N_("Approve an application (the seal administrator)."))
_application_step("reject", N_("Reject an application, saying why (the seal administrator)."))


@seal_group.command("make", help=N_(
    "Make (制作) the seal of an approved application: key, certificate, image, SESeal."))
@click.argument("application", type=int)
@_BY
@_REASON
@click.pass_obj
@handle_errors
def seal_make(settings: Settings, application: int, actor: str, reason: str) -> None:
    passphrase = settings.require_passphrase()
    with session_scope(engine(settings)) as session:
        seal = make_seal_from(session, application, keystore=settings.keystore,
                              passphrase=passphrase, actor=actor, reason=reason, at=now())
        mm = parse_seal(seal.seal_der).picture_mm
        click.echo(_("seal {es_id} ({name}): made from application {application}; valid "
                     "{valid}; image {width} x {height} mm. Next: file it, then authorize it.",
                     es_id=seal.es_id, name=seal.name, application=application,
                     valid=_span(seal.valid_start, seal.valid_end), width=mm[0],
                     height=mm[1]))


def _revoked(seal: Seal) -> str:
    return _("certificate revoked at {time} ({reason})",
             time=_t(seal.revoked_at) if seal.revoked_at else "?",
             reason=_crl_reason(seal.revocation_reason))


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
            change = _last_step(session, seal.id)
            if revokes and seal.revoked_at:
                click.echo(_("seal {es_id} ({name}): {change}; {revoked}", es_id=seal.es_id,
                             name=seal.name, change=change, revoked=_revoked(seal)))
            else:
                click.echo(_("seal {es_id} ({name}): {change}", es_id=seal.es_id,
                             name=seal.name, change=change))


_seal_step("file", N_("Record the seal's filing (备案): made → filed."), revokes=False)
_seal_step("suspend", N_("Suspend (停用) an active seal."), revokes=False)
_seal_step("resume", N_("Resume a suspended seal."), revokes=False)
_seal_step("report-lost", N_("Report a seal lost (挂失); revokes its certificate."), revokes=True)
_seal_step("cancel", N_("Cancel (注销) a seal; revokes its certificate."), revokes=True)


@seal_group.command("authorize", help=N_(
    "Authorize (授权) a filed or active seal for license types, for a period."))
@click.argument("ref")
@click.option("--type", "type_codes", multiple=True,
              help=N_("A license type (repeat; default: every type the seal was made for)."))
@click.option("--from", "valid_from", default=None, help=N_("Start (default: now)."))
@click.option("--until", "valid_to", default=None,
              help=N_("End (default: the seal's validity end)."))
@_BY
@_REASON
@click.pass_obj
@handle_errors
def seal_authorize(settings: Settings, ref: str, type_codes: tuple[str, ...],
                   valid_from: str | None, valid_to: str | None, actor: str,
                   reason: str) -> None:
    at = now()
    with session_scope(engine(settings)) as session:
        seal = find_seal(session, ref)
        codes = type_codes or parse_seal(seal.seal_der).authorized_types
        start = parse_time(valid_from, end_of_day=False, param="--from") or at
        end = parse_time(valid_to, end_of_day=True, param="--until") or seal.valid_end
        seal = authorize_seal(session, seal.id, type_codes=codes, valid_from=start,
                              valid_to=end, actor=actor, reason=reason, at=at)
        click.echo(_("seal {es_id} ({name}): {change}; authorized for {types} from {start} "
                     "until {end}", es_id=seal.es_id, name=seal.name,
                     change=_last_step(session, seal.id), types=", ".join(sorted(codes)),
                     start=_t(start), end=_t(end)))


@seal_group.command("remake", help=N_(
    "Re-make (重新制作) a seal: new key and esID; the old seal is cancelled and revoked."))
@click.argument("ref")
@_BY
@_REASON
@click.pass_obj
@handle_errors
def seal_remake(settings: Settings, ref: str, actor: str, reason: str) -> None:
    passphrase = settings.require_passphrase()
    with session_scope(engine(settings)) as session:
        old = find_seal(session, ref)
        new = remake_seal(session, old.id, keystore=settings.keystore, passphrase=passphrase,
                          actor=actor, reason=reason, at=now())
        click.echo(_("seal {es_id} ({name}): {change}; {revoked}", es_id=old.es_id,
                     name=old.name, change=_last_step(session, old.id), revoked=_revoked(old)))
        click.echo(_("seal {es_id} ({name}): made. Next: file it, authorize it, and bind new "
                     "template versions to it.", es_id=new.es_id, name=new.name))


@seal_group.command("crl", help=N_(
    "The seal-maker CA's revocation list: which signer certificates are revoked, "
    "when, why."))
@click.option("--json", "as_json", is_flag=True)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help=N_("Also write the CRL (DER) to this file, for `licreg verify --crl FILE`."))
@click.pass_obj
@handle_errors
def seal_crl(settings: Settings, as_json: bool, out: Path | None) -> None:
    if out is not None:
        der = maker_crl_der(settings.keystore, settings.passphrase, at=now())
        try:
            out.write_bytes(der)
        except OSError as exc:
            raise SealError(_("cannot write {path}: {error}", path=out,
                              error=os_reason(exc))) from exc
        if not as_json:
            click.echo(_("wrote {path} ({size} bytes, DER)", path=out, size=len(der)))
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
                         "reason_text": _crl_reason(why),
                         "this_update": crl.last_update_utc.isoformat()})
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(_("no certificate has been revoked"))
    for r in rows:
        click.echo(_("seal {es_id}  certificate {serial}  revoked {time}  {reason}",
                     es_id=r["es_id"] or "?", serial=r["serial"], time=_t(str(r["revoked_at"])),
                     reason=r["reason_text"]))
