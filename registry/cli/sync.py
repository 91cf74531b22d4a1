"""``licreg sync …``: the provincial sync as an operator runs and watches it.

``sync run`` (incremental, the outbox), ``sync full`` (every current license, resumable),
``sync reconcile`` (compare and repair), ``sync status`` (pending, in flight, dead, lag),
``sync retry`` (revive dead letters), ``sync bench`` (the push benchmark).

For tests, ``LICREG_SYNC_CRASH_AT=STEP[:N]`` makes ``sync run`` / ``sync full`` end the process
abruptly (``os._exit``, exit code 75) the N-th time it reaches STEP: ``claimed`` (built, not
sent), ``sent`` (answered, nothing recorded), ``recording`` (half recorded, not committed),
``committed``.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from registry.bench.push import bench_push
from registry.cli._common import (
    echo_json,
    engine,
    handle_errors,
    now,
)
from registry.cli.progress import progress_bar
from registry.clock import china_text
from registry.config import DEFAULT_ACCESS_ID, DEFAULT_TOKEN, Settings
from registry.db import session_scope
from registry.i18n import N_, _, ngettext, os_reason
from registry.license.lifecycle import status_text
from registry.province.client import open_client
from registry.province.fullsync import full_sync
from registry.province.reconcile import reconcile
from registry.province.sync import push_pending, retry_dead, sync_report

__all__ = [
    "CRASH_EXIT",
    "CRASH_VAR",
    "client_options",
    "crash_hook",
    "province_client",
    "push_options",
    "reason_text",
    "render_push",
    "render_reconcile",
    "report_push",
    "run_incremental",
    "sync_bench",
    "sync_full",
    "sync_group",
    "sync_reconcile",
    "sync_retry",
    "sync_run",
    "sync_status_command",
]

CRASH_VAR = "LICREG_SYNC_CRASH_AT"
CRASH_EXIT = 75
F = TypeVar("F", bound=Callable[..., Any])

_REASONS: Mapping[str, str] = {
    "SCHEMA": N_("not in the shape of the interface"),
    "CONFLICT": N_("the platform holds other signed content under this identifier"),
    "UNKNOWN_BASE": N_("the platform has not received this license version"),
    "LOCAL_BUILD_FAILURE": N_("the item could not be built here"),
    "HASH_FAILURE": N_("the signed content does not match its hash"),
    "SIG_CRYPTO_FAILURE": N_("the signature does not verify"),
}
"""Rejection codes as an operator reads them (the code is shown beside the words)."""

_DRIFT: Mapping[str, str] = {
    "missing": N_("missing on the platform"),
    "different": N_("content differs"),
    "status": N_("status differs"),
    "unexpected": N_("only on the platform"),
}
_RESULTS: Mapping[str, str] = {
    "ACCEPTED": N_("stored by the platform"),
    "DUPLICATE": N_("already held by the platform"),
    "HELD": N_("held until the version arrives"),
    "REJECTED": N_("refused by the platform"),
    "unsettled": N_("without a clear answer"),
}
_RUN_KINDS: Mapping[str, str] = {
    "incremental": N_("incremental sync"),
    "full": N_("full sync"),
    "reconcile": N_("reconciliation"),
}
_RUN_STATES: Mapping[str, str] = {
    "done": N_("completed"),
    "refused": N_("completed, with items the province refused"),
    "failed": N_("ended in failure"),
    "running": N_("still running"),
}

_SUMMARY: Mapping[str, str] = {
    "sent": N_("items sent"), "pushed": N_("licenses pushed"),
    "accepted": N_("items accepted"), "duplicates": N_("items already held"),
    "held": N_("items held"), "rejected": N_("items refused"), "dead": N_("new dead letters"),
    "unsettled": N_("items without a clear answer"), "batches": N_("batches sent"),
    "requests": N_("requests made"),
}
"""The counts of a run's summary, as the operator reads them."""


def _word(table: Mapping[str, str], key: str) -> str:
    return _(table[key]) if key in table else key


