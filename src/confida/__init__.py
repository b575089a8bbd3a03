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

from pathlib import Path

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
from confida.version import __version__

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
    config = where if isinstance(where, Config) else Config.load(Path(where))
    return Vault.open(config)
