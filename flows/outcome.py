"""How a flow run ends when something it handled failed: **Failed**, with the reason as the
state message (in the reader's language, as the rest of the flow's output) and the flow's
summary as the state's data, plus a table artifact of that summary for the Prefect UI.

A flow returns ``failed(...)`` instead of its summary, and Prefect makes the returned state the
run's final state (``prefect.states.return_value_to_state``). The summary stays retrievable in
the process that ran the flow; a deployment's run keeps only the message and the artifact
(results are not persisted, prefect.toml). Calling such a flow directly raises (Prefect cannot
make an exception of a dict), so a caller that wants the summary either way calls it with
``return_state=True`` and reads :func:`summary`::

    state = incremental_sync(return_state=True)
    totals = summary(state)          # the same dict, Completed or Failed
    if state.is_failed(): print(state.message)
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

from prefect import State
from prefect.artifacts import create_table_artifact
from prefect.states import Failed

__all__ = ["counts_table", "failed", "settled", "summary"]


def failed(reason: str, result: Mapping[str, Any], *, key: str | None = None,
           table: list[dict[str, Any]] | None = None) -> State[Any]:
    """The run's Failed state: ``reason`` as the state message (Prefect logs it with the final
    state), ``result`` as its data; with ``key``, ``table`` (default :func:`counts_table` of
    ``result``) published as a table artifact described by the reason."""
    if key is not None:
        create_table_artifact(key=key, table=table if table is not None else counts_table(result),
                              description=reason, _sync=True)  # type: ignore[call-arg]  # also from an async flow's thread
    return Failed(message=reason, data=dict(result))


def counts_table(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A summary as rows of ``what`` and ``n``: its numbers, one row per reason code, then
    its ``error`` (as the batch artifacts of :mod:`flows.ingest` show theirs)."""
    rows = [{"what": k.replace("_", " "), "n": v} for k, v in result.items()
            if isinstance(v, int) and not isinstance(v, bool)]
    reasons = result.get("reasons") or {}
    rows += [{"what": f"reason {code}", "n": n} for code, n in reasons.items()]
    if result.get("error"):
        rows.append({"what": f"failed: {result['error']}", "n": None})
    return rows


async def settled(run: Awaitable[State[Any]]) -> dict[str, Any]:
    """:func:`summary` of an async flow's run:
    ``asyncio.run(settled(ingest_and_seal(..., return_state=True)))``."""
    return summary(await run)


def summary(state: State[Any]) -> dict[str, Any]:
    """What a flow run returned, Completed or Failed (in the process that ran it)."""
    found = state.result(raise_on_failure=False, _sync=True)  # type: ignore[call-overload]  # also in an async flow
    if isinstance(found, BaseException):  # raised, not returned: there is no summary
        raise found
    assert isinstance(found, dict)  # the flows of this package return dicts
    return found
