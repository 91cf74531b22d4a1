"""``licreg``: the command line. Each command parses, calls one library function, renders.

One module per group of commands; :data:`COMMANDS` names where each command lives, and a
command's module is imported only when the command runs (or ``--help`` lists it). Other
packages add commands through the ``licreg.commands`` entry-point group: the flows package
adds ``licreg serve`` (pyproject.toml), so the library never imports the orchestration layer.

Exit codes: 0 success (for verify: all PASSED), 1 failure (verify: any FAILED), 2 usage,
3 verify: any INDETERMINATE and none FAILED.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import platform
import signal
import sys
from importlib.metadata import PackageNotFoundError, entry_points, version

import click

from registry.cli.clickwords import speak_through_licreg
from registry.cli.terminal import shortened
from registry.config import Settings
from registry.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, _, current_language, set_language

__all__ = ["COMMANDS", "cli", "main", "version_line"]

speak_through_licreg()  # click's own words (Usage:, its usage errors) in the reader's language

COMMANDS = {
    "init": ("registry.cli.setup:init",
            N_("Create or upgrade the registry database (and the demo world).")),
    "city": ("registry.cli.setup:city",
            N_("The city this registry serves: apply its city file, export it, show it.")),
    "department": ("registry.cli.setup:department",
                  N_("Issuing departments: list, show, add, update, remove.")),
    "type": ("registry.cli.setup:type_group",
            N_("License types: list, show, add, update, import from a catalogue, remove.")),
    "ingest": ("registry.cli.ingest:ingest",
              N_("Ingest a department file (CSV, .xlsx, JSON, JSON Lines, a PDF, or a .zip or "
              "folder of PDFs): validate, filter, structure, seal, store; report every row.")),
    "batch": ("registry.cli.batch:batch_group",
             N_("Uploaded batches: list, show, rows (and a rejects CSV), retry a failed one.")),
    "inbox": ("registry.cli.inbox:inbox_group",
             N_("Department inboxes: drop a file in inbox/<USCC>/<type code>/, get a batch "
                "report.")),
    "seal": ("registry.cli.seal:seal_group",
            N_("Department seals: apply, approve/reject, make, file, authorize, suspend/resume, "
            "report-lost, cancel, remake.")),
    "template": ("registry.cli.template:template_group",
                N_("License templates: make, bind to a seal, publish.")),
    "license": ("registry.cli.license:license_group",
               N_("What the registry holds.")),
    "export": ("registry.cli.license:export",
              N_("Write an auditor's bundle: license.json, signature.der, seal.der, chain.pem, the "
              "signed license.pdf and, once a log checkpoint covers the license, proof.json.")),
    "pdf": ("registry.cli.pdf:pdf_group",
           N_("PDF renditions (版式文件): rendered from the template, PAdES-signed by the seal.")),
    "log": ("registry.cli.log:log_group",
           N_("The transparency log (RFC 9162 hashing, signed checkpoints; TEST ONLY log key).")),
    "pki": ("registry.cli.audit:pki",
           N_("The city's TEST ONLY PKI: create it, export its trust anchor, re-encrypt old key "
             "files.")),
    "verify": ("registry.cli.audit:verify",
              N_("Verify export bundles, PDFs, folders of them, or the whole registry, offline, "
              "against the anchors you choose.")),
    "province": ("registry.cli.province:province",
                N_("The mock provincial aggregation platform.")),
    "push": ("registry.cli.province:push",
            N_("Push every license event not yet acknowledged by the province (= ``licreg sync "
            "run``).")),
    "sync": ("registry.cli.sync:sync_group",
            N_("Aggregation to the provincial platform: run, watch, repair.")),
    "bulletin": ("registry.cli.bulletin:bulletin",
                N_("Weekly figures per department, ranking and bulletin (bulletin.html, "
                   "figures.csv, figures.xlsx).")),
    "bench": ("registry.cli.bench:bench",
             N_("Measure every stage on N synthetic licenses in a scratch registry.")),
}
"""Command name → (``module:attribute`` of its click command, its summary in ``--help``: the
command's own short help, which tests/test_layout.py checks, so the list is shown
without importing every command)."""

PLUGINS = "licreg.commands"
"""The entry-point group through which other packages add commands."""


class _Commands(click.Group):
    """The commands of :data:`COMMANDS` and of the entry-point group, each loaded when used:
    a command imports only its own library modules (``licreg batch list`` needs neither
    pandas nor cryptography nor Prefect), which keeps every command's start-up short."""

    def _targets(self) -> dict[str, str]:
        plugins = {ep.name: ep.value for ep in entry_points(group=PLUGINS)}
        return {**{name: target for name, (target, _) in COMMANDS.items()}, **plugins}

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # LICREG_LANG before any option: an eager --help is answered before --lang is read.
        _speak(None)
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._targets())

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))  # as click's own listing
        rows = []
        for name in names:
            if name in COMMANDS:
                rows.append((name, shortened(_(COMMANDS[name][1]), limit)))
            elif (command := self.get_command(ctx, name)) is not None:
                rows.append((name, command.get_short_help_str(limit=limit)))
        with formatter.section(_("Commands")):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> object:
        # Errors a command does not handle itself: one clear line and exit code 1, never a
        # traceback (registry.cli._common.unexpected_error).
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:  # the reader stopped reading (`licreg license list | head`)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)
        except Exception as exc:
            if os.environ.get("LICREG_TRACEBACK") == "1":
                raise
            # SQLAlchemy and the settings load only when a command has failed.
            from registry.cli._common import unexpected_error

            click.echo(_("error: {detail}", detail=unexpected_error(exc, ctx.obj)), err=True)
            ctx.exit(1)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self._targets().get(cmd_name)
        if target is None:
            return None
        module, _colon, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command), target
        return command


