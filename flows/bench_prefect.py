"""The ingest flow against the library on the same batch: what orchestration costs.

One department file of N licenses (营业执照 of the market bureau) is ingested twice, into two
scratch registries: once by ``registry.batch.run.ingest_file``, once by the ``ingest-and-seal``
flow; the worker processes are started before either is timed.

    prefect server start &                      # a server already running (PREFECT.md §1)
    PREFECT_API_URL=http://127.0.0.1:4200/api python -m flows.bench_prefect --licenses 100000

Without PREFECT_API_URL the flow uses a temporary server; its start-up is excluded by running a
warm-up flow first. Prints both rates and the flow's overhead in percent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from prefect import flow

from flows.ingest import ingest_and_seal
from flows.outcome import settled
from registry.batch.pool import LocalPool
from registry.batch.run import ingest_file
from registry.bench.stages import PASSPHRASE
from registry.bench.synthetic import BIZ, scratch_registry, write_synthetic_batch
from registry.city.demo import MARKET
from registry.clock import utc_now

__all__ = ["main", "warm_up"]


@flow(name="warm-up")
def warm_up() -> None:
    """Starts (or reaches) the Prefect API before anything is timed."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--licenses", type=int, default=100_000)
    args = parser.parse_args()
    now = utc_now()
    with tempfile.TemporaryDirectory(prefix="licreg-bench-prefect-") as tmp:
        home = Path(tmp)
        (home / "batches").mkdir()
        path = write_synthetic_batch(home / "batches" / "stock.csv", BIZ, args.licenses, seed=1)
        library, engine = scratch_registry(home / "library", passphrase=PASSPHRASE, now=now)
        flowed, _ = scratch_registry(home / "flow", passphrase=PASSPHRASE, now=now)
        warm_up()
        LocalPool().start()

        start = time.perf_counter()
        accepted = ingest_file(engine, library, path, department_uscc=MARKET.uscc, type_code=BIZ,
                               uploader="bench", at=now).accepted
        lib_seconds = time.perf_counter() - start

        os.environ.update({"LICREG_HOME": str(flowed.home),
                           "LICREG_DATABASE_URL": flowed.database_url,
                           "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode()})
        start = time.perf_counter()
        flow_accepted = asyncio.run(settled(ingest_and_seal(
            str(path), MARKET.uscc, BIZ, uploader="bench", return_state=True)))["accepted"]
        flow_seconds = time.perf_counter() - start
    result = {
        "licenses": accepted,
        "library_per_second": round(accepted / lib_seconds),
        "flow_per_second": round(flow_accepted / flow_seconds),
        "flow_overhead_percent": round(100 * (flow_seconds / lib_seconds - 1), 1),
        "prefect_api": os.environ.get("PREFECT_API_URL") or "temporary server",
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
