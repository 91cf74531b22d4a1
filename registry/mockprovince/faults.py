"""Fault injection for the mock provincial platform: what a real platform does on a bad day.

Each push request independently draws its faults, in this order, from one seeded random
generator (so a test with a seed sees the same faults for the same request sequence):

- ``error_rate``: answer 503 without processing anything;
- ``rate_limit_rate``: answer 429 with ``Retry-After: retry_after`` without processing;
- ``hang_rate``: wait ``hang_seconds`` before processing (the client's timeout fires first, the
  request is still processed afterwards, so its retry meets a DUPLICATE);
- ``partial_rate``: process and acknowledge only the first k items (0 ≤ k < n);
- ``duplicate_ack_rate``: repeat some acknowledgements in the answer;
- ``reset_rate``: process and store everything, then drop the connection without an answer.

>>> faults = Faults.parse(["error_rate=0.5", "seed=7"])
>>> plan = FaultInjector(faults).plan(items=10)
>>> plan.error
True
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from registry.errors import ConfigError

__all__ = ["FaultInjector", "FaultPlan", "Faults"]

_RATES = (
    "error_rate",
    "rate_limit_rate",
    "hang_rate",
    "partial_rate",
    "duplicate_ack_rate",
    "reset_rate",
)


@dataclass(frozen=True)
class Faults:
    """Which faults the platform injects into push requests, and how often (0 … 1)."""

    error_rate: float = 0.0
    """Share of requests answered 503 before any processing."""
    rate_limit_rate: float = 0.0
    """Share of requests answered 429 with Retry-After."""
    retry_after: float = 1.0
    """Seconds announced in Retry-After."""
    hang_rate: float = 0.0
    """Share of requests that hang ``hang_seconds`` before being processed."""
    hang_seconds: float = 30.0
    partial_rate: float = 0.0
    """Share of requests of which only a prefix is processed and acknowledged."""
    duplicate_ack_rate: float = 0.0
    """Share of answers that repeat some acknowledgements."""
    reset_rate: float = 0.0
    """Share of requests processed and then answered by a dropped connection."""
    seed: int | None = None
    """Seed of the generator; None draws from the OS."""

    def __post_init__(self) -> None:
        for name in _RATES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"fault {name} must be between 0 and 1, got {value}")
        if self.retry_after < 0 or self.hang_seconds < 0:
            raise ConfigError("retry_after and hang_seconds must not be negative")

    @property
    def active(self) -> bool:
        """True when any fault can happen."""
        return any(getattr(self, name) > 0 for name in _RATES)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Faults:
        """Faults from a mapping of field names; :class:`ConfigError` names an unknown one."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(
                f"unknown fault setting(s) {sorted(unknown)}; known: {sorted(known)}"
            )
        converted: dict[str, Any] = {}
        for name, value in values.items():
            try:
                converted[name] = (
                    None if value is None else int(value) if name == "seed" else float(value)
                )
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"fault {name}: {value!r} is not a number") from exc
        return cls(**converted)

    @classmethod
    def parse(cls, settings: Iterable[str], *, base: Faults | None = None) -> Faults:
        """Faults from ``NAME=VALUE`` strings (the command line's ``--fault``) over ``base``."""
        values: dict[str, Any] = base.to_dict() if base is not None else {}
        for text in settings:
            name, sep, value = text.partition("=")
            if not sep:
                raise ConfigError(f"expected NAME=VALUE for a fault, got {text!r}")
            values[name.strip().replace("-", "_")] = value.strip()
        return cls.from_mapping(values)

    @classmethod
    def from_file(cls, path: Path) -> Faults:
        """Faults from a JSON object file (the ``--faults`` configuration)."""
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read fault configuration {path}: {exc}") from exc
        if not isinstance(values, dict):
            raise ConfigError(f"{path} must hold a JSON object of fault settings")
        return cls.from_mapping(values)


@dataclass(frozen=True)
class FaultPlan:
    """The faults one request gets."""

    error: bool = False
    rate_limited: bool = False
    hang: float = 0.0
    """Seconds to hang before processing (0: none)."""
    keep: int | None = None
    """Process and acknowledge only this many leading items (None: all)."""
    duplicate_acks: int = 0
    """How many acknowledgements to repeat at the end of the answer."""
    reset: bool = False

    @property
    def refuses(self) -> bool:
        """True when the request is answered without processing."""
        return self.error or self.rate_limited


class FaultInjector:
    """Draws a :class:`FaultPlan` per request from one seeded generator (thread-safe)."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._random = random.Random(faults.seed)  # noqa: S311 - test faults, not security
        self._lock = threading.Lock()

    def plan(self, *, items: int) -> FaultPlan:
        """The faults of the next request, which carries ``items`` items."""
        f = self.faults
        if not f.active:
            return FaultPlan()
        with self._lock:
            rng = self._random
            # Always draw every roll, so one request's faults never shift the next one's.
            rolls = [rng.random() for _ in _RATES]
            keep_draw = rng.randrange(items) if items > 0 else 0
            dup_draw = rng.randint(1, max(1, items))
        error, limited, hang, partial, dup, reset = (r < getattr(f, n) for r, n in zip(
            rolls, _RATES, strict=True))  # fmt: skip
        if error or limited:
            return FaultPlan(error=error, rate_limited=limited and not error)
        return FaultPlan(
            hang=f.hang_seconds if hang else 0.0,
            keep=keep_draw if partial and items > 0 else None,
            duplicate_acks=dup_draw if dup else 0,
            reset=reset,
        )
