"""``licreg pki anchors`` and ``licreg verify``: the auditor's commands.

``licreg verify`` takes export bundles, PDFs, folders of either, and/or ``--registry`` (every
license in the database, reconciled with the transparency log). It prints one line per item
(reasons indented under the ones that did not pass), or ``--json`` (one object for one input,
an array for many), and ``--report FILE.html`` writes a page for the file. The exit code is
chosen once, at the end: 0 all passed, 1 any failed, 3 any indeterminate, 2 usage.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from registry.cli._common import echo_json, engine, handle_errors, now
from registry.cli.progress import progress_bar
from registry.cli.setup import new_keystore_passphrase
from registry.config import Settings
from registry.db import session_scope
from registry.errors import ConfigError
from registry.i18n import _, ngettext
from registry.seal.crl import load_crls
from registry.seal.pki import create_test_pki, load_root_cert, upgrade_keystore
from registry.tlog.keys import ensure_log_key
from registry.verify.audit_runs import record_audit_run
from registry.verify.bundle import load_anchors, read_crl_files
from registry.verify.html import render_html
from registry.verify.inputs import verify_paths
from registry.verify.registry_audit import audit_registry
from registry.verify.report import (
    CheckResult,
    Indication,
    VerificationReport,
    coverage,
    indication_text,
    overall,
)

if TYPE_CHECKING:
    from registry.verify.registry_audit import RegistryAudit

__all__ = [
    "EXIT_FOR",
    "parse_at",
    "pki",
    "pki_anchors",
    "pki_init",
    "pki_upgrade",
    "text_lines",
    "verdict_exit_code",
    "verify",
]

EXIT_FOR = {"PASSED": 0, "FAILED": 1, "INDETERMINATE": 3}


def verdict_exit_code(indications: Sequence[str]) -> int:
    """Chosen once, over every item: 0 all passed, 1 any failed, 3 any indeterminate."""
    return EXIT_FOR[overall(indications)]


def text_lines(reports: Sequence[VerificationReport], *,
               notes: Sequence[str] = ()) -> list[str]:
    """``licreg verify``'s text: one line per item (its verdict in words, the code beside),
    its reasons indented below and what it did not check; superseded versions apart, as
    history; the notes; what was and was not checked for every item; the counts."""
    lines = []
    checked, unchecked = coverage(reports)
    history = [r for r in reports if r.history]
    missing: dict[tuple[CheckResult, ...], list[str]] = {}
    for r in reports:
        if r.history:
            continue
        ident = "" if r.identifier in (None, r.subject) else r.identifier
        lines.append(f"{r.headline()}  {r.subject}  {ident}".rstrip())
        lines.extend(f"    {reason}" for reason in r.reasons)
        if r.indication is not Indication.FAILED:
            own = missing.get(r.checks)
            if own is None:  # reports of one registry audit share their checks
                own = missing[r.checks] = [s for _c, s in r.not_checked() if s not in unchecked]
            lines.extend(f"    {s}" for s in own)
    if history:
        lines.append(_("history: superseded versions, valid when issued ({n})", n=len(history)))
        lines.extend(f"    {r.subject}  {r.check('status').detail}" for r in history)
    lines.extend(notes)
    if checked:
        lines.append(_("checked: {checks}", checks=_(", ").join(checked)))
    lines.extend(unchecked)
    counts = Counter("history" if r.history else str(r.indication) for r in reports)
    lines.append(_(", ").join(
        [_("{indication} {n}", indication=indication_text(k), n=counts[k])
         for k in EXIT_FOR if counts[k]]
        + ([_("history {n}", n=counts["history"])] if counts["history"] else [])))
    return lines


def parse_at(value: str | None) -> dt.datetime:
    if not value:
        return now()
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(_("not an ISO 8601 time: {value!r}", value=value),
                                 param_hint="--at") from exc
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


@click.group()
def pki() -> None:
    """The city's TEST ONLY PKI: create it, export its trust anchor, re-encrypt old key files."""


@pki.command("init")
@click.pass_obj
@handle_errors
def pki_init(settings: Settings) -> None:
    """Create the city's TEST ONLY root CA, seal-maker CA and log key in the keystore
    (refused when it holds a root already); seals are then applied for, made and
    authorized through their steps (``licreg seal …``)."""

    passphrase = settings.require_passphrase()
    at = now()
    with new_keystore_passphrase():
        create_test_pki(settings.keystore, passphrase, now=at)
    ensure_log_key(settings.keystore, passphrase, now=at)
    root = load_root_cert(settings.keystore)
    click.echo(_("TEST ONLY PKI created in {keystore}", keystore=settings.keystore))
    click.echo(_("  root CA: {subject}, valid until {until}", subject=root.subject.rfc4514_string(),
                 until=root.not_valid_after_utc.date()))
    click.echo(_("  trust anchor for auditors: `licreg pki anchors --out anchors.pem`"))


