"""``licreg``: the command line. Each command parses, calls one library function, renders.

Exit codes: 0 success (for verify: all PASSED), 1 failure (verify: any FAILED), 2 usage,
3 verify: any INDETERMINATE and none FAILED.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import Engine, select

from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.errors import RegistryError

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_ACCESS_ID = "licreg-demo"
DEFAULT_TOKEN = "TEST-ONLY-province-token"  # noqa: S105 - the mock endpoint's documented test credential


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _engine(settings: Settings) -> Engine:
    return make_engine(settings.database_url)


def handle_errors(fn: F) -> F:
    """Known errors become one clear line on stderr and exit code 1, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RegistryError as exc:
            click.echo(f"error: {exc.diagnostics()}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Electronic license and seal registry (电子证照与电子印章登记系统)."""
    ctx.obj = Settings.from_env()


@cli.command()
@click.option("--demo", is_flag=True, help="Also create the TEST ONLY PKI and demo departments.")
@click.pass_obj
@handle_errors
def init(settings: Settings, demo: bool) -> None:
    """Create or upgrade the registry database (and the demo world)."""
    from registry.world import create_demo_world, init_registry

    engine = _engine(settings)
    init_registry(engine)
    click.echo(f"registry ready: {settings.database_url}")
    if demo:
        with session_scope(engine) as session:
            created = create_demo_world(session, settings, now=_now())
        for line in created or ["demo world already present"]:
            click.echo(f"  {line}")


@cli.group()
def department() -> None:
    """Issuing departments."""


@department.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def department_list(settings: Settings, as_json: bool) -> None:
    """Departments with their 18-character code and the license types they issue."""
    from registry.models import Department

    with session_scope(_engine(settings)) as session:
        rows = [
            {"name": d.name, "uscc": d.uscc, "division_code": d.division_code,
             "type_codes": sorted(t.type_code for t in d.types)}
            for d in session.scalars(select(Department).order_by(Department.id))
        ]
    if as_json:
        _echo_json(rows)
        return
    for r in rows:
        click.echo(f"{r['uscc']}  {r['name']}  types: {', '.join(r['type_codes'])}")


@cli.group("type")
def type_group() -> None:
    """License types."""


@type_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def type_list(as_json: bool) -> None:
    """License types with their 21-character code, name and face fields."""
    from registry.license_types import load_license_types

    rows = [
        {"code": t.code, "name": t.name, "defining_authority": t.authority_name,
         "holder_types": list(t.holder_types),
         "face_fields": {f.code: f.title for f in t.face_fields}}
        for t in load_license_types().values()
    ]
    if as_json:
        _echo_json(rows)
        return
    for r in rows:
        click.echo(f"{r['code']}  {r['name']}  ({', '.join(r['face_fields'].values())})")


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--department", "department_uscc", required=True, help="Issuing department's USCC.")
@click.option("--type", "type_code", required=True, help="21-character license type code.")
@click.option("--uploader", default="cli", show_default=True, help="Who uploads the file.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def ingest(settings: Settings, file: Path, department_uscc: str, type_code: str, uploader: str,
           as_json: bool) -> None:
    """Ingest a department file: validate, filter, structure, seal, store; report every row."""
    from registry.batches import ingest_file, row_outcomes

    engine = _engine(settings)
    report = ingest_file(engine, settings, file, department_uscc=department_uscc,
                         type_code=type_code, uploader=uploader, at=_now())
    with session_scope(engine) as session:
        rows = row_outcomes(session, report.batch_id)
    if as_json:
        _echo_json({**report.to_dict(), "rows": rows})
        return
    note = "  (same bytes ingested before: nothing new)" if report.already_ingested else ""
    click.echo(f"batch {report.batch_id}: {report.file} sha256 {report.sha256[:12]}{note}")
    click.echo(f"rows read {report.rows_read}: accepted {report.accepted}, "
               f"filtered {report.filtered}, rejected {report.rejected}")
    for r in rows:
        detail = "; ".join(x["message"] for x in r["reasons"])
        tail = r["identifier"] if r["outcome"] == "accepted" and not detail else detail
        click.echo(f"  line {r['line']:>5}  {r['outcome']:<8}  {tail}")


@cli.group("license")
def license_group() -> None:
    """What the registry holds."""


@license_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=int, default=None)
@click.option("--type", "type_code", default=None)
@click.pass_obj
@handle_errors
def license_list(settings: Settings, as_json: bool, limit: int | None, type_code: str | None) -> None:
    """List license versions."""
    from registry.licenses import list_licenses

    with session_scope(_engine(settings)) as session:
        rows = list_licenses(session, limit=limit, type_code=type_code)
    if as_json:
        _echo_json(rows)
        return
    for r in rows:
        click.echo(f"{r['identifier']}  {r['status']:<10} {r['name']}  {r['number']}  {r['holder']}")


