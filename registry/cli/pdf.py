"""``licreg pdf render|show|bench``: signed PDF renditions of sealed licenses."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from registry.bench.pdf import run_pdf_bench
from registry.cli._common import echo_json, engine, handle_errors, now
from registry.config import Settings
from registry.db import session_scope
from registry.render.renditions import ensure_rendition, render_pending

__all__ = ["pdf_bench", "pdf_group", "pdf_render", "pdf_show"]


@click.group("pdf")
def pdf_group() -> None:
    """PDF renditions (版式文件): rendered from the template, PAdES-signed by the seal."""


@pdf_group.command("render")
@click.option("--limit", type=int, default=None, help="Render at most N pending licenses.")
@click.option("--workers", type=int, default=None,
              help="Worker processes (default: one per CPU; 0: in this process).")
@click.option("--tsa-url", envvar="LICREG_TSA_URL", default=None,
              help="RFC 3161 time-stamping authority: signatures become PAdES B-T.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def pdf_render(settings: Settings, limit: int | None, workers: int | None,
               tsa_url: str | None, as_json: bool) -> None:
    """Render and sign the PDF of every license that has none yet."""

    report = render_pending(engine(settings), settings, at=now(), limit=limit, workers=workers,
                            tsa_url=tsa_url)
    if as_json:
        echo_json(report.to_dict())
        return
    levels = ", ".join(f"{k} {v}" for k, v in sorted(report.levels.items())) or "none"
    click.echo(f"rendered {report.rendered} PDFs ({levels}) in {report.seconds:.1f} s")
    if report.with_missing_glyphs:
        click.echo(f"  {report.with_missing_glyphs} with characters no font has (drawn as boxes)")


@pdf_group.command("show")
@click.argument("identifier")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.pass_obj
@handle_errors
def pdf_show(settings: Settings, identifier: str, out: Path) -> None:
    """Write the license's signed PDF to OUT (rendering it first if it has none)."""

    with session_scope(engine(settings)) as session:
        stored = ensure_rendition(session, settings, identifier, at=now())
    shutil.copyfile(stored, out)
    click.echo(f"{out}  {out.stat().st_size} bytes")


@pdf_group.command("bench")
@click.option("--licenses", "n", type=int, default=3000, show_default=True)
@click.option("--workers", type=int, default=None, help="Worker processes (default: CPUs).")
@click.option("--workdir", type=click.Path(path_type=Path), default=None,
              help="Where the scratch registry goes (default: under LICREG_HOME, the disk the "
                   "PDFs are really stored on).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def pdf_bench(settings: Settings, n: int, workers: int | None, workdir: Path | None,
              as_json: bool) -> None:
    """Measure sealed PDFs per second on N synthetic licenses in a scratch registry."""

    if workdir is None:
        workdir = settings.home
    workdir.mkdir(parents=True, exist_ok=True)
    report = run_pdf_bench(n, at=now(), workers=workers, workdir=workdir)
    if as_json:
        echo_json(report.to_dict())
        return
    r = report.render
    click.echo(f"{r.rendered} sealed PDFs in {r.seconds - r.startup_seconds:.2f} s with "
               f"{r.workers} workers: {r.rate:.0f} per second "
               f"(+{r.startup_seconds:.1f} s worker start-up)")
    click.echo(f"rendering CPU: {1000 / r.per_core_rate if r.per_core_rate else 0:.2f} ms per "
               f"PDF, {r.per_core_rate:.0f} per CPU-second")
    click.echo(f"mean size {report.mean_size} bytes; sample of {report.sample_size}: "
               f"{report.sample_verified} PASSED verify_pdf"
               + ("" if report.pdfsig_valid is None else
                  f", {report.pdfsig_valid} valid in pdfsig")
               + ("" if report.pyhanko_valid is None else
                  f", {report.pyhanko_valid} intact/valid/trusted in pyHanko"))