def _speak(lang: str | None) -> str:
    """Speak ``lang``, else LICREG_LANG's, else Chinese; the language chosen."""
    chosen = lang or Settings.from_env().lang
    set_language(chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE)
    return chosen


VERSION_OF = ("prefect", "sqlalchemy", "cryptography", "pandas", "click")
"""The libraries whose versions ``licreg --version`` names: those a support person asks about."""


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "-"


def version_line() -> str:
    """``licreg --version``: licreg's version and what a support person asks next (Python,
    system, the main libraries, the database, the language), in one line. Reads no database."""
    from sqlalchemy.engine import make_url

    settings = Settings.from_env()
    return _("licreg {version} (Python {python} on {system}; {libraries}; database {database}; "
             "language {lang})", version=_version("licreg"), python=platform.python_version(),
             system=f"{platform.system()} {platform.machine()}",
             libraries=", ".join(f"{p} {_version(p)}" for p in VERSION_OF),
             database=make_url(settings.database_url).render_as_string(hide_password=True),
             lang=current_language())


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(version_line())
        ctx.exit(0)


@click.group(cls=_Commands)
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="Show licreg's version (and Python's, the main "
                                            "libraries', the database) and exit.")
@click.option("--lang", type=click.Choice(LANGUAGES), default=None, is_eager=True,
              callback=lambda ctx, param, value: _speak(value),
              help="Language of what licreg says: zh (default) or en (or LICREG_LANG).")
@click.pass_context
def cli(ctx: click.Context, lang: str) -> None:
    """Electronic license and seal registry (电子证照与电子印章登记系统)."""
    settings = dataclasses.replace(Settings.from_env(), lang=lang)
    set_language(settings.lang)
    ctx.obj = settings


def main() -> None:
    # SIGTERM (systemd, kill, a container stopping) ends the command as Ctrl-C would: a batch
    # being ingested is recorded as interrupted, its claim released, its workers gone.
    signal.signal(signal.SIGTERM, _terminate)
    cli()


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)
