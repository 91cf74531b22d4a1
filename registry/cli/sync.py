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

import os
import sys
from collections.abc import Callable, Iterator
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
from registry.config import DEFAULT_ACCESS_ID, DEFAULT_TOKEN, Settings
from registry.db import session_scope
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
    "render_push",
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
                sys.stderr.write(f"{CRASH_VAR}: ending the process at {step}\n")
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


def client_options(fn: F) -> F:
    """``--endpoint --access-id --token --auth --timeout --attempts``."""
    options = [
        click.option("--endpoint", envvar="LICREG_PROVINCE_URL", required=True,
                     help="Base URL of the provincial endpoint (or LICREG_PROVINCE_URL)."),
        click.option("--access-id", envvar="LICREG_PROVINCE_ACCESS_ID", default=DEFAULT_ACCESS_ID,
                     show_default=True),
        click.option("--token", envvar="LICREG_PROVINCE_TOKEN", default=DEFAULT_TOKEN,
                     help="The token, or the HMAC key with --auth hmac."),
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
                              concurrency=concurrency, max_attempts=max_attempts)  # fmt: skip
    if as_json:
        echo_json(summary.to_dict())
        return
    render_push(summary)


def run_incremental(settings: Settings, endpoint: str, access_id: str, token: str, *,
                    auth: str = "token", timeout: float = 30.0, attempts: int = 5,
                    batch_size: int = 1000, concurrency: int = 2,
                    max_attempts: int = 8) -> Any:  # fmt: skip
    """One incremental run as the CLI does it (shared with ``licreg push``)."""

    with province_client(endpoint, access_id, token, auth=auth, timeout=timeout,
                         attempts=attempts, concurrency=concurrency) as client, \
            session_scope(engine(settings)) as session:  # fmt: skip
        return push_pending(session, client, batch_size=batch_size, concurrency=concurrency,
                            max_attempts=max_attempts, at=now(), clock=now,
                            on_step=crash_hook())  # fmt: skip


def render_push(summary: Any) -> None:
    click.echo(f"sent {summary.sent}: accepted {summary.accepted}, duplicates "
               f"{summary.duplicates}, held {summary.held}, rejected {summary.rejected} "
               f"in {summary.batches} batch(es)")  # fmt: skip
    if summary.dead or summary.unsettled:
        click.echo(f"  {summary.dead} became dead letters; {summary.unsettled} without a clear "
                   f"answer stay pending")  # fmt: skip
    for code, n in sorted(summary.reasons.items()):
        click.echo(f"  {code}: {n}")


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
    """Full sync: every current license, paged; resumes from its checkpoint."""

    with province_client(endpoint, access_id, token, auth=auth, timeout=timeout,
                         attempts=attempts, concurrency=concurrency) as client, \
            session_scope(engine(settings)) as session:  # fmt: skip
        summary = full_sync(session, client, batch_size=batch_size, concurrency=concurrency,
                            max_batches=max_batches, restart=restart, at=now(), clock=now,
                            on_step=crash_hook())  # fmt: skip
    if as_json:
        echo_json(summary.to_dict())
        return
    start = f" (resumed after license id {summary.resumed_from})" if summary.resumed_from else ""
    state = "finished" if summary.finished else "stopped; run again to resume"
    click.echo(f"pushed {summary.pushed}{start}: accepted {summary.accepted}, duplicates "
               f"{summary.duplicates}, rejected {summary.rejected}, unsettled "
               f"{summary.unsettled}")  # fmt: skip
    click.echo(f"checkpoint at license id {summary.position} of {summary.total} current "
               f"licenses: {state}")  # fmt: skip
    for code, n in sorted(summary.reasons.items()):
        click.echo(f"  {code}: {n}")


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
        c = report.counts
        click.echo(f"registry {c['registry']} versions, platform {c['platform']}: matched "
                   f"{c['matched']}, missing {c['missing']}, different {c['different']}, "
                   f"status {c['status']}, unexpected {c['unexpected']}")  # fmt: skip
        for d in report.drift:
            click.echo(f"  {d.kind:<10} {d.identifier}  registry {d.registry_status or '-'}"
                       f"  platform {d.platform_status or '-'}")  # fmt: skip
        if report.repaired:
            done = ", ".join(f"{k} {v}" for k, v in sorted(report.repaired.items()))
            click.echo(f"repair pushed: {done}")
    repaired = report.repaired
    fixed = repair and not report.counts["unexpected"] and not repaired.get("REJECTED") \
        and not repaired.get("unsettled")  # fmt: skip
    sys.exit(0 if report.in_sync or fixed else 1)


@sync_group.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def sync_status_command(settings: Settings, as_json: bool) -> None:
    """Pending, in flight, dead letters, lag; running and last runs; full-sync progress."""

    with session_scope(engine(settings)) as session:
        status = sync_report(session, at=now())
    if as_json:
        echo_json(status.to_dict())
        return
    click.echo(f"pending {status.pending} (failing {status.failing}), in flight "
               f"{status.in_flight}, dead {status.dead}, acknowledged {status.acked}")
    oldest = status.oldest_pending_at.isoformat() if status.oldest_pending_at else "-"
    click.echo(f"lag {status.lag_seconds:.0f} s (oldest pending event {oldest})")
    if status.dead_reasons:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(status.dead_reasons.items()))
        click.echo(f"dead letters: {reasons}  (licreg sync retry)")
    for r in status.running:
        click.echo(f"running: run {r['run']} {r['kind']} on {r['worker']} since {r['since']}, "
                   f"{r['in_flight']} in flight")  # fmt: skip
    if status.last_run:
        last = status.last_run
        what = last["error"] or ", ".join(
            f"{k} {v}" for k, v in (last["summary"] or {}).items() if not isinstance(v, dict))
        click.echo(f"last run: {last['run']} {last['kind']} {last['state']} at "
                   f"{last['finished_at']}: {what}")  # fmt: skip
    if status.full_sync:
        f = status.full_sync
        state = f"finished {f['finished_at']}" if f["finished_at"] else "in progress"
        click.echo(f"full sync: checkpoint at license id {f['position']}, {f['pushed']} of "
                   f"{f['total']} pushed, {state}")  # fmt: skip


@sync_group.command("retry")
@click.option("--event", "event_ids", type=int, multiple=True,
              help="Only this dead letter (repeatable); default: all.")
@click.pass_obj
@handle_errors
def sync_retry(settings: Settings, event_ids: tuple[int, ...]) -> None:
    """Give dead letters a new set of attempts; the next sync run pushes them."""

    with session_scope(engine(settings)) as session:
        n = retry_dead(session, at=now(), event_ids=list(event_ids) or None)
    click.echo(f"revived {n} dead letter(s); they go out with the next `licreg sync run`")


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
    click.echo(f"pushed {result['pushed']} licenses in {result['seconds']:.1f} s: "
               f"{result['per_second']:,.0f}/s (endpoint stored {result['stored']}, verified "
               f"each; batch {batch_size}, concurrency {concurrency}, {workers} verify "
               f"worker(s))")  # fmt: skip
