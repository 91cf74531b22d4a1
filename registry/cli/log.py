"""``licreg log …``: the transparency log — sign a checkpoint, prove, check.

::

    licreg log checkpoint                 sequence new leaves, sign a checkpoint
    licreg log prove IDENTIFIER           inclusion proof of a license (the proof.json of a bundle)
    licreg log consistency OLD NEW        consistency proof between two tree sizes
    licreg log verify                     recompute the tree, check every stored checkpoint

``log verify`` exits like ``verify``: 0 nothing wrong, 1 something failed, 3 undecided.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from registry.cli._common import echo_json, engine, handle_errors, now
from registry.cli.progress import progress_bar
from registry.clock import china_text
from registry.config import Settings
from registry.db import session_scope
from registry.i18n import _
from registry.seal.pki import load_root_cert
from registry.tlog.audit import scan_log
from registry.tlog.checkpoint import CheckpointChecker, sign_checkpoint
from registry.tlog.proof import prove_consistency, prove_identifier
from registry.verify.bundle import load_anchors
from registry.verify.report import reason_text

__all__ = [
    "log_checkpoint",
    "log_consistency",
    "log_group",
    "log_prove",
    "log_verify",
]


@click.group("log")
def log_group() -> None:
    """The transparency log (RFC 9162 hashing, signed checkpoints; TEST ONLY log key)."""


@log_group.command("checkpoint")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def log_checkpoint(settings: Settings, as_json: bool) -> None:
    """Give new leaves their positions and sign a checkpoint of the whole log."""

    with session_scope(engine(settings)) as session, \
            progress_bar(_("signing a log checkpoint"), quiet=as_json) as bar:
        cp, created = sign_checkpoint(session, keystore=settings.keystore,
                                      passphrase=settings.require_passphrase(), now=now(),
                                      progress=bar)
    if as_json:
        echo_json({"id": cp.id, "created": created, **cp.to_dict()})
        return
    fields = {"id": cp.id, "size": cp.tree_size, "root": cp.root_hash.hex(),
              "time": china_text(cp.time, seconds=True)}
    if created:
        click.echo(_("signed checkpoint #{id}: {size} leaves, root {root}, at {time}", **fields))
    else:
        click.echo(_("no new leaves; latest is checkpoint #{id}: {size} leaves, root {root}, "
                     "at {time}", **fields))


@log_group.command("prove")
@click.argument("identifier")
@click.option("--json", "as_json", is_flag=True, help="Print the proof document (proof.json).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the proof document to this file.")
@click.pass_obj
@handle_errors
def log_prove(settings: Settings, identifier: str, as_json: bool, out: Path | None) -> None:
    """Inclusion proof of a license's sealing leaf in the earliest checkpoint covering it."""

    with session_scope(engine(settings)) as session:
        proof = prove_identifier(session, identifier)
    if out is not None:
        out.write_bytes(proof.to_json())
    if as_json:
        echo_json(proof.to_dict())
        return
    cp = proof.checkpoint
    click.echo(_("leaf {index} of {size} in checkpoint #{id} ({origin}, {time})",
                 index=proof.leaf_index, size=cp.tree_size, id=cp.id, origin=cp.origin,
                 time=china_text(cp.time, seconds=True)))
    click.echo(_("root {root}", root=cp.root_hash.hex()))
    for step in proof.path:
        click.echo(f"  {step.hex()}")


@log_group.command("consistency")
@click.argument("old_size", type=click.IntRange(min=0))
@click.argument("new_size", type=click.IntRange(min=0))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def log_consistency(settings: Settings, old_size: int, new_size: int, as_json: bool) -> None:
    """Consistency proof: the tree of OLD_SIZE leaves is a prefix of the tree of NEW_SIZE."""

    with session_scope(engine(settings)) as session:
        proof = prove_consistency(session, old_size, new_size)
    if as_json:
        echo_json(proof.to_dict())
        return
    click.echo(_("size {size} root {root}", size=proof.old_size, root=proof.old_root.hex()))
    click.echo(_("size {size} root {root}", size=proof.new_size, root=proof.new_root.hex()))
    for step in proof.path:
        click.echo(f"  {step.hex()}")


@log_group.command("verify")
@click.option("--anchors", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=None, help="PEM trust anchors for the log key (default: the keystore's "
                                 "root certificate).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def log_verify(settings: Settings, anchors: Path | None, as_json: bool) -> None:
    """Recompute the tree from the stored leaves and check every stored checkpoint."""

    trusted = load_anchors(anchors) if anchors else [load_root_cert(settings.keystore)]
    with session_scope(engine(settings)) as session:
        scan = scan_log(session, checker=CheckpointChecker(trusted))
    undecided = {"NO_CERTIFICATE_CHAIN_FOUND", "OUT_OF_BOUNDS_NO_POE"}
    if as_json:
        echo_json({
            "size": scan.size,
            "pending": scan.pending,
            "checkpoints": len(scan.checkpoints),
            "valid_checkpoints": scan.valid_checkpoints,
            "findings": [
                {"sub_indication": f.sub_indication,
                 "sub_indication_text": reason_text(f.sub_indication), "subject": f.subject,
                 "identifier": f.identifier, "detail": f.detail}
                for f in scan.findings
            ],
        })
    else:
        click.echo(_("{size} leaves in checkpoints, {pending} pending; {checkpoints} "
                     "checkpoints, {valid} valid", size=scan.size, pending=scan.pending,
                     checkpoints=len(scan.checkpoints), valid=scan.valid_checkpoints))
        for f in scan.findings:
            ident = f"  {f.identifier}" if f.identifier else ""
            head = _("{code} ({reason})", code=f.sub_indication,
                     reason=reason_text(f.sub_indication))
            click.echo(f"{head}  {f.subject}{ident}\n    {f.detail}")
        if not scan.findings:
            click.echo(_("ok: every checkpoint matches the leaves"))
    subs = {f.sub_indication for f in scan.findings}
    sys.exit(0 if not subs else 3 if subs <= undecided else 1)
