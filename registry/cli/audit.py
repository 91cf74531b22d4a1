"""``licreg pki anchors`` and ``licreg verify``: the auditor's commands."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from registry.cli import cli
from registry.cli._common import echo_json, handle_errors, now
from registry.config import Settings

EXIT_FOR = {"PASSED": 0, "FAILED": 1, "INDETERMINATE": 3}


def verdict_exit_code(indications: Sequence[str]) -> int:
    """Chosen once, over every item: 0 all passed, 1 any failed, 3 any indeterminate."""
    codes = {EXIT_FOR[i] for i in indications}
    return 1 if 1 in codes else 3 if 3 in codes else 0


def parse_at(value: str | None) -> dt.datetime:
    if not value:
        return now()
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint="--at") from exc
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


@cli.group()
def pki() -> None:
    """The TEST ONLY PKI."""


@pki.command("anchors")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.pass_obj
@handle_errors
def pki_anchors(settings: Settings, out: Path) -> None:
    """Write the trust anchor (the test root certificate) as PEM."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from registry.seal.pki import load_root_cert

    out.write_bytes(load_root_cert(settings.keystore).public_bytes(Encoding.PEM))
    click.echo(f"wrote {out}")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--anchors", type=click.Path(path_type=Path, exists=True), required=True,
              help="PEM file of trusted root certificates.")
@click.option("--at", "at_text", default=None, help="Validation time (ISO 8601; default now).")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def verify(paths: tuple[Path, ...], anchors: Path, at_text: str | None, as_json: bool) -> None:
    """Verify export bundles offline against the anchors you choose."""
    from registry.verify.bundle import load_anchors, verify_bundle

    trusted = load_anchors(anchors)
    at = parse_at(at_text)
    reports = [verify_bundle(p, anchors=trusted, at=at) for p in paths]
    if as_json:
        docs = [r.to_dict() for r in reports]
        echo_json(docs[0] if len(docs) == 1 else docs)
    else:
        for r in reports:
            sub = f" {r.sub_indication}" if r.sub_indication else ""
            click.echo(f"{r.indication}{sub}  {r.subject}  {r.identifier or ''}".rstrip())
            for reason in r.reasons:
                click.echo(f"    {reason}")
    sys.exit(verdict_exit_code([str(r.indication) for r in reports]))
