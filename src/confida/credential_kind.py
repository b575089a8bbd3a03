"""Which kind of credential opens which part of the API, decided in the core.

A subject token lets a person act on their own data through ``/v1/me`` only; a staff or
service credential (an API key, an OIDC token) opens the rest. The server's dependencies ask
here, so that the rule, and the audit entry of a refusal, are not in the adapter.

This is authentication (which kind of credential an endpoint accepts), not an access decision:
the core operation the endpoint then calls decides, through :func:`confida.authz.authorise`,
what the caller may do. A subject token reaching a staff endpoint would be refused there too;
refusing it here first keeps the answer "use /v1/me" instead of a generic denial.
"""

from __future__ import annotations

from confida import credential
from confida.errors import AccessDenied
from confida.operation import Actor
from confida.vault import Vault

__all__ = ["require_staff", "require_subject"]


def require_staff(vault: Vault, caller: Actor, subject_id: str | None) -> Actor:
    """``actor`` when it holds a staff or service credential; a subject token is refused (and
    the refusal logged)."""
    if subject_id is not None or caller.subject_id is not None or caller.role is None:
        credential.refuse(vault, "auth.authorise",
                          AccessDenied("a subject token only opens /v1/me"), caller)
    return caller


def require_subject(vault: Vault, caller: Actor, subject_id: str | None) -> str:
    """The subject a subject token acts for; any other credential is refused (and logged)."""
    if subject_id is None:
        credential.refuse(vault, "auth.authorise",
                          AccessDenied("/v1/me needs a subject token"), caller)
    assert subject_id is not None  # refuse() raised otherwise
    return subject_id
