"""Confida: GDPR and confidentiality by construction for AI services.

The supported Python surface is what ``__all__`` lists; docs/python-api.md shows it in use.
Everything else is internal and may change. Every operation takes the ``actor`` it acts for
(a register role, a data subject, or a named internal job) and is authorised and audited in
the core, exactly as the API, the CLI and the web pages call it::

    import confida

    vault = confida.open_vault("./confida-data")
    me = confida.Actor(id="svc:chat-backend", role="service")
    rec = confida.collect(vault, "user-42", "account", {"email": "a@example.org"}, "service",
                          actor=me)
    confida.read(vault, rec.record_id, "service", actor=me).data
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confida.version import __version__

# --- lazy exports (PEP 562): `import confida.errors` or `import confida.client` must not load
# the core (SQLAlchemy, the PII models, ...); each name is imported from its module on first use.
if TYPE_CHECKING:
    from confida.config import Config
    from confida.consent import ConsentEvent
    from confida.consent import grant as grant_consent
    from confida.consent import show as consent_status
    from confida.consent import withdraw as withdraw_consent
    from confida.errors import (
        AccessDenied,
        BadInput,
        ConfidaError,
        ConsentRequired,
        KeyUnavailable,
        NotFound,
        ObjectionRecorded,
        PurposeNotAllowed,
        PurposeRequired,
        Refused,
        StoreUnavailable,
        SubjectErased,
        SubjectRestricted,
        Unauthenticated,
    )
    from confida.operation import Actor, subject_actor, system_actor
    from confida.pii import Finding, Policy, anonymize, detect
    from confida.record import (
        Collected,
        CollectItem,
        Record,
        RecordMeta,
        collect,
        collect_many,
        list_records,
        read,
        update,
    )
    from confida.request import Request
    from confida.request import list_requests as list_requests
    from confida.request import submit as submit_request
    from confida.rights.access import access_export
    from confida.rights.erasure import Erasure, erase, set_legal_hold
    from confida.rights.feed import erasure_feed
    from confida.rights.objection import object_to
    from confida.rights.rectification import rectify
    from confida.rights.restriction import lift_restriction, restrict
    from confida.subject_token import issue as issue_subject_token
    from confida.subject_token import privacy_link
    from confida.token_map import detokenize
    from confida.vault import Vault, initialise_stores

#: public name -> (module, name in that module)
_EXPORTS: dict[str, tuple[str, str]] = {
    **{n: ("confida.errors", n) for n in (
        "AccessDenied", "BadInput", "ConfidaError", "ConsentRequired", "KeyUnavailable",
        "NotFound", "ObjectionRecorded", "PurposeNotAllowed", "PurposeRequired", "Refused",
        "StoreUnavailable", "SubjectErased", "SubjectRestricted", "Unauthenticated")},
    **{n: ("confida.record", n) for n in (
        "Collected", "CollectItem", "Record", "RecordMeta", "collect", "collect_many",
        "list_records", "read", "update")},
    **{n: ("confida.operation", n) for n in ("Actor", "subject_actor", "system_actor")},
    **{n: ("confida.pii", n) for n in ("Finding", "Policy", "anonymize", "detect")},
    **{n: ("confida.rights.erasure", n) for n in ("Erasure", "erase", "set_legal_hold")},
    **{n: ("confida.rights.restriction", n) for n in ("lift_restriction", "restrict")},
    **{n: ("confida.vault", n) for n in ("Vault", "initialise_stores")},
    "Config": ("confida.config", "Config"),
    "ConsentEvent": ("confida.consent", "ConsentEvent"),
    "grant_consent": ("confida.consent", "grant"),
    "consent_status": ("confida.consent", "show"),
    "withdraw_consent": ("confida.consent", "withdraw"),
    "Request": ("confida.request", "Request"),
    "list_requests": ("confida.request", "list_requests"),
    "submit_request": ("confida.request", "submit"),
    "access_export": ("confida.rights.access", "access_export"),
    "erasure_feed": ("confida.rights.feed", "erasure_feed"),
    "object_to": ("confida.rights.objection", "object_to"),
    "rectify": ("confida.rights.rectification", "rectify"),
    "issue_subject_token": ("confida.subject_token", "issue"),
    "privacy_link": ("confida.subject_token", "privacy_link"),
    "detokenize": ("confida.token_map", "detokenize"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'confida' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
# --- end of lazy exports


__all__ = [
    "AccessDenied",
    "Actor",
    "BadInput",
    "CollectItem",
    "Collected",
    "ConfidaError",
    "Config",
    "ConsentEvent",
    "ConsentRequired",
    "Erasure",
    "Finding",
    "KeyUnavailable",
    "NotFound",
    "ObjectionRecorded",
    "Policy",
    "PurposeNotAllowed",
    "PurposeRequired",
    "Record",
    "RecordMeta",
    "Refused",
    "Request",
    "StoreUnavailable",
    "SubjectErased",
    "SubjectRestricted",
    "Unauthenticated",
    "Vault",
    "__version__",
    "access_export",
    "anonymize",
    "collect",
    "collect_many",
    "consent_status",
    "detect",
    "detokenize",
    "erase",
    "erasure_feed",
    "grant_consent",
    "initialise_stores",
    "issue_subject_token",
    "lift_restriction",
    "list_records",
    "list_requests",
    "object_to",
    "open_vault",
    "privacy_link",
    "read",
    "rectify",
    "restrict",
    "set_legal_hold",
    "subject_actor",
    "submit_request",
    "system_actor",
    "update",
    "withdraw_consent",
]


def open_vault(where: str | Path | Config) -> Vault:
    """Open the vault of an initialised data directory (``confida init``), or of a
    :class:`Config`. Close it with ``vault.close()`` or use it as a context manager."""
    from confida.config import Config
    from confida.vault import Vault

    config = where if isinstance(where, Config) else Config.load(Path(where))
    return Vault.open(config)