def reason_text(code: str) -> str:
    """``CODE`` with its meaning, for a person: ``HASH_FAILURE（签名内容与摘要不符）``."""
    return _("{code} ({meaning})", code=code, meaning=_(_REASONS[code])) if code in _REASONS \
        else code


def _when(iso: str | None) -> str:
    return china_text(dt.datetime.fromisoformat(iso), seconds=True) if iso else "-"


def crash_hook() -> Callable[[str], None] | None:
    """The test hook :data:`CRASH_VAR` asks for, or None."""
    wanted = os.environ.get(CRASH_VAR)
    if not wanted:
        return None
    name, _, nth = wanted.partition(":")
    remaining = [int(nth or "1")]

    def hook(step: str) -> None:
        if step == name:
            remaining[0] -= 1
            if remaining[0] == 0:
                sys.stderr.write(f"{CRASH_VAR}: ending the process at {step}\n")  # a test hook
                sys.stderr.flush()
                os._exit(CRASH_EXIT)

    return hook


@contextmanager
def province_client(
    endpoint: str,
    access_id: str,
    token: str,
    *,
    auth: str = "token",
    timeout: float = 30.0,
    attempts: int = 5,
    concurrency: int = 1,
) -> Iterator[Any]:
    """:func:`registry.province.client.open_client` with the command line's options."""

    with open_client(endpoint, access_id=access_id, secret=token, scheme=auth, timeout=timeout,
                     attempts=attempts, concurrency=concurrency) as client:  # fmt: skip
        yield client


def _read_token(ctx: click.Context, _param: click.Parameter, path: str | None) -> str:
    """The secret from ``--token-file``, else ``LICREG_PROVINCE_TOKEN``: never from an
    argument, which any user of the machine can read in ``/proc/PID/cmdline``."""
    if path is None:
        return os.environ.get("LICREG_PROVINCE_TOKEN") or DEFAULT_TOKEN
    try:
        with open(path, encoding="utf-8") as f:
            token = f.read().strip()
    except OSError as exc:
        raise click.BadParameter(_("cannot read {path}: {error}", path=path,
                                   error=os_reason(exc))) from None
    except UnicodeDecodeError:
        raise click.BadParameter(_("{path} is not UTF-8 text", path=path)) from None
    if not token:
        raise click.BadParameter(_("{path} is empty", path=path))
    return token


token_option = click.option(
    "--token-file", "token", type=click.Path(dir_okay=False), default=None, callback=_read_token,
    help="A file holding the token, or the HMAC key with --auth hmac (default: "
         "$LICREG_PROVINCE_TOKEN).")
"""``--token-file``: the registry's secret for the platform, as ``token``."""


def client_options(fn: F) -> F:
    """``--endpoint --access-id --token-file --auth --timeout --attempts``."""
    options = [
        click.option("--endpoint", envvar="LICREG_PROVINCE_URL", required=True,
                     help="Base URL of the provincial endpoint (or LICREG_PROVINCE_URL)."),
        click.option("--access-id", envvar="LICREG_PROVINCE_ACCESS_ID", default=DEFAULT_ACCESS_ID,
                     show_default=True),
        token_option,
        click.option("--auth", type=click.Choice(["token", "hmac"]), default="token",
                     show_default=True, help="How the registry proves who it is."),
        click.option("--timeout", type=float, default=30.0, show_default=True,
                     help="Seconds before one request is given up and retried."),
        click.option("--attempts", type=int, default=5, show_default=True,
                     help="Tries per request (backoff with jitter, Retry-After honoured)."),
    ]  # fmt: skip
    for option in reversed(options):
        fn = option(fn)
    return fn


def push_options(fn: F) -> F:
    """``--batch-size --concurrency``."""
    fn = click.option("--concurrency", type=int, default=2, show_default=True,
                      help="Batches in flight at once.")(fn)  # fmt: skip
    return click.option("--batch-size", type=int, default=1000, show_default=True)(fn)


@click.group("sync")
def sync_group() -> None:
    """Aggregation to the provincial platform: run, watch, repair."""


