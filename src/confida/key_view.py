"""What the console shows about the installation's keys: an audited, role-checked read.

Only metadata (the KEK provider, its versions and which one is current), never key material;
who looked is still worth a line in the log, and only a role with ``keys`` may look.
"""

from __future__ import annotations

from typing import Any

from confida.authz import authorise
from confida.operation import Actor, Operation
from confida.vault import Vault


def key_status(vault: Vault, *, actor: Actor) -> dict[str, Any]:
    """The KEK provider, its versions and the current one."""
    with vault.operation(Operation("keys.status", actor)) as (_conn, op):
        authorise(actor, "keys", register=vault.register, op=op)
        out = {
            "provider": vault.config.kek_provider,
            "versions": vault.keys.versions(),
            "current": vault.keys.current_version(),
        }
    return out
