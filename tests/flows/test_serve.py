"""The flows as real deployments on one machine (issue 10).

- What ``licreg serve`` reads from prefect.yaml (fast, no server).
- A Prefect server on 127.0.0.1 with a temporary home, a process work pool, ``prefect deploy
  --all`` on the project's prefect.yaml and a worker: the ingest and the sync deployments run,
  and the registry and the mock provincial endpoint agree afterwards.
- ``licreg serve`` against that server: its deployments appear with their schedules, a run
  completes, Ctrl-C ends it with exit code 0, nothing is left paused or running.

The last two start real processes (a fresh server alone takes ~14 s); they share one server
and run with ``pytest -m deployments``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from flows.processes import log_tail, spawn, stop_process
from flows.serve import PROJECT, DeploymentSpec, read_project
from registry.city.demo import MARKET
from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.db.models import Batch, License, OutboxEvent
from registry.errors import ConfigError
from tests.conftest import FIXTURES, REPO
from tests.support.prefect import (
    alive,
    create_work_pool,
    delete_deployments,
    deploy_all,
    deployments,
    descendants,
    flow_run_messages,
    group_members,
    prefect_server,
    prefect_worker,
    run_deployment,
    wait_for_flow_runs,
)

BIZ = "11100000MB0143028R001"
SERVED = {"ingest-and-seal/ingest", "incremental-sync/incremental", "expiry-sweep/expiry-sweep",
          "reconcile/reconcile", "full-sync/full-sync"}  # fmt: skip
"""Deployments prefect.yaml has declared since issue 7 (others may join them)."""


# -- prefect.yaml as serve reads it -----------------------------------------------------------

def test_the_project_deployments_as_served() -> None:
    from flows.serve import build_deployment

    specs = {s.name: s for s in read_project(PROJECT)}
    incremental = specs["incremental"]
    assert incremental.schedule_text() == "every 300 s (Asia/Shanghai)"
    assert (incremental.concurrency_limit, incremental.parameters["batch_size"]) == (1, 1000)
    assert specs["expiry-sweep"].schedule_text() == "cron 30 0 * * * (Asia/Shanghai)"
    assert specs["ingest"].schedule_text() == "on demand"
    served = build_deployment(incremental, REPO)
    assert (served.flow_name, served.name, served.paused) == ("incremental-sync", "incremental",
                                                             False)  # fmt: skip
    file, _, function = served.entrypoint.rpartition(":")  # the path is relative to the CWD
    assert (Path(file).resolve(), function) == (REPO / "flows" / "sync.py", "incremental_sync")
    assert served.schedules[0].schedule.interval.total_seconds() == 300


def test_the_log_checkpoint_renditions_and_audit_are_scheduled() -> None:
    from flows.serve import build_deployment

    specs = {s.name: s for s in read_project(PROJECT)}
    expected = {"checkpoint": ("checkpoint", "every 600 s (Asia/Shanghai)"),
                "renditions": ("render-pdfs", "every 300 s (Asia/Shanghai)"),
                "registry-audit": ("registry-audit", "cron 0 4 * * * (Asia/Shanghai)")}
    for name, (flow_name, schedule) in expected.items():
        served = build_deployment(specs[name], REPO)
        assert (served.flow_name, specs[name].schedule_text()) == (flow_name, schedule), name
    assert specs["checkpoint"].concurrency_limit == specs["registry-audit"].concurrency_limit == 1
    renditions = specs["renditions"].concurrency_limit  # a long first run cancels the next ones
    assert (renditions.limit, renditions.collision_strategy) == (1, "CANCEL_NEW")


def test_port_with_a_standing_server_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from registry.cli import cli

    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:1/api"}):
        done = CliRunner().invoke(cli, ["serve", "--port", "4300"])
    assert done.exit_code == 2
    assert ("--port is for the Prefect server licreg serve starts, but PREFECT_API_URL names "
            "one already: http://127.0.0.1:1/api") in done.output


def _project(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "prefect.yaml"
    path.write_text("name: t\ndeployments:\n" + body, "utf-8")
    return path


def test_schedules_read_as_prefect_deploy_reads_them(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LICREG_TEST_BATCH", "250")
    (spec,) = read_project(_project(tmp_path, """
  - name: many
    entrypoint: flows.sync:incremental_sync
    description: "batches of {{ $LICREG_TEST_BATCH }}"
    concurrency_limit: {limit: 2, collision_strategy: CANCEL_NEW}
    schedules:
      - interval: PT10M
        anchor_date: "2026-01-01T00:00:00+08:00"
      - cron: "0 8 * * 1"
        timezone: Asia/Shanghai
        active: false
      - rrule: "FREQ=DAILY;BYHOUR=6"
