"""The core functions the pages call, in one place.

Where another branch's module owns a feature (``confida.rights``/``confida.request``,
``confida.subject_token``, ``confida.export.training``, ``confida.compliance``,
``confida.breach``, ``confida.audit``) and is not in this build yet, the page works through the
interim seam named here (``confida.rights_interim``, ``confida.web.subject_link``) or says the
module is missing. Swapping a seam for the real module is a change to this file only.
"""

from __future__ import annotations

import importlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

from confida import consent, record
from confida import rights_interim as rights
from confida.vault import Actor, Vault
from confida.web import subject_link


def optional(module: str) -> Any | None:
    """The module if this build has it (a later branch), else None."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        raise


# --- privacy center --------------------------------------------------------------------------


def subject_from_link(vault: Vault, token: str) -> str:
    return subject_link.verify(vault, token)


@dataclass(frozen=True)
class Holding:
    kind: str
    kind_description: str
    purpose: str
    purpose_description: str
    legal_basis: str
    retention: str
    recipients: list[str]
    count: int


def holdings(vault: Vault, external_id: str, actor: Actor) -> list[Holding]:
    """Held data by kind and purpose, described from the register (metadata only)."""
    metas = record.list_records(vault, external_id, actor=actor, limit=100_000)
    counts = Counter((m.kind, m.purpose) for m in metas)
    reg = vault.register
    out = []
    for (kind, purpose), n in sorted(counts.items()):
        p = reg.purpose(purpose)
        out.append(Holding(
            kind, reg.kind(kind).description, purpose, p.description, p.legal_basis.value,
            str(reg.retention_for(kind, purpose)), list(p.recipients), n,
        ))
    return out


def consent_state(vault: Vault, external_id: str) -> dict[str, dict[str, object]]:
    return consent.state(vault, external_id)


def set_consent(vault: Vault, external_id: str, purpose: str, on: bool, actor: Actor) -> str:
    """Grant or withdraw, recorded with the notice version the page showed."""
    version = vault.notice_version()
    (consent.grant if on else consent.withdraw)(
        vault, external_id, purpose, source="web", notice_version=version, actor=actor
    )
    return version


def access_export(vault: Vault, external_id: str, actor: Actor) -> bytes:
    return rights.access_export(vault, external_id, actor=actor)


def submit_request(vault: Vault, external_id: str, type_: str, *, purpose: str | None,
                   text: str | None, actor: Actor) -> Any:
    return rights.submit(vault, external_id, type_, purpose=purpose, text=text, actor=actor)


def my_requests(vault: Vault, external_id: str) -> list[Any]:
    return rights.of_subject(vault, external_id)


def erase(vault: Vault, external_id: str, actor: Actor) -> Any:
    return rights.erase(vault, external_id, actor=actor)


def is_erased(vault: Vault, external_id: str) -> bool:
    from confida import subject as subjects

    with vault.engine.connect() as conn:
        return subjects.find(vault, conn, external_id) is None


def training_export(vault: Vault) -> list[str]:
    """Record ids the next training export would take (interim: ``training_candidates``)."""
    return rights.training_candidates(vault)


# --- console ---------------------------------------------------------------------------------


def staff_login(vault: Vault, api_key: str) -> Actor:
    """The actor for an API key; the role must be allowed to handle requests (deny default)."""
    from confida import access, credential

    actor = credential.authenticate(vault, api_key)
    access.decide(vault.register, actor, "requests")
    return actor


def staff_requests(vault: Vault, actor: Actor) -> list[Any]:
    return rights.list_requests(vault, actor=actor)


def complete_request(vault: Vault, request_id: str, actor: Actor) -> Any:
    return rights.complete(vault, request_id, actor=actor)


def extend_request(vault: Vault, request_id: str, months: int, reason: str, actor: Actor) -> Any:
    return rights.extend(vault, request_id, months, reason, actor=actor)


def key_status(vault: Vault) -> dict[str, Any]:
    return {
        "provider": vault.config.kek_provider,
        "versions": vault.keys.versions(),
        "current": vault.keys.current_version(),
    }
