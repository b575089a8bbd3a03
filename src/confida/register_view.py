"""Reading the processing register through the API: an audited, role-checked operation.

The register names the kinds, purposes and roles in force; it holds no personal data, but who
looked at the rules an installation enforces is still worth a line in the log.
"""

from __future__ import annotations

from typing import Any

from confida.authz import authorise
from confida.operation import Actor, Operation
from confida.vault import Vault


def read_register(vault: Vault, *, actor: Actor) -> dict[str, Any]:
    """The register in force, as JSON-ready data."""
    with vault.operation(Operation("register.read", actor)) as (_conn, op):
        authorise(actor, "register", register=vault.register, op=op)
    return vault.register.model_dump(mode="json")