"""))
    assert isinstance(spec, DeploymentSpec) and spec.description == "batches of 250"
    assert spec.schedule_text() == ("every 600 s; cron 0 8 * * 1 (Asia/Shanghai) inactive; "
                                    "rrule FREQ=DAILY;BYHOUR=6")  # fmt: skip
    assert spec.schedules[0].anchor_date.utcoffset().total_seconds() == 8 * 3600
    assert (spec.concurrency_limit.limit, spec.concurrency_limit.collision_strategy) == (
        2, "CANCEL_NEW")  # fmt: skip


@pytest.mark.parametrize(("body", "message"), [
    ("  - name: a\n    entrypoint: flows.sync:incremental_sync\n"
     "    schedules:\n      - every: 5\n", r"'a', schedules\[0\]: unknown keys every"),
    ("  - name: a\n    entrypoint: flows.sync:incremental_sync\n"
     "    schedules:\n      - cron: not a cron\n", r"deployment 'a', schedules\[0\]: .*cron"),
    ("  - name: a\n    entrypoint: flows.sync:incremental_sync\n"
     "    schedules:\n      - timezone: UTC\n", r"schedules\[0\] has none of 'cron'"),
    ("  - name: a\n    entrypoint: flows/sync.py:incremental_sync\n",
     r"deployment 'a': 'entrypoint' must be package.module:flow"),
    ("  - entrypoint: flows.sync:incremental_sync\n", r"deployments\[0\] has no 'name'"),
    ("  - name: a\n    entrypoint: flows.sync:incremental_sync\n"
     "    parameters: {batch_size: '{{ $LICREG_TEST_UNSET }}'}\n", r"LICREG_TEST_UNSET"),
    ("  - name: a\n    entrypoint: flows.sync:incremental_sync\n"
     "  - name: a\n    entrypoint: flows.sync:expiry_sweep\n", r"names repeat"),
])
def test_a_malformed_project_names_file_entry_and_key(tmp_path: Path, body: str,
                                                      message: str) -> None:
    path = _project(tmp_path, body)
    with pytest.raises(ConfigError, match=message) as raised:
        read_project(path)
    assert str(path) in str(raised.value)


@pytest.mark.parametrize(("entrypoint", "message"), [
    ("flows.nowhere:f", "cannot import flows.nowhere:f"),
    ("flows.sync:no_such_flow", "no_such_flow"),
    ("flows.sync:push_events_task", "is not a @flow"),
])
def test_an_entrypoint_that_is_not_a_flow_is_refused(tmp_path: Path, entrypoint: str,
                                                      message: str) -> None:
    from flows.serve import build_deployment

    (spec,) = read_project(_project(tmp_path, f"  - name: x\n    entrypoint: {entrypoint}\n"))
    with pytest.raises(ConfigError, match=message):
        build_deployment(spec, REPO)


# -- child processes ------------------------------------------------------------------------

def test_stopping_a_child_kills_its_group_when_sigterm_is_ignored(tmp_path: Path) -> None:
    stubborn = ("import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, "
                "signal.SIG_IGN); subprocess.Popen([sys.executable, '-c', 'import time; "
                "time.sleep(60)']); print('ready', flush=True); time.sleep(60)")  # fmt: skip
    log = tmp_path / "child.log"
    proc = spawn([sys.executable, "-c", stubborn], log=log)
    deadline = time.monotonic() + 30
    while "ready" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    members = group_members(proc.pid)
    assert len(members) == 2  # the child and the grandchild it started
    assert stop_process(proc, timeout=0.5) == -signal.SIGKILL
    deadline = time.monotonic() + 5  # the grandchild is reaped by init
    while any(alive(p) for p in members) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in members if alive(p)] and not group_members(proc.pid)


def test_a_server_that_dies_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    from flows.processes import wait_healthy

    log = tmp_path / "server.log"
    proc = spawn([sys.executable, "-c", "print('no database here'); raise SystemExit(3)"],
                 log=log)  # fmt: skip
    with pytest.raises(ConfigError, match=r"exited with code 3 before .*\n.*no database here"):
        wait_healthy(proc, "http://127.0.0.1:1/api/health", log, timeout=30)


# -- real processes -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Prefect server for the module, with a temporary PREFECT_HOME (PREFECT.md §5)."""
    with prefect_server(tmp_path_factory.mktemp("prefect-server"), cwd=REPO) as api_url:
        yield api_url


def _ui_answers(ui: str) -> str:
    """The API URL the Prefect UI at ``ui`` calls (its ``/ui-settings``), once that API has
    answered ``/health`` with 200."""
    named = httpx.get(f"{ui}/ui-settings", timeout=10).raise_for_status().json()["api_url"]
    assert httpx.get(f"{named}/health", timeout=10).status_code == 200, named
    return str(named)


