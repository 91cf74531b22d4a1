"""What every ``licreg`` command shares: settings, the engine, output and error handling."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

import click
from sqlalchemy import Engine

from registry.clock import utc_now
from registry.config import Settings
from registry.db import make_engine
from registry.errors import RegistryError
from registry.i18n import _

F = TypeVar("F", bound=Callable[..., Any])

now = utc_now


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


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
