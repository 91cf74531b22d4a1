"""``licreg bench``: how fast each stage runs on this machine, next to the signing limit.

::

    run.py     the report and the synthetic batches; run_bench
    stages.py  the stages, each calling the same library code users run
    pdf.py     ``licreg pdf bench``: sealed PDFs per second
    push.py    ``licreg sync bench``: licenses pushed per second, the platform verifying each
"""

__all__: list[str] = []
