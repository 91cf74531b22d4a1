"""Serve every deployment ``prefect.yaml`` declares, from one process (``licreg serve``).

``prefect.yaml`` stays the single source of truth: each deployment's entrypoint, parameters,
schedules (cron, interval or rrule, with their timezone), concurrency limit, description and
tags become ``flow.to_deployment(...)``, and :func:`prefect.serve` runs them all, each flow run
in a subprocess of this one. ``{{ $VAR }}`` placeholders are filled from the environment as
``prefect deploy`` fills them. Work pools, job variables and pull steps are for workers and
are not used here.

Schedules need a real Prefect server (the temporary one has no scheduler, PREFECT.md §5). With
``PREFECT_API_URL`` set that server is used; without it one is started as a child process
(``PREFECT_HOME=$LICREG_HOME/prefect``, log in its ``server.log``) and stopped on exit. With
``mock_province`` the mock provincial endpoint runs as a child too, and the served flows push
to it, so the whole path can be tried on one machine.

Ctrl-C (SIGINT) and SIGTERM stop everything in order: the runner (deployments are left
active, ``pause_on_shutdown=False``), the endpoint, then the server. No child is left behind.

    licreg serve [--mock-province] [--limit N] [--port PORT]
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import yaml
from prefect import Flow, serve
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import ConcurrencyLimitConfig
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import ObjectNotFound
from prefect.schedules import Cron, Interval, RRule, Schedule
from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings
from prefect.utilities.templating import apply_values
from pydantic import TypeAdapter, ValidationError

from flows.processes import prefect_server
from registry.config import PASSPHRASE_VAR, Settings
from registry.errors import ConfigError
from registry.i18n import _
from registry.mockprovince.process import city_credential, start_endpoint

__all__ = [
    "PROJECT",
    "DeploymentSpec",
    "build_deployment",
    "load_flow",
    "read_project",
    "refuse_pool_bound",
    "serve_project",
    "ui_problem",
]

PROJECT = Path(__file__).resolve().parent.parent / "prefect.yaml"
"""The project's deployments, next to the ``flows`` package."""
_USED = ("name", "entrypoint", "parameters", "schedules", "concurrency_limit", "description",
         "tags")  # fmt: skip
_SCHEDULE_KEYS = {"cron", "interval", "rrule", "timezone", "day_or", "anchor_date", "active",
                  "parameters", "slug"}  # fmt: skip
_SECONDS = TypeAdapter(dt.timedelta)  # seconds as a number, or ISO 8601 ("PT5M"), as Prefect
_MOMENT = TypeAdapter(dt.datetime)


@dataclass(frozen=True)
class DeploymentSpec:
    """One entry of ``deployments:`` in prefect.yaml, as far as serving it needs."""

    name: str
    entrypoint: str
    """``path/to/module.py:flow_function``, relative to prefect.yaml's directory."""
    parameters: Mapping[str, Any]
    schedules: tuple[Schedule, ...]
    concurrency_limit: int | ConcurrencyLimitConfig | None
    description: str | None
    tags: tuple[str, ...]

    def schedule_text(self) -> str:
        """How often it runs, for people: ``every 300 s (Asia/Shanghai)`` or ``on demand``."""
        return "; ".join(_describe(s) for s in self.schedules) or _("on demand")


def _describe(s: Schedule) -> str:
    if s.cron:
        what = f"cron {s.cron}"
    elif s.interval:
        what = _("every {seconds} s", seconds=format(s.interval.total_seconds(), "g"))
    else:
        what = f"rrule {s.rrule}"
    if s.timezone:
        what = _("{schedule} ({zone})", schedule=what, zone=s.timezone)
    return what if s.active else _("{schedule} inactive", schedule=what)


def read_project(path: Path = PROJECT) -> list[DeploymentSpec]:
    """Every deployment of a prefect.yaml; a malformed one names the file, entry and key."""
    try:
        document = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(_("{file}: cannot read the deployments: {why}", file=path,
                            why=exc)) from exc
    entries = document.get("deployments") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(_("{file}: no 'deployments:' list", file=path))
    specs = [_spec(path, i, entry) for i, entry in enumerate(entries)]
    if len({s.name for s in specs}) < len(specs):
        raise ConfigError(_("{file}: deployment names repeat: {names}", file=path,
                            names=", ".join(s.name for s in specs)))
    return specs