@pki.command("upgrade")
@click.pass_obj
@handle_errors
def pki_upgrade(settings: Settings) -> None:
    """Re-encrypt the keystore's keys that an older licreg wrote with fewer PBKDF2
    iterations at the current parameters (PBKDF2-HMAC-SHA256, 600,000 iterations)."""

    done = upgrade_keystore(settings.keystore, settings.require_passphrase())
    for path in done:
        click.echo(_("re-encrypted {file}", file=path))
    click.echo(ngettext("{n} key file re-encrypted; every key is at the current parameters",
                        "{n} key files re-encrypted; every key is at the current parameters",
                        len(done), n=len(done)))


@pki.command("anchors")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.pass_obj
@handle_errors
def pki_anchors(settings: Settings, out: Path) -> None:
    """Write the trust anchor (the test root certificate) as PEM."""

    out.write_bytes(load_root_cert(settings.keystore).public_bytes(Encoding.PEM))
    click.echo(_("wrote {path}", path=out))


def _keystore_crls(settings: Settings) -> list[x509.CertificateRevocationList]:
    """The registry's own CRLs (registry.seal.crl); each is used only if its signature
    verifies with the CA in the certificate's path."""
    return list(load_crls(settings.keystore))


def _record_run(settings: Settings, audit: RegistryAudit, *, at: dt.datetime) -> None:
    """Keep the run's verdicts per department: the weekly bulletin ranks on the last one."""

    with session_scope(engine(settings)) as session:
        record_audit_run(session, audit, at=at, recorded_at=now())


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, exists=True))
@click.option("--registry", "whole_registry", is_flag=True,
              help="Verify every license in the database and reconcile it with the log.")
@click.option("--anchors", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              required=True, help="PEM file of trusted root certificates.")
@click.option("--crl", "crl_files", multiple=True,
              type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="A CRL (PEM or DER) to check revocation with; repeatable.")
@click.option("--at", "at_text", default=None, help="Validation time (ISO 8601; default now).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--report", "report_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Also write an HTML report to this file.")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Processes for --registry (default: one per CPU for large registries).")
@click.pass_obj
@handle_errors
def verify(
    settings: Settings,
    paths: tuple[Path, ...],
    whole_registry: bool,
    anchors: Path,
    crl_files: tuple[Path, ...],
    at_text: str | None,
    as_json: bool,
    report_path: Path | None,
    workers: int | None,
) -> None:
    """Verify export bundles, PDFs, folders of them, or the whole registry, offline, against
    the anchors you choose."""

    if not paths and not whole_registry:
        raise click.UsageError(_("give bundles, PDFs or folders to verify, or --registry"))
    try:
        trusted = load_anchors(anchors)
        crls = read_crl_files(crl_files)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc
    at = parse_at(at_text)
    reports: list[VerificationReport] = []
    if paths:
        with progress_bar(_("verifying"), quiet=as_json) as bar:
            reports = verify_paths(paths, anchors=trusted, at=at, crls=crls, progress=bar)
    notes: list[str] = []
    if whole_registry:
        with progress_bar(_("verifying the registry"), quiet=as_json) as bar:
            audit = audit_registry(engine(settings), anchors=trusted, at=at,
                                   crls=[*crls, *_keystore_crls(settings)],
                                   workers=workers, progress=bar)
        _record_run(settings, audit, at=at)
        reports.extend(audit.reports)
        notes.append(_(
            "registry: {licenses} licenses; log: {size} leaves in checkpoints, {pending} "
            "pending; {checkpoints} checkpoints ({valid} valid)", licenses=audit.licenses,
            size=audit.log_size, pending=audit.log_pending, checkpoints=audit.checkpoints,
            valid=audit.valid_checkpoints))
    if report_path is not None:
        report_path.write_text(render_html(reports, validation_time=at, notes=notes),
                               encoding="utf-8")
    if as_json:
        docs = [r.to_dict() for r in reports]
        single = len(docs) == 1 and len(paths) == 1 and not whole_registry
        echo_json(docs[0] if single else docs)
    else:
        click.echo("\n".join(text_lines(reports, notes=notes)))
    sys.exit(verdict_exit_code([str(r.indication) for r in reports]))