@pytest.mark.deployments
@pytest.mark.slow
def test_the_ui_of_a_started_server_calls_its_own_api(server: str) -> None:
    from flows.serve import ui_problem

    ui = server.removesuffix("/api")
    assert not ui.endswith(":4200")  # a free port: Prefect's default would hide the bug
    assert _ui_answers(ui) == server
    assert ui_problem(ui, server) is None


@pytest.mark.deployments
@pytest.mark.slow
def test_serve_warns_when_a_standing_servers_ui_calls_another_api(tmp_path: Path) -> None:
    """``prefect server start --port P`` as an operator types it: its UI calls the API at
    PREFECT_SERVER_API_PORT (4200 unless set; here another free port, so that whatever runs on
    4200 on this machine cannot answer for it)."""
    from flows.processes import wait_healthy
    from flows.serve import ui_problem
    from registry.mockprovince.process import free_port

    port, elsewhere = free_port(), free_port()
    while elsewhere == port:
        elsewhere = free_port()
    log = tmp_path / "server.log"
    proc = spawn([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                  "--port", str(port)], log=log, cwd=REPO,
                 env={**os.environ, "PREFECT_HOME": str(tmp_path / "home"), "PREFECT_API_URL": "",
                      "PREFECT_SERVER_API_PORT": str(elsewhere)})  # fmt: skip
    try:
        wait_healthy(proc, f"http://127.0.0.1:{port}/api/health", log, timeout=120)
        ui, api = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/api"
        assert ui_problem(ui, api) == (
            f"warning: the Prefect UI at {ui} calls the API at http://127.0.0.1:{elsewhere}/api, "
            f"which does not answer; start that server with PREFECT_SERVER_UI_API_URL={api}")
    finally:
        stop_process(proc)


def _registry_counts(settings: Settings) -> dict[str, Any]:
    engine = make_engine(settings.database_url)
    with session_scope(engine) as s:
        counts = {
            "licenses": s.scalar(select(func.count()).select_from(License)),
            "events": s.scalar(select(func.count()).select_from(OutboxEvent)),
            "unacked": s.scalar(select(func.count()).select_from(OutboxEvent)
                                .where(OutboxEvent.acked_at.is_(None))),
            "batches": [tuple(r) for r in s.execute(select(Batch.status, Batch.accepted))],
        }  # fmt: skip
    engine.dispose()
    return counts