def _spec(path: Path, index: int, entry: Any) -> DeploymentSpec:
    where = f"{path}: deployments[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(_("{where} is not a mapping", where=where))
    used = apply_values({k: entry[k] for k in _USED if k in entry}, dict(os.environ),
                        remove_notset=False)
    assert isinstance(used, dict)  # a mapping filled in is a mapping
    if unfilled := sorted(set(re.findall(r"\{\{.*?\}\}", repr(used)))):
        raise ConfigError(_("{where}: cannot fill {names} (serve fills environment variables "
                            "that are set, not Prefect blocks or variables)", where=where,
                            names=", ".join(unfilled)))
    name, entrypoint = used.get("name"), used.get("entrypoint")
    if not isinstance(name, str) or not name:
        raise ConfigError(_("{where} has no 'name'", where=where))
    where = _("{file}: deployment {name!r}", file=path, name=name)
    if not isinstance(entrypoint, str):
        entrypoint = ""
    module, _colon, function = entrypoint.rpartition(":")
    if not re.fullmatch(r"[A-Za-z_][\w.]*", module) or not function:
        raise ConfigError(_("{where}: 'entrypoint' must be package.module:flow, not "
                            "{entrypoint!r}", where=where, entrypoint=entrypoint))
    schedules = used.get("schedules") or []
    if not isinstance(schedules, list):
        raise ConfigError(_("{where}: 'schedules' must be a list", where=where))
    return DeploymentSpec(
        name=name,
        entrypoint=entrypoint,
        parameters=dict(used.get("parameters") or {}),
        schedules=tuple(_schedule(f"{where}, schedules[{i}]", s) for i, s in enumerate(schedules)),
        concurrency_limit=_concurrency(where, used.get("concurrency_limit")),
        description=used.get("description"),
        tags=tuple(used.get("tags") or ()),
    )