@license_group.command("show")
@click.argument("identifier")
@click.pass_obj
@handle_errors
def license_show(settings: Settings, identifier: str) -> None:
    """Show one license with all its elements."""
    from registry.licenses import license_detail

    with session_scope(_engine(settings)) as session:
        _echo_json(license_detail(session, identifier))


@cli.command()
@click.argument("identifier")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.pass_obj
@handle_errors
def export(settings: Settings, identifier: str, out: Path) -> None:
    """Write an auditor's bundle: license.json, signature.der, seal.der, chain.pem."""
    from registry.licenses import export_bundle

    with session_scope(_engine(settings)) as session:
        files = export_bundle(session, identifier, out)
    for f in files:
        click.echo(f"{f}  {f.stat().st_size} bytes")


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


def _parse_at(value: str | None) -> dt.datetime:
    if not value:
        return _now()
    at = dt.datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


EXIT_FOR = {"PASSED": 0, "FAILED": 1, "INDETERMINATE": 3}


def verdict_exit_code(indications: Sequence[str]) -> int:
    """0 all passed, 1 any failed, 3 any indeterminate (and none failed)."""
    codes = {EXIT_FOR[i] for i in indications}
    return 1 if 1 in codes else 3 if 3 in codes else 0


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
    at = _parse_at(at_text)
    reports = [verify_bundle(p, anchors=trusted, at=at) for p in paths]
    if as_json:
        docs = [r.to_dict() for r in reports]
        _echo_json(docs[0] if len(docs) == 1 else docs)
    else:
        for r in reports:
            sub = f" {r.sub_indication}" if r.sub_indication else ""
            click.echo(f"{r.indication}{sub}  {r.subject}  {r.identifier or ''}".rstrip())
            for reason in r.reasons:
                click.echo(f"    {reason}")
    sys.exit(verdict_exit_code([str(r.indication) for r in reports]))


@cli.group()
def province() -> None:
    """The mock provincial aggregation platform."""


def _parse_tokens(values: Sequence[str]) -> dict[str, str]:
    tokens = {}
    for v in values or (f"{DEFAULT_ACCESS_ID}={DEFAULT_TOKEN}",):
        access_id, sep, token = v.partition("=")
        if not sep:
            raise click.BadParameter(f"expected ID=TOKEN, got {v!r}")
        tokens[access_id] = token
    return tokens


@province.command("serve")
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--anchors", type=click.Path(path_type=Path), default=None,
              help="Trusted roots (default: this registry's test root).")
@click.option("--token", "tokens", multiple=True, help="Accepted credential ID=TOKEN (repeatable).")
@click.pass_obj
@handle_errors
def province_serve(settings: Settings, port: int, anchors: Path | None,
                   tokens: tuple[str, ...]) -> None:
    """Run the mock provincial endpoint in this process (Ctrl-C stops it)."""
    from registry.province.server import serve

    serve(port=port, home=settings.province_home,
          anchors_path=anchors or settings.keystore / "root.pem", tokens=_parse_tokens(tokens))


@cli.command()
@click.option("--endpoint", required=True, help="Base URL of the provincial endpoint.")
@click.option("--access-id", envvar="LICREG_PROVINCE_ACCESS_ID", default=DEFAULT_ACCESS_ID)
@click.option("--token", envvar="LICREG_PROVINCE_TOKEN", default=DEFAULT_TOKEN)
@click.option("--batch-size", type=int, default=500, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def push(settings: Settings, endpoint: str, access_id: str, token: str, batch_size: int,
         as_json: bool) -> None:
    """Push every license event not yet acknowledged by the province."""
    import httpx

    from registry.province.client import ProvinceClient
    from registry.province.sync import push_pending

    with httpx.Client(base_url=endpoint, timeout=httpx.Timeout(30.0, connect=5.0)) as http, \
            session_scope(_engine(settings)) as session:
        client = ProvinceClient(http, access_id=access_id, access_token=token)
        summary = push_pending(session, client, batch_size=batch_size, at=_now())
    if as_json:
        _echo_json(summary.__dict__)
        return
    click.echo(f"sent {summary.sent}: accepted {summary.accepted}, duplicates "
               f"{summary.duplicates}, rejected {summary.rejected} in {summary.batches} batch(es)")
    for code, n in sorted(summary.reasons.items()):
        click.echo(f"  {code}: {n}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