@pytest.mark.deployments
@pytest.mark.slow
def test_deploy_all_then_a_worker_runs_ingest_and_sync(server: str, demo_env: Settings,
                                                        tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.serve import build_deployment, refuse_pool_bound
    from registry.config import DEFAULT_ACCESS_ID, DEFAULT_TOKEN
    from registry.mockprovince.process import start_endpoint

    env = {**os.environ, "LICREG_REPO": str(REPO)}  # the pull step's working directory
    with start_endpoint(home=tmp_path / "province", anchors_path=demo_env.keystore / "root.pem",
                        tokens={DEFAULT_ACCESS_ID: DEFAULT_TOKEN}) as province:  # fmt: skip
        env["LICREG_PROVINCE_URL"] = province
        create_work_pool(server, "licenses", env)
        log = tmp_path / "worker.log"
        with prefect_worker(server, "licenses", "w1", env, limit=2, log=log) as worker:
            deployed = deploy_all(server, env)  # while the worker starts
            assert set(deployed) >= SERVED
            assert {d["work_pool_name"] for d in deployed.values()} == {"licenses"}
            assert deployed["incremental-sync/incremental"]["schedules"][0]["schedule"][
                "interval"] == 300  # fmt: skip
            # The same names cannot be served too: Prefect would merge them into a broken one.
            with temporary_settings(updates={PREFECT_API_URL: server}), \
                    pytest.raises(ConfigError, match="work pool 'licenses'"):  # fmt: skip
                refuse_pool_bound([build_deployment(s, REPO) for s in read_project(PROJECT)])

            ingest = run_deployment(server, "ingest-and-seal/ingest", {
                "path": str(FIXTURES / "batches" / "business-licenses.csv"),
                "department": MARKET.uscc, "type_code": BIZ})
            assert wait_for_flow_runs(server, [ingest], timeout=120) == {
                ingest: "COMPLETED"}, flow_run_messages(server, ingest) + log_tail(log)
            sync = run_deployment(server, "incremental-sync/incremental")
            assert wait_for_flow_runs(server, [sync], timeout=120) == {
                sync: "COMPLETED"}, flow_run_messages(server, sync) + log_tail(log)
        stats = httpx.get(f"{province}/stats", timeout=10).json()
    assert not group_members(worker.pid), "the worker or one of its flow runs is still running"

    counts = _registry_counts(demo_env)
    assert counts["batches"] == [("done", 30)]  # business-licenses.csv: 30 of 40 rows accepted
    assert counts["licenses"] == counts["events"] == 30 and counts["unacked"] == 0
    assert (stats["licenses"], stats["by_status"], stats["rejected_items"]) == (
        counts["events"], {"VALID": 30}, 0)  # fmt: skip


def _wait_for_text(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text("utf-8", "replace"):
        assert proc.poll() is None, f"exited {proc.returncode}:\n{log_tail(path)}"
        assert time.monotonic() < deadline, f"no {text!r} after {timeout} s:\n{log_tail(path)}"
        time.sleep(0.2)


def _wait_for_deployments(server: str, count: int, proc: subprocess.Popen[bytes],
                          out: Path) -> dict[str, Any]:
    """The server's deployments once ``count`` are there (serve applies them as it starts)."""
    deadline = time.monotonic() + 30
    while len(found := deployments(server)) < count:
        assert proc.poll() is None, f"exited {proc.returncode}:\n{log_tail(out)}"
        assert time.monotonic() < deadline, f"only {sorted(found)} after 30 s:\n{log_tail(out)}"
        time.sleep(0.2)
    return found


def _schedule_keys(schedules: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(s["schedule"].get("cron"), s["schedule"].get("interval"),
             s["schedule"].get("rrule"), s["schedule"].get("timezone"), s["active"])
            for s in schedules]  # fmt: skip


def _declared_keys(spec: DeploymentSpec) -> list[tuple[Any, ...]]:
    return [(s.cron, s.interval.total_seconds() if s.interval else None, s.rrule, s.timezone,
             s.active) for s in spec.schedules]  # fmt: skip


@pytest.mark.deployments
@pytest.mark.slow
@pytest.mark.usefixtures("demo_env")
def test_licreg_serve_serves_every_deployment_and_stops_on_ctrl_c(server: str,
                                                                   tmp_path: Path) -> None:
    delete_deployments(server)  # names deployed to the work pool above cannot also be served
    out = tmp_path / "serve.out"
    env = {**os.environ, "PREFECT_API_URL": server, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    proc = spawn([sys.executable, "-m", "registry.cli", "serve", "--mock-province", "--limit", "2"],
                 log=out, env=env, cwd=REPO)  # fmt: skip
    try:
        _wait_for_text(out, "Ctrl-C stops serving", proc, timeout=90)
        specs = read_project(PROJECT)
        served = _wait_for_deployments(server, len(specs), proc, out)
        assert set(served) >= SERVED
        assert _schedule_keys(served["incremental-sync/incremental"]["schedules"]) == [
            (None, 300.0, None, "Asia/Shanghai", True)]
        by_name = {k.split("/", 1)[1]: d for k, d in served.items()}
        for spec in specs:
            assert _schedule_keys(by_name[spec.name]["schedules"]) == _declared_keys(spec), spec
            assert by_name[spec.name]["work_pool_name"] is None  # served, not for workers
        text = out.read_text("utf-8")
        assert "incremental-sync/incremental" in text and f"Prefect UI: {server[:-4]}" in text
        assert "the Prefect UI at" not in text  # no warning: that UI calls its own API
        assert _ui_answers(server[:-4]) == server

        run = run_deployment(server, "incremental-sync/incremental")
        assert wait_for_flow_runs(server, [run], timeout=90) == {run: "COMPLETED"}, (
            flow_run_messages(server, run) + log_tail(out))  # the flow found the endpoint
        children = descendants(proc.pid)
        assert children, "the mock provincial endpoint should run as a child"

        started = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=30)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            stop_process(proc)
    assert code == 0, log_tail(out)
    assert took < 10, f"Ctrl-C took {took:.1f} s"
    assert not [p for p in children if alive(p)] and not group_members(proc.pid)
    assert out.read_text("utf-8").rstrip().endswith("stopped")
    assert not [k for k, d in deployments(server).items() if d["paused"]]
    assert httpx.get(f"{server}/health", timeout=5).status_code == 200  # the given server runs


@pytest.mark.deployments
@pytest.mark.slow
@pytest.mark.usefixtures("demo_env")
def test_licreg_serve_port_starts_a_server_whose_ui_link_works(tmp_path: Path) -> None:
    from registry.mockprovince.process import free_port

    port = free_port()
    out = tmp_path / "serve.out"
    env = {**os.environ, "PREFECT_API_URL": ""}  # no standing server: serve starts one
    proc = spawn([sys.executable, "-m", "registry.cli", "serve", "--port", str(port)], log=out,
                 env=env, cwd=REPO)
    try:
        _wait_for_text(out, "Ctrl-C stops serving", proc, timeout=120)
        assert f"Prefect UI: http://127.0.0.1:{port}\n" in out.read_text("utf-8")
        assert _ui_answers(f"http://127.0.0.1:{port}") == f"http://127.0.0.1:{port}/api"
        os.kill(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            stop_process(proc)
    assert code == 0, log_tail(out)
    assert not group_members(proc.pid)  # the server it started is gone too