@sync_group.command("run")
@client_options
@push_options
@click.option("--max-attempts", type=int, default=8, show_default=True,
              help="Rejections after which an event becomes a dead letter.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def sync_run(settings: Settings, endpoint: str, access_id: str, token: str, auth: str,
             timeout: float, attempts: int, batch_size: int, concurrency: int,
             max_attempts: int, as_json: bool) -> None:  # fmt: skip
    """Incremental sync: push every event the province has not acknowledged, in order."""
    summary = run_incremental(settings, endpoint, access_id, token, auth=auth, timeout=timeout,
                              attempts=attempts, batch_size=batch_size,
                              concurrency=concurrency, max_attempts=max_attempts,
                              quiet=as_json)  # fmt: skip
    report_push(summary, as_json=as_json)


def run_incremental(settings: Settings, endpoint: str, access_id: str, token: str, *,
                    auth: str = "token", timeout: float = 30.0, attempts: int = 5,
                    batch_size: int = 1000, concurrency: int = 2,
                    max_attempts: int = 8, quiet: bool = False) -> Any:  # fmt: skip
    """One incremental run as the CLI does it (shared with ``licreg push``), with a progress
    bar on a terminal unless ``quiet``."""

    with province_client(endpoint, access_id, token, auth=auth, timeout=timeout,
                         attempts=attempts, concurrency=concurrency) as client, \
            session_scope(engine(settings)) as session, \
            progress_bar(_("pushing to the province"), quiet=quiet) as bar:  # fmt: skip
        return push_pending(session, client, batch_size=batch_size, concurrency=concurrency,
                            max_attempts=max_attempts, at=now(), clock=now,
                            on_step=crash_hook(), progress=bar)  # fmt: skip


def _reason_texts(reasons: Mapping[str, int]) -> dict[str, str]:
    return {code: reason_text(code) for code in reasons}


def report_push(summary: Any, *, as_json: bool) -> None:
    """Say what an incremental run did (``--json``: the counts, the reason codes and their
    words); exit 1 when any event was refused, became a dead letter or got no clear answer."""
    if as_json:
        echo_json({**summary.to_dict(), "reason_texts": _reason_texts(summary.reasons)})
    else:
        render_push(summary)
    if summary.rejected or summary.dead or summary.unsettled:
        sys.exit(1)


def render_push(summary: Any) -> None:
    click.echo(ngettext(
        "sent {sent}: accepted {accepted}, duplicates {duplicates}, held {held}, rejected "
        "{rejected} in {n} batch", "sent {sent}: accepted {accepted}, duplicates {duplicates}, "
        "held {held}, rejected {rejected} in {n} batches", summary.batches, sent=summary.sent,
        accepted=summary.accepted, duplicates=summary.duplicates, held=summary.held,
        rejected=summary.rejected, n=summary.batches))
    if summary.dead or summary.unsettled:
        click.echo(_("  {dead} became dead letters; {unsettled} without a clear answer stay "
                     "pending", dead=summary.dead, unsettled=summary.unsettled))
    _render_reasons(summary.reasons)


def _render_reasons(reasons: Mapping[str, int]) -> None:
    for code, n in sorted(reasons.items()):
        click.echo(_("  {reason}: {n}", reason=reason_text(code), n=n))


