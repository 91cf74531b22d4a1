"""Real Prefect processes for integration tests: a server, work pools, workers, deployments,
flow runs, and whether processes are gone.

The server and process handling come from :mod:`flows.processes` (what ``licreg serve`` uses).
Everything here reaches the server through its REST API or the ``prefect`` command with an
explicit ``PREFECT_API_URL``, so the test process's own Prefect settings (conftest points them
at the session harness) do not matter.

    with prefect_server(tmp / "prefect") as api_url:
        create_work_pool(api_url, "licenses", env)
        deploy_all(api_url, env)
        with prefect_worker(api_url, "licenses", "w1", env, log=tmp / "w1.log"):
            run_id = run_deployment(api_url, "incremental-sync/incremental")
            assert wait_for_flow_runs(api_url, [run_id], timeout=60) == {run_id: "COMPLETED"}
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from flows.processes import prefect_server, spawn, stop_process
from tests.conftest import REPO

__all__ = [
    "FINAL_STATES",
    "alive",
    "create_work_pool",
    "delete_deployments",
    "deploy_all",
    "deployments",
    "descendants",
    "flow_run_messages",
    "group_members",
    "prefect_cli",
    "prefect_server",
    "prefect_worker",
    "run_deployment",
    "wait_for_flow_runs",
]

FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
"""Flow-run state types after which nothing more happens to a run."""
_RETRIES = 6


def prefect_cli(api_url: str, env: Mapping[str, str], *args: str, cwd: Path = REPO,
                timeout: float = 120) -> str:
    """``prefect --no-prompt ARGS`` against ``api_url``; its output, or an error quoting it."""
    done = subprocess.run([sys.executable, "-m", "prefect", "--no-prompt", *args], cwd=cwd,
                          env={**env, "PREFECT_API_URL": api_url}, capture_output=True,
                          text=True, timeout=timeout, check=False)  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"prefect {' '.join(args)} exited {done.returncode}:\n"
                             f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")  # fmt: skip
    return done.stdout


def create_work_pool(api_url: str, pool: str, env: Mapping[str, str],
                     kind: str = "process") -> None:
    """A work pool with its worker type's default job template (the command fetches it)."""
    prefect_cli(api_url, env, "work-pool", "create", pool, "--type", kind)


def deploy_all(api_url: str, env: Mapping[str, str], project: Path = REPO) -> dict[str, Any]:
    """``prefect --no-prompt deploy --all`` in ``project``; the server's deployments after it."""
    prefect_cli(api_url, env, "deploy", "--all", cwd=project)
    return deployments(api_url)


@contextmanager
def prefect_worker(api_url: str, pool: str, name: str, env: Mapping[str, str],
                   limit: int | None = None, *, log: Path,
                   poll_seconds: int = 1) -> Iterator[subprocess.Popen[bytes]]:
    """``prefect worker start`` on ``pool`` (at most ``limit`` runs at once), polling every
    ``poll_seconds`` (10 s by default in Prefect); stopped with its flow runs on exit.

    A worker stops on SIGTERM by sending itself SIGINT; when it inherited SIGINT ignored (a
    shell's background job) it only stops at the SIGKILL that follows (PREFECT.md §5).
    """
    command = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool,
               "--name", name] + (["--limit", str(limit)] if limit else [])  # fmt: skip
    proc = spawn(command, log=log, cwd=REPO,
                 env={**env, "PREFECT_API_URL": api_url,
                      "PREFECT_WORKER_QUERY_SECONDS": str(poll_seconds)})  # fmt: skip
    try:
        yield proc
    finally:
        stop_process(proc)


def deployments(api_url: str) -> dict[str, Any]:
    """Every deployment on the server, keyed ``flow/deployment`` as ``prefect`` names them."""
    with httpx.Client(base_url=api_url, timeout=30) as http:
        flows = {f["id"]: f["name"] for f in _post(http, "/flows/filter", {})}
        return {f"{flows[d['flow_id']]}/{d['name']}": d
                for d in _post(http, "/deployments/filter", {})}  # fmt: skip


def delete_deployments(api_url: str) -> int:
    """Delete every deployment on the server (their flow runs stay); how many there were."""
    with httpx.Client(base_url=api_url, timeout=30) as http:
        found = _post(http, "/deployments/filter", {})
        for d in found:
            _call(http, "DELETE", f"/deployments/{d['id']}")
    return len(found)


def run_deployment(api_url: str, name: str, parameters: Mapping[str, Any] | None = None) -> str:
    """Schedule a run of deployment ``flow/deployment`` now; its flow-run id."""
    flow, _, deployment = name.partition("/")
    with httpx.Client(base_url=api_url, timeout=30) as http:
        found = _call(http, "GET", f"/deployments/name/{flow}/{deployment}").json()
        created = _call(http, "POST", f"/deployments/{found['id']}/create_flow_run",
                        json={"parameters": dict(parameters or {})})  # fmt: skip
        return str(created.json()["id"])


def wait_for_flow_runs(api_url: str, ids: Iterable[str], timeout: float) -> dict[str, str]:
    """Wait until every run is in a final state; their state types (``COMPLETED`` …).

    On timeout, fails naming each run's state and message.
    """
    pending = list(ids)
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=api_url, timeout=30) as http:
        while True:
            runs = {i: _call(http, "GET", f"/flow_runs/{i}").json() for i in pending}
            states = {i: r["state_type"] for i, r in runs.items()}
            if set(states.values()) <= FINAL_STATES:
                return states
            if time.monotonic() > deadline:
                raise TimeoutError("flow runs not finished after "
                                   f"{timeout:.0f} s: {_describe(runs)}")  # fmt: skip
            time.sleep(0.5)


def flow_run_messages(api_url: str, run_id: str) -> str:
    """A run's state and its log lines, for an assertion message."""
    with httpx.Client(base_url=api_url, timeout=30) as http:
        run = _call(http, "GET", f"/flow_runs/{run_id}").json()
        logs = _post(http, "/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}})
    return _describe({run_id: run}) + "\n" + "\n".join(entry["message"] for entry in logs)


def _describe(runs: Mapping[str, Any]) -> str:
    return "; ".join(f"{i} {r['state_type']} ({(r.get('state') or {}).get('message')})"
                     for i, r in runs.items())  # fmt: skip


def _post(http: httpx.Client, path: str, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(_call(http, "POST", path, json=dict(body)).json())


def _call(http: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One API call, retried on 503 and 429 as Prefect's own client does: a busy SQLite server
    answers 503 "database is locked" (PREFECT.md §8)."""
    for attempt in range(_RETRIES):
        response = http.request(method, path, **kwargs)
        if response.status_code not in (429, 503) or attempt == _RETRIES - 1:
            break
        time.sleep(0.5 * 2**attempt)
    return response.raise_for_status()


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` right now (Linux: /proc/PID/task/*/children)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:  # the process or thread just ended
                continue
            todo.extend(children - found)
            found |= children
    return found


def group_members(pgid: int) -> set[int]:
    """The live processes of process group ``pgid`` (a child started in its own session and
    everything it started, unless they moved to a session of their own)."""
    members = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # gone meanwhile
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.add(int(stat.parent.name))
    return members


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, finished but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
