"""Child processes that must not outlive their parent: a Prefect server, workers, services.

Every child starts in its own session (``start_new_session=True``), so that:

- a Ctrl-C typed at the terminal reaches the parent only, which then stops the children in
  order (the served flows finish reporting before their server goes away);
- stopping a child stops its whole process group: a process worker runs each flow run in a
  subprocess of its own (PREFECT.md §5), and those must go too.

Stopping is SIGTERM to the group, then SIGKILL after a grace period: a worker in a background
job ignores the SIGINT it forwards to its flow runs and would otherwise never exit (PREFECT.md
§5, "stop worker").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

from registry.errors import ConfigError
from registry.i18n import _
from registry.mockprovince.process import free_port

__all__ = ["log_tail", "prefect_server", "spawn", "stop_process", "wait_healthy"]

SERVER_STARTUP_TIMEOUT = 90.0
"""Seconds a Prefect server gets to answer /api/health: 14 s on a fresh SQLite database on two
cores, with other work it can take several times that (PREFECT.md §0 #14, §8)."""
STOP_TIMEOUT = 10.0
"""Seconds between SIGTERM and SIGKILL."""
_DEFERRED = {signal.SIGINT, signal.SIGTERM}


def spawn(command: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``command`` in a new session, its stdout and stderr appended to ``log``.

    A file, not a pipe: nobody reads a pipe while the child runs, and a full pipe blocks it.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(list(command), stdout=out, stderr=subprocess.STDOUT,
                                env=dict(env) if env is not None else None, cwd=cwd,
                                start_new_session=True)  # fmt: skip


def stop_process(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> int:
    """SIGTERM the child's process group, SIGKILL it after ``timeout`` s; returns the exit code.

    SIGINT and SIGTERM sent to this process meanwhile are held until the child is gone, so a
    second Ctrl-C cannot leave it running; they are delivered right after.
    """
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
    try:
        _signal_group(proc, signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            return proc.wait()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _signal_group(proc: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    # The group outlives its leader when grandchildren remain, so signal it even if the
    # leader already exited; a group that is gone entirely is fine.
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signum)


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a child's log, for an error message."""
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        return f"({path} cannot be read)"
    return "\n".join(text.strip().splitlines()[-lines:]) or f"({path} is empty)"


@contextmanager
def prefect_server(home: Path, *, port: int | None = None, database_url: str | None = None,
                   cwd: Path | None = None,
                   startup_timeout: float = SERVER_STARTUP_TIMEOUT) -> Iterator[str]:
    """Run ``prefect server start`` on ``port`` (default a free one) of 127.0.0.1; yield its
    API URL once healthy.

    ``home`` becomes its PREFECT_HOME (its SQLite database, unless ``database_url`` names
    another, e.g. ``postgresql+asyncpg://…``) and holds ``server.log``. ``cwd`` is where it
    starts, so that a ``prefect.toml`` there applies to it (the server-side batch sizes).

    Its UI is told its own API URL (``PREFECT_SERVER_UI_API_URL``): ``--port`` alone moves the
    API but not the UI's idea of it, which stays ``PREFECT_API_URL`` or else
    ``http://127.0.0.1:4200/api`` (Prefect 3.9 ``settings/models/root.py``), so the UI shows
    "Can't connect to Server API".
    """
    port = port or free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_UI_API_URL": api_url}
    if database_url:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = database_url
    log = home / "server.log"
    proc = spawn([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                  "--port", str(port)], log=log, env=env, cwd=cwd)  # fmt: skip
    try:
        wait_healthy(proc, f"{api_url}/health", log, startup_timeout)
        yield api_url
    finally:
        stop_process(proc)


def wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    """Poll ``url`` until it answers 200; fail with the log's tail if the child exits first."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as http:
        while True:
            if (code := proc.poll()) is not None:
                raise ConfigError(_("{command} exited with code {code} before {url} answered; "
                                    "{log} ends with:\n{tail}", command=_command(proc),
                                    code=code, url=url, log=log, tail=log_tail(log)))
            try:
                if http.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise ConfigError(_("{command}: {url} did not answer within {seconds} s; {log} "
                                    "ends with:\n{tail}", command=_command(proc), url=url,
                                    seconds=format(timeout, ".0f"), log=log,
                                    tail=log_tail(log)))
            time.sleep(0.25)


def _command(proc: subprocess.Popen[bytes]) -> str:
    args = proc.args if isinstance(proc.args, list) else [proc.args]
    return " ".join(str(a) for a in args[1:]) or str(args[0])
