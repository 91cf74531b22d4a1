"""Lifecycles kept as tables: each step names the statuses it may start from and where it ends.

Seals, seal applications and templates each keep such a table (``SEAL_STEPS`` …); a step
locks its row (``SELECT … FOR UPDATE`` on PostgreSQL) and is refused, naming the status it
found and the ones it needs, when the row is not in a status the step starts from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session

__all__ = ["Steps", "either", "locked_for_step"]

Steps = Mapping[str, tuple[tuple[str, ...], str]]
"""step → (statuses it may start from, the status it ends in)."""


class _HasStatus(Protocol):
    status: str


Row = TypeVar("Row", bound=_HasStatus)


def either(statuses: Sequence[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return statuses[0] if len(statuses) == 1 else f"{', '.join(statuses[:-1])} or {statuses[-1]}"


def locked_for_step(
    session: Session, model: type[Row], key: Any, step: str, steps: Steps, *,
    missing: Callable[[], Exception], refused: Callable[[Row, tuple[str, ...]], Exception],
) -> Row:
    """The row of ``model`` with ``key``, locked, in a status ``step`` may start from; else
    the exception ``missing()`` or ``refused(row, allowed)`` makes."""
    row = session.get(model, key, with_for_update=True)
    if row is None:
        raise missing()
    allowed, _ = steps[step]
    if row.status not in allowed:
        raise refused(row, allowed)
    return row
