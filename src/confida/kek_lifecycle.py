"""The key-encryption key's life: rotation, and the destruction of retired versions.

Why this bounds backups: a copy of the key store opens with the KEK version that wrapped it.
``confida backup`` rotates right after its snapshot, so the version inside every backup is
retired the moment the backup is taken and destroyed ``kek_retire_after`` later by
``retire_due`` (run by ``confida keys retire`` and hourly by ``confida serve``). From then on
that backup's key store opens nothing, whatever erasures it predates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confida.authz import authorise
from confida.operation import Actor, Operation
from confida.vault import Vault


def rotate(vault: Vault, *, actor: Actor,
           progress: Callable[[int, int], None] | None = None) -> dict[str, object]:
    """Rotate (or finish an interrupted rotation) and audit it (role action ``keys``).

    Decided and logged before the rotation starts, and its outcome logged after: re-wrapping
    every data key takes a while and runs in the key store, so the record store is not held
    for it. An interrupted rotation is finished by the next run.
    """
    with vault.operation(Operation("keys.rotate.begin", actor)) as (_conn, op):
        authorise(actor, "keys", register=vault.register, op=op)
    res = vault.keys.rotate(progress=progress)
    with vault.operation(Operation("keys.rotate", actor, details=dict(res))) as (_conn, op):
        authorise(actor, "keys", register=vault.register, op=op)
    return res


def retire_due(vault: Vault, *, actor: Actor, window: Any = None) -> dict[str, object]:
    """Destroy every KEK version retired longer ago than ``window`` (default: the config's
    ``kek_retire_after``); audited, refused while a due version still wraps a data key."""
    with vault.operation(Operation("keys.retire", actor)) as (_conn, op):
        authorise(actor, "keys", register=vault.register, op=op)
        window = window if window is not None else vault.config.kek_retire_window
        now = vault.keys.clock()
        op.details["older_than"] = str(window)
        res = vault.keys.retire(lambda since: window.after(since) <= now)
        op.details.update({"destroyed": res["destroyed"], "kept": res["kept"]})
    res["older_than"] = str(window)
    return res


def status(vault: Vault, *, actor: Actor) -> list[dict[str, Any]]:
    """The KEK versions, their state, and when each retired one may be destroyed (audited)."""
    op = Operation("keys.status", actor)
    with vault.operation(op):
        authorise(actor, "keys", register=vault.register, op=op)
        window = vault.config.kek_retire_window
        since = vault.keys.retired_since()
        versions = vault.keys.versions()
    for r in versions:
        ver = str(r["version"])
        r["retired_since"] = since.get(ver)
        r["destroyable_at"] = (window.after(since[ver])
                               if r["state"] == "retired" and ver in since else None)
    return versions
