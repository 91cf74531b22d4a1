"""Batches: a department file, stored and ingested chunk by chunk, every row accounted for.

::

    run.py       open a batch, process its chunks (worker processes), finish or fail it
    leases.py    one run at a time per batch, on any machine
    reports.py   what happened to a batch, for a clerk: list, detail, rows, rejects CSV
    inbox.py     department drop folders: each file taken once, archived with its report

Import from the submodules; this package re-exports nothing.
"""

__all__: list[str] = []
