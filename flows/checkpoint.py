"""Flow: sign a transparency-log checkpoint of every leaf written since the last one.

Scheduled every ten minutes (``prefect.yaml``): a checkpoint is what lets a registry audit
(``verify --registry``) and an export bundle prove that a license existed at a time; until its
leaf is covered by one, the license is INDETERMINATE ``LOG_NOT_CHECKPOINTED``. When nothing
was written since the last checkpoint, nothing is signed
(:func:`registry.tlog.checkpoint.sign_checkpoint` reports ``made``), so a quiet registry keeps
one checkpoint rather than one every ten minutes. It needs the key store
(``LICREG_HOME``) and ``LICREG_KEY_PASSPHRASE`` for the log key.
"""

from __future__ import annotations

from typing import Any

from prefect import State, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.outcome import failed
from registry.clock import utc_now
from registry.config import Settings
from registry.db import session_scope, shared_engine
from registry.errors import RegistryError
from registry.i18n import _
from registry.tlog.checkpoint import sign_checkpoint

__all__ = ["checkpoint_flow", "checkpoint_task"]


@task(name="sign-checkpoint", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def checkpoint_task() -> dict[str, Any]:
    settings = Settings.from_env()
    with session_scope(shared_engine(settings.database_url)) as session:
        checkpoint, made = sign_checkpoint(session, keystore=settings.keystore,
                                           passphrase=settings.require_passphrase(),
                                           now=utc_now())
    return {"made": made, "tree_size": checkpoint.tree_size,
            "root_hash": checkpoint.root_hash.hex(), "time": checkpoint.time.isoformat()}


@flow(name="checkpoint")
def checkpoint_flow() -> dict[str, Any] | State[Any]:
    """Sign a checkpoint when leaves were written since the last one; returns it (``made``
    False: the last one still covers the whole log)."""
    try:
        result = checkpoint_task()
    except RegistryError as exc:  # no passphrase, a wrong one, no log key
        reason = _("log checkpoint not signed: {why}", why=exc)
        return failed(reason, {"error": reason}, key="checkpoint")
    if result["made"]:
        text = _("log checkpoint signed: {n} leaves, root {root}…", n=result["tree_size"],
                 root=result["root_hash"][:16])
    else:
        text = _("log unchanged since the last checkpoint ({n} leaves): nothing signed",
                 n=result["tree_size"])
    get_run_logger().info("%s", text)
    return result
