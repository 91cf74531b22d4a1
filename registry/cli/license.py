"""``licreg license …`` and ``licreg export``: what the registry holds."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from registry.cli._common import echo_json, engine, handle_errors, now
from registry.cli.terminal import visible
from registry.clock import china_day, china_text
from registry.config import Settings
from registry.db import session_scope
from registry.errors import ConfigError
from registry.i18n import _, ngettext
from registry.license.lifecycle import (
    chain,
    change,
    change_status,
    expire,
    expire_due,
    renew,
    status_text,
    step_text,
    transfer_in,
)
from registry.license.queries import license_detail, list_licenses
from registry.verify.bundle import MANIFEST_FILE, BundleManifest
from registry.verify.export import export_bundle

__all__ = [
    "cancel",
    "cancel_transfer_out",
    "export",
    "license_change",
    "license_expire",
    "license_expire_due",
    "license_group",
    "license_history",
    "license_list",
    "license_renew",
    "license_show",
    "license_transfer_in",
    "render",
    "revoke",
    "suspend",
    "transfer_out",
    "unsuspend",
    "withdraw",
]


@click.group("license")
def license_group() -> None:
    """What the registry holds."""


@license_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=int, default=None)
@click.option("--type", "type_code", default=None)
@click.pass_obj
@handle_errors
def license_list(
    settings: Settings, as_json: bool, limit: int | None, type_code: str | None
) -> None:
    """List license versions."""

    with session_scope(engine(settings)) as session:
        rows = list_licenses(session, limit=limit, type_code=type_code)
    if as_json:
        echo_json([{**r, "status_text": status_text(r["status"])} for r in rows])
        return
    width = max((_width(status_text(r["status"])) for r in rows), default=0)
    for r in rows:
        click.echo(f"{r['identifier']}  {_padded(status_text(r['status']), width)}  "
                   + visible(f"{r['name']}  {r['number']}  {r['holder']}"))


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal (a Chinese character takes two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _padded(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


@license_group.command("show")
@click.argument("identifier")
@click.pass_obj
@handle_errors
def license_show(settings: Settings, identifier: str) -> None:
    """Show one license with all its elements."""

    with session_scope(engine(settings)) as session:
        detail = license_detail(session, identifier)
    echo_json({**detail, "status_text": status_text(detail["status"])})


@click.command()
@click.argument("identifier")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def export(settings: Settings, identifier: str, out: Path, as_json: bool) -> None:
    """Write an auditor's bundle: license.json, signature.der, seal.der, chain.pem, the signed
    license.pdf and, once a log checkpoint covers the license, proof.json."""

    with session_scope(engine(settings)) as session:
        files = export_bundle(session, identifier, out, settings=settings, at=now())
    manifest = BundleManifest.parse((out / MANIFEST_FILE).read_bytes())
    if as_json:
        echo_json({"identifier": identifier, "out": str(out),
                   "files": [{"name": f.name, "bytes": f.stat().st_size} for f in files],
                   "log_proof": manifest.log_proof, "no_log_proof": manifest.no_log_proof})
        return
    for f in files:
        click.echo(ngettext("{file}  {n} byte", "{file}  {n} bytes", f.stat().st_size, file=f,
                            n=f.stat().st_size))
    if not manifest.log_proof:
        click.echo(_("no log proof in this bundle ({why}): a verifier will say INDETERMINATE "
                     "for the log check; run `licreg log checkpoint`, then export again",
                     why=manifest.no_log_proof), err=True)


# -- a license's life after issue ----------------------------------------------------------------


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment
        return "cli"


actor_option = click.option("--actor", default=_actor, show_default="the login name",
                            help="Who takes this step (recorded in the history).")
reason_option = click.option("--reason", default=None, help="Why (recorded in the history).")
json_option = click.option("--json", "as_json", is_flag=True)


def render(result: Any, *, as_json: bool) -> None:
    """One line per step: identifier, old → new, the step and its operate type; or the JSON
    result (codes, and the step and statuses in words beside them)."""
    if as_json:
        echo_json({**result.to_dict(), "step": step_text(result.action),
                   "status_text": status_text(result.status)})
        return
    if result.identifier != result.previous:
        click.echo(_("{identifier}  new version of {previous}  ({op} {step}; queued for the "
                     "province)", identifier=result.identifier, previous=result.previous,
                     op=result.operate_type, step=step_text(result.action)))
    else:
        click.echo(_("{identifier}  {before} → {after}  ({op} {step}; queued for the province)",
                     identifier=result.identifier, before=status_text(result.previous_status),
                     after=status_text(result.status), op=result.operate_type,
                     step=step_text(result.action)))


def _status_command(action: str, help_text: str) -> Callable[..., None]:
    @license_group.command(action.replace("_", "-"), help=help_text)
    @click.argument("identifier")
    @actor_option
    @reason_option
    @json_option
    @click.pass_obj
    @handle_errors
    def command(settings: Settings, identifier: str, actor: str, reason: str | None,
                as_json: bool) -> None:  # fmt: skip

        with session_scope(engine(settings)) as session:
            result = change_status(session, identifier, action, at=now(), actor=actor,
                                   reason=reason)  # fmt: skip
        render(result, as_json=as_json)

    return command


suspend = _status_command("suspend", "暂扣: suspend a VALID license (operateType 03).")
unsuspend = _status_command("unsuspend", "暂扣发还: lift a suspension (operateType 06).")
revoke = _status_command("revoke", "撤销: revoke the issuing decision (operateType 05).")
withdraw = _status_command("withdraw", "吊销: withdraw as a penalty (operateType 05).")
cancel = _status_command("cancel", "注销: cancel the license (operateType 05).")
transfer_out = _status_command("transfer_out", "转出: transfer out (operateType 05).")
cancel_transfer_out = _status_command(
    "cancel_transfer_out", "取消转出: take a transfer out back (operateType 10)."
)


def _changes(values: tuple[str, ...]) -> dict[str, str]:
    changes: dict[str, str] = {}
    for text in values:
        code, sep, value = text.partition("=")
        if not sep or not code.strip():
            raise click.BadParameter(_("expected CODE=VALUE, got {text!r}", text=text),
                                     param_hint="--set")
        changes[code.strip()] = value
    return changes


@license_group.command("change")
@click.argument("identifier")
@click.option("--set", "values", multiple=True, required=True, metavar="CODE=VALUE",
              help="An element's new value, e.g. --set CZZT=新名称 (repeatable; empty drops "
                   "an optional element).")
@actor_option
@reason_option
@json_option
@click.pass_obj
@handle_errors
def license_change(settings: Settings, identifier: str, values: tuple[str, ...], actor: str,
                   reason: str | None, as_json: bool) -> None:  # fmt: skip
    """变更: seal a new version with changed elements (operateType 09)."""

    with session_scope(engine(settings)) as session:
        result = change(session, settings, identifier, changes=_changes(values), at=now(),
                        actor=actor, reason=reason)  # fmt: skip
    render(result, as_json=as_json)


@license_group.command("renew")
@click.argument("identifier")
@click.option("--until", "valid_to", required=True, help="New end date yyyyMMdd, or 长期.")
@click.option("--from", "valid_from", default=None, help="New start date yyyyMMdd.")
@actor_option
@reason_option
@json_option
@click.pass_obj
@handle_errors
def license_renew(settings: Settings, identifier: str, valid_to: str, valid_from: str | None,
                  actor: str, reason: str | None, as_json: bool) -> None:  # fmt: skip
    """延续: seal a new version with a later end date (operateType 02)."""

    with session_scope(engine(settings)) as session:
        result = renew(session, settings, identifier, valid_to=valid_to, valid_from=valid_from,
                       at=now(), actor=actor, reason=reason)  # fmt: skip
    render(result, as_json=as_json)


def _today(value: str | None) -> dt.date:
    if not value:
        return china_day(now())
    try:
        return dt.datetime.strptime(value, "%Y%m%d").date()
    except ValueError as exc:
        raise click.BadParameter(_("not a date yyyyMMdd: {value!r}", value=value),
                                 param_hint="--today") from exc


@license_group.command("expire")
@click.argument("identifier")
@click.option("--today", default=None, help="The date to judge by, yyyyMMdd (default: today).")
@actor_option
@reason_option
@json_option
@click.pass_obj
@handle_errors
def license_expire(settings: Settings, identifier: str, today: str | None, actor: str,
                   reason: str | None, as_json: bool) -> None:  # fmt: skip
    """过期失效: mark a license whose end date has passed EXPIRED (operateType 04)."""

    with session_scope(engine(settings)) as session:
        result = expire(session, identifier, today=_today(today), at=now(), actor=actor,
                        reason=reason)  # fmt: skip
    render(result, as_json=as_json)


@license_group.command("expire-due")
@click.option("--today", default=None, help="The date to judge by, yyyyMMdd (default: today).")
@json_option
@click.pass_obj
@handle_errors
def license_expire_due(settings: Settings, today: str | None, as_json: bool) -> None:
    """The expiry sweep: every license past its end date becomes EXPIRED."""

    day, total = _today(today), 0
    sample: list[str] = []
    eng = engine(settings)
    while True:
        with session_scope(eng) as session:
            sweep = expire_due(session, today=day, at=now())
        total += sweep.expired
        sample.extend(sweep.identifiers[: 100 - len(sample)])
        if not sweep.expired:
            break
    if as_json:
        echo_json({"expired": total, "today": day.isoformat(), "identifiers": sample})
        return
    click.echo(ngettext("{n} license past its end date before {day} is now {status} (queued "
                        "for the province)", "{n} licenses past their end date before {day} "
                        "are now {status} (queued for the province)", total, n=total,
                        day=day.strftime("%Y%m%d"), status=status_text("EXPIRED")))


@license_group.command("transfer-in")
@click.option("--record", "record_path", type=click.Path(path_type=Path, exists=True),
              required=True, help="The license's elements as the other registry sealed them "
                                  "(an export bundle's license.json).")
@click.option("--department", "department_uscc", required=True,
              help="The receiving department's USCC.")
@click.option("--predecessor", default=None,
              help="The identifier in the other registry (default: the record's ZZBS).")
@actor_option
@reason_option
@json_option
@click.pass_obj
@handle_errors
def license_transfer_in(settings: Settings, record_path: Path, department_uscc: str,
                        predecessor: str | None, actor: str, reason: str | None,
                        as_json: bool) -> None:  # fmt: skip
    """转入: take over a license from another registry (operateType 08)."""

    try:
        elements = json.loads(record_path.read_bytes())
    except ValueError as exc:
        raise ConfigError(_("{file} is not a JSON license record: {why}", file=record_path,
                            why=exc)) from exc
    if not isinstance(elements, dict):
        raise ConfigError(_("{file} must hold a JSON object of elements", file=record_path))
    origin = predecessor or str(elements.get("ZZBS") or "")
    with session_scope(engine(settings)) as session:
        result = transfer_in(session, settings, elements=elements,
                             department_uscc=department_uscc, predecessor=origin, at=now(),
                             actor=actor, reason=reason)  # fmt: skip
    render(result, as_json=as_json)


@license_group.command("history")
@click.argument("identifier")
@json_option
@click.pass_obj
@handle_errors
def license_history(settings: Settings, identifier: str, as_json: bool) -> None:
    """Every version of the license, from whichever one is given (its predecessors and
    successors), with each version's lifecycle steps: who, when, why."""

    with session_scope(engine(settings)) as session:
        versions = chain(session, identifier)
    if as_json:
        echo_json(versions)
        return
    for v in versions:
        issued = china_text(dt.datetime.fromisoformat(v["signed_at"]))
        how = (_("sealed {at}", at=issued) if v["batch_id"] is None
               else _("sealed {at} from batch {batch}", at=issued, batch=v["batch_id"]))
        if v["predecessor"]:
            how = _("{how}, replaces {identifier}", how=how, identifier=v["predecessor"])
        asked = _("  ← this version") if v["asked"] and len(versions) > 1 else ""
        click.echo(f"{v['identifier']}  {status_text(v['status'])}  {how}{asked}")
        if not v["steps"]:
            click.echo("    " + _("no lifecycle steps since issue"))
        for r in v["steps"]:
            change = (_("new version (replaces {identifier})", identifier=r["related"])
                      if r["from_status"] is None
                      else f"{status_text(r['from_status'])} → {status_text(r['to_status'])}")
            why = f"  «{r['reason']}»" if r["reason"] else ""
            click.echo("    " + _("{at}  {step}  {op}  {change}  by {actor}{why}",
                                  at=china_text(dt.datetime.fromisoformat(r["at"])),
                                  step=step_text(r["action"]), op=r["operate_type"],
                                  change=change, actor=r["actor"], why=why))