@sync_group.command("full")
@client_options
@push_options
@click.option("--restart", is_flag=True, help="Start a fresh pass even if one is half done.")
@click.option("--max-batches", type=int, default=None, help="Stop after this many pages.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def sync_full(settings: Settings, endpoint: str, access_id: str, token: str, auth: str,
              timeout: float, attempts: int, batch_size: int, concurrency: int, restart: bool,
              max_batches: int | None, as_json: bool) -> None:  # fmt: skip
    """Full sync: every current license, paged; resumes from its checkpoint.

    Exit code 1 when the platform refused a license or gave no clear answer for one.
    """

    with province_client(endpoint, access_id, token, auth=auth, timeout=timeout,
                         attempts=attempts, concurrency=concurrency) as client, \
            session_scope(engine(settings)) as session, \
            progress_bar(_("full sync to the province"), quiet=as_json) as bar:  # fmt: skip
        summary = full_sync(session, client, batch_size=batch_size, concurrency=concurrency,
                            max_batches=max_batches, restart=restart, at=now(), clock=now,
                            on_step=crash_hook(), progress=bar)  # fmt: skip
    failed = bool(summary.rejected or summary.unsettled)
    if as_json:
        echo_json({**summary.to_dict(), "reason_texts": _reason_texts(summary.reasons)})
        sys.exit(1 if failed else 0)
    counts = {"pushed": summary.pushed, "accepted": summary.accepted,
              "duplicates": summary.duplicates, "rejected": summary.rejected,
              "unsettled": summary.unsettled}
    if summary.resumed_from:
        click.echo(_("pushed {pushed} (resumed after license id {position}): accepted "
                     "{accepted}, duplicates {duplicates}, rejected {rejected}, unsettled "
                     "{unsettled}", position=summary.resumed_from, **counts))
    else:
        click.echo(_("pushed {pushed}: accepted {accepted}, duplicates {duplicates}, rejected "
                     "{rejected}, unsettled {unsettled}", **counts))
    if summary.finished:
        click.echo(_("checkpoint at license id {position} of {total} current licenses: "
                     "finished", position=summary.position, total=summary.total))
    else:
        click.echo(_("checkpoint at license id {position} of {total} current licenses: "
                     "stopped; run again to resume", position=summary.position,
                     total=summary.total))
    _render_reasons(summary.reasons)
    sys.exit(1 if failed else 0)


@sync_group.command("reconcile")
@client_options
@click.option("--repair/--no-repair", default=True, show_default=True,
              help="Push again what is missing or different.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def sync_reconcile(settings: Settings, endpoint: str, access_id: str, token: str, auth: str,
                   timeout: float, attempts: int, repair: bool, as_json: bool) -> None:  # fmt: skip
    """Compare counts, statuses and content hashes with the province; repair the drift.

    Exit code 0 when nothing differed or everything found was repaired, 1 otherwise.
    """

    with province_client(endpoint, access_id, token, auth=auth, timeout=timeout,
                         attempts=attempts) as client, \
            session_scope(engine(settings)) as session:  # fmt: skip
        report = reconcile(session, client, repair=repair, at=now())
    if as_json:
        echo_json(report.to_dict())
    else:
        render_reconcile(report)
    repaired = report.repaired
    fixed = repair and not report.counts["unexpected"] and not repaired.get("REJECTED") \
        and not repaired.get("unsettled")  # fmt: skip
    sys.exit(0 if report.in_sync or fixed else 1)


def render_reconcile(report: Any) -> None:
    """The counts, one line per drift found, and what the repair pushed."""
    click.echo(_("registry {registry} versions, platform {platform}: matched {matched}, "
                 "missing {missing}, different {different}, status {status}, unexpected "
                 "{unexpected}", **report.counts))
    for d in report.drift:
        click.echo(_("  {kind}  {identifier}  registry {registry}  platform {platform}",
                     kind=_word(_DRIFT, d.kind), identifier=d.identifier,
                     registry=status_text(d.registry_status),
                     platform=status_text(d.platform_status)))
    if report.repaired:
        done = _(", ").join(
            f"{reason_text(k.removeprefix('reason:'))} {v}" if k.startswith("reason:")
            else f"{_word(_RESULTS, k)} {v}" for k, v in sorted(report.repaired.items()))
        click.echo(_("repair pushed: {done}", done=done))


