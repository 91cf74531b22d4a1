"""The push benchmark: N sealed licenses to the local endpoint, which verifies each.

A scratch registry gets the demo world and N synthetic licenses sealed through
:func:`registry.license.issue.issue_rows` (not timed); then the mock provincial endpoint starts in
its
own process and :func:`registry.province.sync.push_pending` pushes every outbox event to it
(timed, end to end: read, build, send, verify, store, acknowledge, record).

>>> result = bench_push(2000, batch_size=500)       # doctest: +SKIP
>>> result["per_second"] > 0                        # doctest: +SKIP
True
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from registry.config import Settings
from registry.db import make_engine, session_scope

__all__ = ["bench_push", "seal_synthetic"]

PASSPHRASE = b"TEST-ONLY-push-bench-passphrase"
BIZ = "11100000MB0143028R001"
SCOPE = "广告设计、代理；会议及展览服务（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）"
"""A typical 经营范围: the records pushed are as long as real ones."""


def seal_synthetic(
    settings: Settings,
    n: int,
    *,
    at: dt.datetime,
    chunk: int = 5000,
    start: int = 0,
    valid_to: str = "20360512",
) -> int:
    """Seal ``n`` synthetic 营业执照 of the demo market department (world already created),
    numbered from ``start``, valid until ``valid_to``."""
    from registry.city.demo import MARKET
    from registry.db.models import Department
    from registry.license.elements import Issuer
    from registry.license.issue import IssueTarget, issue_rows
    from registry.license.types import load_license_types
    from registry.seal.queries import active_seal_for, sealing_context
    from registry.template.lifecycle import published_template

    engine = make_engine(settings.database_url)
    lt = load_license_types()[BIZ]
    with session_scope(engine) as session:
        dept = session.scalars(select(Department).where(Department.uscc == MARKET.uscc)).one()
        template = published_template(session, type_code=BIZ, department_id=dept.id)
        assert template.seal_id is not None
        seal = active_seal_for(session, template.seal_id, BIZ, at=at)
        target = IssueTarget(lt, Issuer(dept.name, dept.uscc), dept.id, template.id, seal.id,
                             None)  # fmt: skip
        sealing = sealing_context(seal, keystore=settings.keystore,
                                  passphrase=settings.require_passphrase())  # fmt: skip
    for first in range(start, start + n, chunk):
        rows = [
            {"LINE": i, "OUTCOME": "accepted", "REASONS": [], "RAW": {}, "CZZTDMLXDM": "001",
             "ZZBH": f"BENCH{i:010d}", "CZZT": f"示范市基准测试{i}有限公司",
             "CZZTDM": "91330102MAT9HT456F", "ZZBFRQ": "20220601", "ZZYXQQSRQ": "20160513",
             "ZZYXQJZRQ": valid_to, "KZ_LX": "有限责任公司（自然人独资）", "KZ_FDDBR": "张三",
             "KZ_ZCZB": "100万元人民币", "KZ_CLRQ": "20160513",
             "KZ_ZS": "示范市东城区和平街887号12幢101室",
             "KZ_JYFW": SCOPE}
            for i in range(first, min(start + n, first + chunk))
        ]  # fmt: skip
        with session_scope(engine) as session:
            issue_rows(session, rows, target, sealing, at=at)
    engine.dispose()
    return n


def bench_push(
    n: int = 100_000,
    *,
    batch_size: int = 2000,
    concurrency: int = 2,
    workers: int = 1,
    home: Path | None = None,
    progress: Callable[[str], None] = lambda _line: None,
) -> dict[str, Any]:
    """Seal ``n`` licenses in a scratch registry, then time pushing them all; a small report."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from registry.city.demo import create_demo_world, init_registry
    from registry.mockprovince.process import start_endpoint
    from registry.province.client import ProvinceClient
    from registry.province.sync import push_pending
    from registry.seal.pki import load_root_cert

    with tempfile.TemporaryDirectory(prefix="licreg-push-bench-") as scratch:
        root = home or Path(scratch)
        settings = Settings(home=root / "registry",
                            database_url=f"sqlite:///{root / 'registry' / 'registry.db'}",
                            passphrase=PASSPHRASE)  # fmt: skip
        at = dt.datetime.now(dt.UTC)
        engine = make_engine(settings.database_url)
        init_registry(engine)
        with session_scope(engine) as session:
            create_demo_world(session, settings, now=at - dt.timedelta(days=1))
        started = time.perf_counter()
        seal_synthetic(settings, n, at=at)
        progress(f"sealed {n} licenses in {time.perf_counter() - started:.1f} s (not timed)")
        anchors = root / "root.pem"
        anchors.write_bytes(load_root_cert(settings.keystore).public_bytes(Encoding.PEM))
        tokens = {"bench": "TEST-ONLY-bench-token"}
        import httpx

        limits = httpx.Limits(max_connections=concurrency + 2,
                              max_keepalive_connections=concurrency)  # fmt: skip
        with start_endpoint(home=root / "province", anchors_path=anchors, tokens=tokens,
                            workers=workers) as url, \
                httpx.Client(base_url=url, timeout=httpx.Timeout(120.0, connect=5.0),
                             limits=limits) as http, \
                session_scope(engine) as session:  # fmt: skip
            client = ProvinceClient(http, access_id="bench", access_token=tokens["bench"])
            start = time.perf_counter()
            summary = push_pending(session, client, batch_size=batch_size,
                                   concurrency=concurrency, at=dt.datetime.now(dt.UTC))
            seconds = time.perf_counter() - start
            stored = http.get("/stats").json()["licenses"]
        engine.dispose()
    pushed = summary.accepted + summary.duplicates
    return {
        "licenses": n,
        "pushed": pushed,
        "stored": stored,
        "rejected": summary.rejected,
        "seconds": round(seconds, 3),
        "per_second": round(pushed / seconds) if seconds else 0,
        "batch_size": batch_size,
        "concurrency": concurrency,
        "workers": workers,
    }


if __name__ == "__main__":
    import json
    import sys

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(json.dumps(bench_push(count, progress=lambda line: print(line, file=sys.stderr))))
