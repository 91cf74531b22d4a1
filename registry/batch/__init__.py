"""Batches: a department file, stored and ingested chunk by chunk, every row accounted for.

::

    run.py       the one entry point: open the batch, send its chunks to an executor, finish
    chunks.py    one chunk: planned against the database, judged and sealed anywhere, stored
    pool.py      where chunks are sealed: this process or local worker processes (the seam
                 the flows add a Prefect or Dask task runner to)
    leases.py    one run at a time per batch, on any machine
    reports.py   what happened to a batch, for a clerk: list, detail, rows, rejects CSV
    inbox.py     department drop folders: each file taken once, archived with its report

Import from the submodules; this package re-exports nothing.
"""

__all__: list[str] = []
