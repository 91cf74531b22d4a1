"""Log leaves: what one license event looks like in the log, and appending many at once.

The leaf data is the RFC 8785 JSON of five fields, so anyone can recompute it from an event::

    {"dataHash": "<hex SHA-256 of the signed record>", "identifier": "1.2.156.3005.2…",
     "operateType": "01", "status": "VALID", "time": "2026-11-27T08:00:00Z"}

Example::

    data = leaf_data(identifier=ident, operate_type="01", status="VALID",
                     data_hash=digest, at=now)
    assert parse_leaf(data).identifier == ident

:func:`append_leaves` is called by :func:`registry.license.events.record_events` for every event, in
the caller's transaction, with one executemany insert (:func:`registry.db.bulk_insert`); the
Merkle work waits for the next checkpoint (:mod:`registry.tlog.checkpoint`).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Iterable
from hashlib import sha256
from typing import NamedTuple, Protocol

from sqlalchemy.orm import Session

from registry.db import bulk_insert, table_of
from registry.errors import VerificationError
from registry.i18n import _
from registry.license.canonical import canonical_bytes
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
    """What a leaf is made from (:class:`registry.license.events.LicenseEvent` has these)."""

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


LEAF_COLUMNS = ("identifier", "data", "leaf_hash")
"""What :func:`append_leaves` writes; ``seq`` stays NULL until a checkpoint."""


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
    return _leaf_bytes(identifier, operate_type, status, data_hash, format_time(at))


# A string of these characters is its own JSON string body (printable ASCII without a space,
# a quote or a backslash): identifiers, codes, statuses and times always are.
_PLAIN = r"[!#-\[\]-~]*"
_PLAIN_TEXT = re.compile(_PLAIN)

# The exact shape _leaf_bytes writes (RFC 8785: keys sorted, no spaces): read without a JSON
# parser, because an audit reads every leaf of the log. Anything else takes the general path.
_CANONICAL = re.compile(
    rf'\{{"dataHash":"([0-9a-f]{{64}})","identifier":"({_PLAIN})",'
    rf'"operateType":"({_PLAIN})","status":"({_PLAIN})","time":"({_PLAIN})"\}}'
)


def _leaf_bytes(
    identifier: str, operate_type: str, status: str, data_hash: bytes, time_text: str
) -> bytes:
    """RFC 8785 JSON of the five leaf fields. Plain fields (always, in practice) are written
    straight into the one shape their canonical form can have; the general encoder is several
    times slower and the log writes a leaf for every event."""
    if _PLAIN_TEXT.fullmatch(identifier + operate_type + status + time_text):
        return (f'{{"dataHash":"{data_hash.hex()}","identifier":"{identifier}",'
                f'"operateType":"{operate_type}","status":"{status}","time":"{time_text}"}}'
                ).encode("ascii")
    return canonical_bytes({"dataHash": data_hash.hex(), "identifier": identifier,
                            "operateType": operate_type, "status": status, "time": time_text})


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
            _("not a license-event leaf: {error}", error=exc),
            sub_indication="LOG_INCLUSION_FAILURE",
        ) from exc


def append_leaves(session: Session, events: Iterable[LeafEvent], *, at: dt.datetime) -> int:
    """Insert one pending leaf per event (``seq`` NULL) with a single executemany; returns
    how many."""
    time_text = format_time(at)  # one time per call: format it once
    rows = []
    for e in events:
        data = _leaf_bytes(e.identifier, e.operate_type, e.status, e.data_hash, time_text)
        rows.append((e.identifier, data, sha256(b"\x00" + data).digest()))
    return bulk_insert(session.connection(), table_of(LogLeaf), LEAF_COLUMNS, rows)
