"""Log leaves (registry.tlog.leaves): RFC 8785 JSON that reads back, times with a fraction only
when they have one, garbage refused as a log-inclusion failure."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
import rfc8785

from registry.errors import VerificationError
from registry.tlog.leaves import format_time, leaf_data, parse_leaf

IDENT = "1.2.156.3005.2.11100000MB0143028R001.11330100MB1703218R.20240001.001.N"


def test_leaf_data_is_rfc8785_and_reads_back() -> None:
    digest = hashlib.sha256(b"record").digest()
    data = leaf_data(identifier=IDENT, operate_type="01", status="VALID", data_hash=digest,
                     at=dt.datetime(2026, 11, 27, 16, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    doc = {"identifier": IDENT, "operateType": "01", "status": "VALID",
           "dataHash": digest.hex(), "time": "2026-11-27T08:00:00Z"}
    assert data == rfc8785.dumps(doc)
    leaf = parse_leaf(data)
    assert (leaf.identifier, leaf.operate_type, leaf.status, leaf.data_hash) == (
        IDENT, "01", "VALID", digest)
    assert leaf.time == dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
    # Not the canonical shape (spaces): the general reader gives the same answer.
    assert parse_leaf(json.dumps(doc, indent=1).encode()) == leaf


def test_leaf_times_keep_fractions_only_when_present() -> None:
    assert format_time(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)) == "2026-01-02T03:04:05Z"
    assert (format_time(dt.datetime(2026, 1, 2, 3, 4, 5, 120, tzinfo=dt.UTC))
            == "2026-01-02T03:04:05.000120Z")
    with pytest.raises(ValueError, match="aware"):
        format_time(dt.datetime(2026, 1, 2))


@pytest.mark.parametrize("data", [b"not json", b"{}", b'{"identifier": 1}', b"\xff"])
def test_garbage_leaf_is_a_log_inclusion_failure(data: bytes) -> None:
    with pytest.raises(VerificationError) as err:
        parse_leaf(data)
    assert err.value.sub_indication == "LOG_INCLUSION_FAILURE"
