"""``licreg pdf render|show|bench``: signed PDF renditions of sealed licenses."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from registry.bench.pdf import run_pdf_bench
from registry.cli._common import echo_json, engine, handle_errors, now
from registry.cli.progress import progress_bar
from registry.cli.terminal import LocalizedGroup
from registry.config import Settings
from registry.db import session_scope
from registry.i18n import N_, SEPARATOR, _, ngettext, word
from registry.render.renditions import ensure_rendition, render_pending

__all__ = ["pdf_bench", "pdf_group", "pdf_render", "pdf_show"]


@click.group("pdf", cls=LocalizedGroup, help=N_(
    "PDF renditions (版式文件): rendered from the template, PAdES-signed by the seal."))
def pdf_group() -> None:
    """PDF renditions (版式文件): rendered from the template, PAdES-signed by the seal."""


@pdf_group.command("render", help=N_("Render and sign the PDF of every license that has none yet."))
@click.option("--limit", type=int, default=None, help=N_("Render at most N pending licenses."))
@click.option("--workers", type=int, default=None,
              help=N_("Worker processes (default: one per CPU; 0: in this process)."))
@click.option("--tsa-url", envvar="LICREG_TSA_URL", default=None,
              help=N_("RFC 3161 time-stamping authority: signatures become PAdES B-T."))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def pdf_render(settings: Settings, limit: int | None, workers: int | None,
               tsa_url: str | None, as_json: bool) -> None:
    with progress_bar(_("rendering PDFs"), quiet=as_json) as bar:
        report = render_pending(engine(settings), settings, at=now(), limit=limit,
                                workers=workers, tsa_url=tsa_url, progress=bar)
    if as_json:
        echo_json(report.to_dict())
        return
    levels = word(SEPARATOR).join(f"{k} {v}" for k, v in sorted(report.levels.items())) or "—"
    click.echo(ngettext("rendered {n} PDF ({levels}) in {seconds} s",
                        "rendered {n} PDFs ({levels}) in {seconds} s", report.rendered,
                        n=report.rendered, levels=levels, seconds=format(report.seconds, ".1f")))
    if report.with_missing_glyphs:
        click.echo(_("  {n} with characters no font has (drawn as boxes)",
                     n=report.with_missing_glyphs))


@pdf_group.command("show", help=N_(
    "Write the license's signed PDF to OUT (rendering it first if it has none)."))
@click.argument("identifier")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def pdf_show(settings: Settings, identifier: str, out: Path, as_json: bool) -> None:
    with session_scope(engine(settings)) as session:
        stored = ensure_rendition(session, settings, identifier, at=now())
    shutil.copyfile(stored, out)
    if as_json:
        echo_json({"identifier": identifier, "file": str(out), "size": out.stat().st_size})
        return
    click.echo(_("{file}  {size} bytes", file=out, size=out.stat().st_size))


@pdf_group.command("bench", help=N_(
    "Measure sealed PDFs per second on N synthetic licenses in a scratch registry."))
@click.option("--licenses", "n", type=int, default=3000, show_default=True)
@click.option("--workers", type=int, default=None, help=N_("Worker processes (default: CPUs)."))
@click.option("--workdir", type=click.Path(path_type=Path), default=None,
              help=N_("Where the scratch registry goes (default: under LICREG_HOME, the disk the "
                   "PDFs are really stored on)."))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def pdf_bench(settings: Settings, n: int, workers: int | None, workdir: Path | None,
              as_json: bool) -> None:
    if workdir is None:
        workdir = settings.home
    workdir.mkdir(parents=True, exist_ok=True)
    report = run_pdf_bench(n, at=now(), workers=workers, workdir=workdir)
    if as_json:
        echo_json(report.to_dict())
        return
    r = report.render
    click.echo(_("{n} sealed PDFs in {seconds} s with {workers} workers: {rate} per second "
                 "(+{startup} s worker start-up)", n=r.rendered,
                 seconds=format(r.seconds - r.startup_seconds, ".2f"), workers=r.workers,
                 rate=format(r.rate, ".0f"), startup=format(r.startup_seconds, ".1f")))
    click.echo(_("rendering CPU: {ms} ms per PDF, {rate} per CPU-second",
                 ms=format(1000 / r.per_core_rate if r.per_core_rate else 0, ".2f"),
                 rate=format(r.per_core_rate, ".0f")))
    checks = [_("{n} PASSED verify_pdf", n=report.sample_verified)]
    if report.pdfsig_valid is not None:
        checks.append(_("{n} valid in pdfsig", n=report.pdfsig_valid))
    if report.pyhanko_valid is not None:
        checks.append(_("{n} intact/valid/trusted in pyHanko", n=report.pyhanko_valid))
    click.echo(_("mean size {size} bytes; sample of {n}: {checks}", size=report.mean_size,
                 n=report.sample_size, checks=word(SEPARATOR).join(checks)))
