"""What every ``licreg`` command shares: settings, the engine, output and error handling."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

import click
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from registry.cli.terminal import json_visible
from registry.clock import china_text, utc_now
from registry.config import Settings
from registry.db import make_engine
from registry.errors import RegistryError, log_unexpected
from registry.i18n import _

F = TypeVar("F", bound=Callable[..., Any])

now = utc_now


def echo_json(value: Any) -> None:
    click.echo(json_visible(json.dumps(value, ensure_ascii=False, indent=2, default=str)))


def engine(settings: Settings) -> Engine:
    return make_engine(settings.database_url)


def handle_errors(fn: F) -> F:
    """Known errors become one clear line on stderr and exit code 1, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RegistryError as exc:
            click.echo(_("error: {detail}", detail=exc.diagnostics()), err=True)
            sys.exit(1)

    return cast(F, wrapper)


_MISSING_TABLE = ("no such table", "does not exist", "UndefinedTable")


def unexpected_error(exc: Exception, settings: Settings | None = None) -> str:
    """What a person reads when a command fails for a reason licreg did not foresee: a
    registry that is not set up, or a database that cannot be opened, said plainly; anything
    else logged under an id (``<home>/logs/errors.log``: the traceback's frames and the
    error's class, never its message or source lines, which may hold a holder's data) and
    reported by that id. ``LICREG_TRACEBACK=1`` lets the exception through instead, for a
    developer."""
    settings = settings or Settings.from_env()
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    if isinstance(exc, DBAPIError):
        text = str(exc.orig)
        if any(marker in text or marker in type(exc.orig).__name__ for marker in _MISSING_TABLE):
            return _("the registry {where} is not set up, or is older than this licreg: run "
                     "`licreg init` (it creates or upgrades the database)", where=where)
        if "unable to open database" in text or "connection" in text.lower():
            return _("cannot open the registry database {where}: {reason}", where=where,
                     reason=type(exc.orig).__name__)
    error_id, log = log_unexpected(settings.home, exc, f"licreg {' '.join(sys.argv[1:2])}")
    log_text = str(log) if log else _("(the error log could not be written)")
    return _("unexpected error {id} ({kind}) at {time}; nothing more was done. Give this id "
             "to the operator; the details are in {log}", id=error_id,
             kind=type(exc).__name__, time=china_text(utc_now(), seconds=True), log=log_text)