def _schedule(where: str, entry: Any) -> Schedule:
    """A prefect.yaml schedule entry as ``prefect deploy`` reads it (cli/deploy/_schedules.py)."""
    if not isinstance(entry, dict):
        raise ConfigError(_("{where} is not a mapping", where=where))
    if unknown := set(entry) - _SCHEDULE_KEYS:
        raise ConfigError(_("{where}: unknown keys {keys}", where=where,
                            keys=", ".join(sorted(unknown))))
    common = {k: entry[k] for k in ("timezone", "active", "parameters", "slug") if k in entry}
    try:
        if "cron" in entry:
            return Cron(entry["cron"], day_or=entry.get("day_or", True), **common)
        if "interval" in entry:
            anchor = entry.get("anchor_date")
            return Interval(_SECONDS.validate_python(entry["interval"]),
                            anchor_date=_MOMENT.validate_python(anchor) if anchor else None,
                            **common)  # fmt: skip
        if "rrule" in entry:
            return RRule(entry["rrule"], **common)
    except (ValueError, ValidationError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    raise ConfigError(_("{where} has none of 'cron', 'interval', 'rrule'", where=where))


def _concurrency(where: str, value: Any) -> int | ConcurrencyLimitConfig | None:
    if value is None or isinstance(value, int):
        return value
    try:
        return ConcurrencyLimitConfig.model_validate(value)
    except ValidationError as exc:
        raise ConfigError(f"{where}: 'concurrency_limit': {exc}") from exc


def load_flow(spec: DeploymentSpec, root: Path) -> Flow[..., Any]:
    """Import the entrypoint's flow (``flows.sync:incremental_sync``) from its module, the
    same module the rest of the code imports."""
    module_name, _colon, attribute = spec.entrypoint.rpartition(":")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(_("deployment {name!r}: cannot import {entrypoint} from {root}: {why}",
                            name=spec.name, entrypoint=spec.entrypoint, root=root,
                            why=exc)) from exc
    if not isinstance(found, Flow):
        raise ConfigError(_("deployment {name!r}: {entrypoint} is not a @flow", name=spec.name,
                            entrypoint=spec.entrypoint))
    return found


def build_deployment(spec: DeploymentSpec, root: Path) -> RunnerDeployment:
    """The deployment ``serve`` runs. ``paused=False``: serving a deployment resumes it, even
    one a runner with Prefect's default ``pause_on_shutdown`` left paused."""
    deployment = load_flow(spec, root).to_deployment(
        name=spec.name, parameters=dict(spec.parameters), schedules=list(spec.schedules),
        concurrency_limit=spec.concurrency_limit, description=spec.description,
        tags=list(spec.tags), paused=False,
    )
    assert isinstance(deployment, RunnerDeployment)  # called outside an event loop: no coroutine
    return deployment


def refuse_pool_bound(deployments: Sequence[RunnerDeployment]) -> None:
    """Refuse to serve a name the server has deployed to a work pool.

    Prefect would merge the two into a deployment nobody can run: the served version does not
    clear the work pool and the stored path becomes None, so every run fails loading its flow
    from ``<cwd>/None`` (seen on 3.9.1). A deployment is either served or run by workers.
    """
    with get_client(sync_client=True) as client:
        bound: dict[str, str] = {}
        for d in deployments:
            label = f"{d.flow_name}/{d.name}"
            with suppress(ObjectNotFound):
                if pool := client.read_deployment_by_name(label).work_pool_name:
                    bound[label] = pool
    if bound:
        names = ", ".join(_("{deployment} (work pool {pool!r})", deployment=label, pool=pool)
                          for label, pool in bound.items())
        raise ConfigError(_("already deployed for workers on {url}: {names}; serve on another "
                            "server, or delete them first (prefect deployment delete FLOW/NAME)",
                            url=get_current_settings().api.url, names=names))


def serve_project(settings: Settings, *, project: Path = PROJECT, mock_province: bool = False,
                  limit: int | None = None, port: int | None = None,
                  say: Callable[[str], None] = print) -> None:
    """Serve every deployment of ``project`` until Ctrl-C or SIGTERM, then stop every child.
    ``port``: of the Prefect server started here (unused with ``PREFECT_API_URL`` set).

    Everything that can be wrong with prefect.yaml fails here, before any process starts.
    """
    specs = read_project(project)
    deployments = [build_deployment(s, project.parent) for s in specs]
    try:
        with _stop_on_signals(), ExitStack() as stack:
            api_url = _prefect_api(stack, settings, project.parent, port)
            stack.enter_context(temporary_settings(updates={PREFECT_API_URL: api_url}))
            refuse_pool_bound(deployments)
            env = {"LICREG_HOME": str(settings.home), "LICREG_DATABASE_URL": settings.database_url}
            if mock_province:
                env["LICREG_PROVINCE_URL"] = stack.enter_context(_mock_province(settings))
            stack.enter_context(_environ(env))  # what the served flows read
            _announce(say, project, specs, deployments, env)
            serve(*deployments, pause_on_shutdown=False, print_starting_message=False,
                  limit=limit)  # fmt: skip
            say(_("stopping …"))
    except KeyboardInterrupt:  # a signal before or after the runner ran: children are gone
        pass
    say(_("stopped"))


def _prefect_api(stack: ExitStack, settings: Settings, root: Path, port: int | None) -> str:
    """The configured Prefect server, once it answers; else one started on ``port`` until
    ``stack`` ends (in ``root``, so the project's prefect.toml applies to it)."""
    configured = PREFECT_API_URL.value()
    if not configured:
        return stack.enter_context(prefect_server(settings.home / "prefect", port=port,
                                                  cwd=root))
    try:
        httpx.get(f"{configured}/health", timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        raise ConfigError(_("PREFECT_API_URL is {url}, but no Prefect server answers there "
                            "({why}); unset it to start one here", url=configured,
                            why=exc)) from exc
    return str(configured)


def _announce(say: Callable[[str], None], project: Path, specs: list[DeploymentSpec],
              deployments: list[RunnerDeployment], env: Mapping[str, str]) -> None:
    say(_("serving {n} deployments of {project}:", n=len(specs), project=project))
    labels = [f"{d.flow_name}/{d.name}" for d in deployments]
    width = max(map(len, labels))
    for label, spec in zip(labels, specs, strict=True):
        say(f"  {label:<{width}}  {spec.schedule_text()}")
    if "LICREG_PROVINCE_URL" in env:
        say(_("mock provincial endpoint: {url}", url=env["LICREG_PROVINCE_URL"]))
    if not Settings.from_env().passphrase:
        say(_("warning: {variable} is not set: ingest runs cannot seal, checkpoint runs cannot "
              "sign", variable=PASSPHRASE_VAR))
    current = get_current_settings()
    say(_("Prefect UI: {url}", url=current.ui_url))
    if problem := ui_problem(str(current.ui_url), str(current.api.url)):
        say(problem)
    say(_("Ctrl-C stops serving (deployments stay active)"))


def ui_problem(ui_url: str, api_url: str) -> str | None:
    """Why the Prefect UI at ``ui_url`` would not work, or None: it reads the API URL it calls
    from ``<ui>/ui-settings``, and that API must answer ``/health``."""
    try:
        with httpx.Client(timeout=10) as http:
            named = str(http.get(f"{ui_url}/ui-settings").raise_for_status().json()["api_url"])
            try:
                if http.get(f"{named}/health").status_code == 200:
                    return None
            except httpx.HTTPError:
                pass
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return _("warning: the Prefect UI at {ui} cannot be read ({why})", ui=ui_url, why=exc)
    return _("warning: the Prefect UI at {ui} calls the API at {named}, which does not answer; "
             "start that server with PREFECT_SERVER_UI_API_URL={api}", ui=ui_url, named=named,
             api=api_url)


@contextmanager
def _mock_province(settings: Settings) -> Iterator[str]:
    """The mock provincial endpoint, accepting the credentials the served flows will send."""
    anchors = settings.keystore / "root.pem"
    if not anchors.exists():
        raise ConfigError(f"no test root at {anchors}: run `licreg init --demo` first")
    with start_endpoint(home=settings.province_home, anchors_path=anchors,
                        credentials=[city_credential(settings)]) as url:
        yield url


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the flow runs this process starts; restore them after."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt, whatever this process inherited.

    A shell's background job starts with SIGINT ignored (PREFECT.md §5), and SIGTERM's default
    kills without cleanup, which would orphan the server. While ``serve`` runs, the runner
    installs its own SIGTERM handler (a graceful stop); SIGINT stays Python's default, which
    asyncio turns into cancelling the runner.
    """

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
                signal.SIGTERM: signal.signal(signal.SIGTERM, interrupt)}  # fmt: skip
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