@sync_group.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def sync_status_command(settings: Settings, as_json: bool) -> None:
    """Pending, in flight, dead letters, lag; running and last runs; full-sync progress."""

    with session_scope(engine(settings)) as session:
        status = sync_report(session, at=now())
    if as_json:
        echo_json({**status.to_dict(), "dead_reason_texts": _reason_texts(status.dead_reasons)})
        return
    click.echo(_("pending {pending} (failing {failing}), in flight {in_flight}, dead {dead}, "
                 "acknowledged {acked}", pending=status.pending, failing=status.failing,
                 in_flight=status.in_flight, dead=status.dead, acked=status.acked))
    oldest = china_text(status.oldest_pending_at, seconds=True) if status.oldest_pending_at \
        else "-"
    click.echo(_("lag {seconds} s (oldest pending event {oldest})",
                 seconds=format(status.lag_seconds, ".0f"), oldest=oldest))
    if status.dead_reasons:
        reasons = _(", ").join(f"{reason_text(k)} {v}"
                               for k, v in sorted(status.dead_reasons.items()))
        click.echo(_("dead letters: {reasons}  (licreg sync retry)", reasons=reasons))
    for r in status.running:
        click.echo(_("running: run {run} {kind} on {worker} since {since}, {in_flight} in "
                     "flight", run=r["run"], kind=_word(_RUN_KINDS, r["kind"]),
                     worker=r["worker"], since=_when(r["since"]), in_flight=r["in_flight"]))
    if status.last_run:
        last = status.last_run
        what = last["error"] or _(", ").join(
            f"{_word(_SUMMARY, k)} {v}" for k, v in (last["summary"] or {}).items()
            if isinstance(v, int) and not isinstance(v, bool))
        click.echo(_("last run: {run} {kind} {state} at {at}: {what}", run=last["run"],
                     kind=_word(_RUN_KINDS, last["kind"]),
                     state=_word(_RUN_STATES, last["state"]), at=_when(last["finished_at"]),
                     what=what))
    if status.full_sync:
        f = status.full_sync
        if f["finished_at"]:
            click.echo(_("full sync: checkpoint at license id {position}, {pushed} of {total} "
                         "pushed, finished {at}", position=f["position"], pushed=f["pushed"],
                         total=f["total"], at=_when(f["finished_at"])))
        else:
            click.echo(_("full sync: checkpoint at license id {position}, {pushed} of {total} "
                         "pushed, in progress", position=f["position"], pushed=f["pushed"],
                         total=f["total"]))


@sync_group.command("retry")
@click.option("--event", "event_ids", type=int, multiple=True,
              help="Only this dead letter (repeatable); default: all.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def sync_retry(settings: Settings, event_ids: tuple[int, ...], as_json: bool) -> None:
    """Give dead letters a new set of attempts; the next sync run pushes them."""

    with session_scope(engine(settings)) as session:
        n = retry_dead(session, at=now(), event_ids=list(event_ids) or None)
    if as_json:
        echo_json({"revived": n})
        return
    click.echo(ngettext("revived {n} dead letter; it goes out with the next `licreg sync run`",
                        "revived {n} dead letters; they go out with the next `licreg sync run`",
                        n, n=n))


@sync_group.command("bench")
@click.option("--licenses", type=int, default=100_000, show_default=True)
@click.option("--batch-size", type=int, default=2000, show_default=True)
@click.option("--concurrency", type=int, default=2, show_default=True)
@click.option("--workers", type=int, default=1, show_default=True,
              help="Endpoint processes that verify signatures.")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def sync_bench(licenses: int, batch_size: int, concurrency: int, workers: int,
               as_json: bool) -> None:  # fmt: skip
    """Push N synthetic sealed licenses to a local endpoint that verifies each; report the rate."""

    result = bench_push(licenses, batch_size=batch_size, concurrency=concurrency,
                        workers=workers, progress=lambda line: click.echo(line, err=True))
    if as_json:
        echo_json(result)
        return
    click.echo(_("pushed {pushed} licenses in {seconds} s: {rate}/s (endpoint stored {stored}, "
                 "verified each; batch {batch}, concurrency {concurrency}, verify workers "
                 "{workers})", pushed=result["pushed"], seconds=format(result["seconds"], ".1f"),
                 rate=format(result["per_second"], ",.0f"), stored=result["stored"],
                 batch=batch_size, concurrency=concurrency, workers=workers))
