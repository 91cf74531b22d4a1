"""Log leaves: what one license event looks like in the log, and appending many at once.

The leaf data is the RFC 8785 JSON of five fields, so anyone can recompute it from an event::

    {"dataHash": "<hex SHA-256 of the signed record>", "identifier": "1.2.156.3005.2…",
     "operateType": "01", "status": "VALID", "time": "2026-11-27T08:00:00Z"}

Example::

    data = leaf_data(identifier=ident, operate_type="01", status="VALID",
                     data_hash=digest, at=now)
    assert parse_leaf(data).identifier == ident

:func:`append_leaves` is called by :func:`registry.events.record_events` for every event, in
the caller's transaction, with one executemany insert; the Merkle work waits for the next
checkpoint (:mod:`registry.tlog.checkpoint`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Iterable
from typing import NamedTuple, Protocol

from sqlalchemy import insert
from sqlalchemy.orm import Session

from registry.canonical import canonical_bytes
from registry.errors import VerificationError
from registry.tlog.models import LogLeaf

__all__ = [
    "LeafData",
    "LeafEvent",
    "append_leaves",
    "format_time",
    "leaf_data",
    "parse_leaf",
]

class LeafEvent(Protocol):
    """What a leaf is made from (:class:`registry.events.LicenseEvent` has these)."""

    @property
    def identifier(self) -> str: ...
    @property
    def operate_type(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def data_hash(self) -> bytes: ...


class LeafData(NamedTuple):
    """A leaf's fields, as read back from its data (a NamedTuple: an audit makes one per leaf,
    and a frozen dataclass costs five times as much to build)."""

    identifier: str
    operate_type: str
    """STANDARDS.md §2.2 operateType."""
    status: str
    """The license status after the event."""
    data_hash: bytes
    """SHA-256 of the license's signed record."""
    time: dt.datetime
    """When the event happened (UTC)."""


def format_time(when: dt.datetime) -> str:
    """ISO 8601 in UTC with a Z; fractions of a second only when there are any."""
    if when.tzinfo is None:
        raise ValueError("a log time must be an aware datetime")
    utc = when.astimezone(dt.UTC)
    spec = "microseconds" if utc.microsecond else "seconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def leaf_data(
    *, identifier: str, operate_type: str, status: str, data_hash: bytes, at: dt.datetime
) -> bytes:
    """The leaf data of one event (RFC 8785 JSON)."""
    return canonical_bytes(
        {
            "dataHash": data_hash.hex(),
            "identifier": identifier,
            "operateType": operate_type,
            "status": status,
            "time": format_time(at),
        }
    )


# The exact shape append_leaves writes (RFC 8785: keys sorted, no spaces): read without a JSON
# parser, because an audit reads every leaf of the log. Anything else takes the general path.
_CANONICAL = re.compile(
    r'\{"dataHash":"([0-9a-f]{64})","identifier":"([!#-\[\]-~]*)",'
    r'"operateType":"([!#-\[\]-~]*)","status":"([!#-\[\]-~]*)","time":"([!#-\[\]-~]*)"\}'
)


@functools.lru_cache(maxsize=4096)
def _parse_time(text: str) -> dt.datetime:
    # Leaves of one chunk share one time: parse each distinct text once.
    when = dt.datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError("leaf time has no time zone")
    return when.astimezone(dt.UTC)


def parse_leaf(data: bytes) -> LeafData:
    """Read a leaf's data back; anything else → VerificationError(LOG_INCLUSION_FAILURE)."""
    try:
        match = _CANONICAL.fullmatch(data.decode("utf-8"))
        if match is not None:
            digest, identifier, op, status, time = match.groups()
            return LeafData(identifier, op, status, bytes.fromhex(digest), _parse_time(time))
        doc = json.loads(data)
        fields = (doc["identifier"], doc["operateType"], doc["status"], doc["dataHash"])
        if not all(isinstance(f, str) for f in fields) or not isinstance(doc["time"], str):
            raise TypeError("leaf fields must be strings")
        return LeafData(
            identifier=doc["identifier"],
            operate_type=doc["operateType"],
            status=doc["status"],
            data_hash=bytes.fromhex(doc["dataHash"]),
            time=_parse_time(doc["time"]),
        )
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise VerificationError(
            f"not a license-event leaf: {exc}", sub_indication="LOG_INCLUSION_FAILURE"
        ) from exc


def append_leaves(session: Session, events: Iterable[LeafEvent], *, at: dt.datetime) -> int:
    """Insert one pending leaf per event with a single executemany; returns how many."""
    time_text = format_time(at)  # one time per call: format it once
    rows = []
    for e in events:
        data = canonical_bytes(
            {
                "dataHash": e.data_hash.hex(),
                "identifier": e.identifier,
                "operateType": e.operate_type,
                "status": e.status,
                "time": time_text,
            }
        )
        rows.append(
            {
                "identifier": e.identifier,
                "data": data,
                "leaf_hash": hashlib.sha256(b"\x00" + data).digest(),
                "seq": None,
            }
        )
    if rows:
        # Core executemany on the session's connection: no ORM bookkeeping per leaf.
        session.connection().execute(insert(LogLeaf.__table__), rows)
    return len(rows)
