"""Start and stop the mock provincial platform as a real subprocess on 127.0.0.1.

Used by the demo and the end-to-end tests, so that pushes cross a real socket to a separate
process with its own database. The credentials go to the server in a file only its owner may
read (``<home>/credentials.toml``, removed when the server stops), never on its command line.

Example::

    with start_endpoint(home=tmp / "province", anchors_path=keystore / "root.pem",
                        tokens={"city": "TEST-ONLY-token"}) as base_url:
        httpx.get(base_url + "/health").json()      # {'ok': True}

The server's stderr goes to ``<home>/server.log``; when the platform does not come up, the
:class:`AggregationError` quotes its tail.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import select

from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.db.models import City
from registry.errors import AggregationError, ConfigError
from registry.i18n import _
from registry.province.auth import ANY_REGION, Credential

__all__ = ["city_credential", "free_port", "start_endpoint", "write_credentials"]

_TAIL_BYTES = 4000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return "(no server log)"
    return data[-_TAIL_BYTES:].decode("utf-8", "replace").strip() or "(server log is empty)"


def city_credential(settings: Settings) -> Credential:
    """The registry's own credential (``LICREG_PROVINCE_ACCESS_ID`` / ``LICREG_PROVINCE_TOKEN``
    / ``LICREG_PROVINCE_AUTH``), bound to the region of the city the registry serves: what a
    platform started for this registry accepts from it."""
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as session:
            city = session.scalars(select(City)).first()
    finally:
        engine.dispose()
    if city is None:
        raise ConfigError(_("this registry has no city yet, so the platform does not know whom "
                            "the registry's credential may push for: run `licreg init` or give "
                            "--credentials FILE"))
    p = settings.province
    return Credential(p.access_id, p.secret, p.scheme, region=city.division_code)


@contextmanager
def start_endpoint(
    *,
    home: Path,
    anchors_path: Path,
    tokens: Mapping[str, str] | None = None,
    hmac_keys: Mapping[str, str] | None = None,
    credentials: Sequence[Credential] = (),
    max_body: int | None = None,
    faults: Sequence[str] = (),
    hold_unknown: bool = True,
    workers: int = 0,
    port: int = 0,
    clock_file: Path | None = None,
    startup_timeout: float = 60.0,
    stop_timeout: float = 10.0,
) -> Iterator[str]:
    """Run ``python -m registry.mockprovince.server`` and yield its base URL once /health answers.

    ``credentials`` are accepted as they are bound; ``tokens`` and ``hmac_keys`` map accessId →
    secret per scheme (TEST convenience: bound to every department). ``max_body`` overrides
    the platform's body limit. ``faults`` are
    ``NAME=VALUE`` fault settings (:mod:`registry.mockprovince.faults`); ``workers`` processes
    verify signatures. ``port`` 0 picks a free port. ``clock_file`` (TEST ONLY) is where the
    platform reads its clock from (:func:`registry.mockprovince.server.file_clock`). On exit
    the process is terminated and waited for, and killed if it has not stopped after
    ``stop_timeout`` seconds.
    """
    accepted = [*credentials,
                *(Credential(i, t, "token", region=ANY_REGION) for i, t in (tokens or {}).items()),
                *(Credential(i, k, "hmac", region=ANY_REGION)
                  for i, k in (hmac_keys or {}).items())]  # fmt: skip
    if not accepted:
        raise AggregationError("start_endpoint needs at least one credential")
    home.mkdir(parents=True, exist_ok=True)
    secrets_file = write_credentials(home / "credentials.toml", accepted)
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "registry.mockprovince.server",
        "--port",
        str(port),
        "--home",
        str(home),
        "--anchors",
        str(anchors_path),
        "--credentials",
        str(secrets_file),
    ]
    if max_body is not None:
        command += ["--max-body", str(max_body)]
    for fault in faults:
        command += ["--fault", fault]
    if not hold_unknown:
        command.append("--reject-unknown")
    if workers:
        command += ["--workers", str(workers)]
    if clock_file is not None:
        command += ["--clock-file", str(clock_file)]
    log_path = home / "server.log"
    # A file, not a pipe: nobody reads the pipe while the server runs and a full pipe blocks it.
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(command, stdout=log_file, stderr=log_file)
    try:
        _wait_healthy(proc, base_url, log_path, startup_timeout)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        secrets_file.unlink(missing_ok=True)


def write_credentials(path: Path, credentials: Sequence[Credential]) -> Path:
    """Write ``credentials`` as a credentials file of mode 0600
    (:func:`registry.province.auth.load_credentials` reads it back); ``path``."""
    lines = []
    for c in credentials:
        lines += ["[[credential]]", f"access_id = {json.dumps(c.access_id)}",
                  f"scheme = {json.dumps(c.scheme)}", f"secret = {json.dumps(c.secret)}",
                  f"departments = {json.dumps(sorted(c.departments))}"]  # fmt: skip
        if c.region is not None:
            lines.append(f"region = {json.dumps(c.region)}")
        lines.append("")
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return path


def _wait_healthy(proc: subprocess.Popen[bytes], base_url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url, timeout=1.0) as http:
        while True:
            code = proc.poll()
            if code is not None:
                raise AggregationError(
                    f"the provincial endpoint exited with code {code} before answering "
                    f"{base_url}/health; its stderr ends with:\n{_tail(log)}"
                )
            try:
                if http.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise AggregationError(
                    f"the provincial endpoint did not answer {base_url}/health within "
                    f"{timeout:.0f} s; its stderr ends with:\n{_tail(log)}"
                )
            time.sleep(0.05)
