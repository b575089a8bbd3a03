"""The core functions the pages call, in one place: each maps a page's input to one core call
made as the visitor (the person, or the staff member) and returns what the page shows.
"""

from __future__ import annotations

import hmac
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from confida import (
    breach,
    consent,
    credential,
    kek_lifecycle,
    record,
    register_view,
    request,
    rights,
    web_sessions,
)
from confida.audit import reads as audit_reads
from confida.compliance.report import as_dict
from confida.compliance.run import run_compliance
from confida.crypto.keystore import current_of
from confida.errors import BadInput, SubjectErased, Unauthenticated
from confida.export.training import dataset_subjects, export_training
from confida.operation import Actor
from confida.transparency.notice import backup_days, render_notice
from confida.vault import Vault

# --- privacy center --------------------------------------------------------------------------


def enter(vault: Vault, token: str) -> web_sessions.WebSession:
    """Open a privacy-center session with a single-use link token."""
    return web_sessions.enter_privacy_center(vault, token)


def sign_out(vault: Vault, server: web_sessions.WebSession, actor: Actor) -> None:
    web_sessions.sign_out(vault, server, actor=actor)


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


def _subject_id(actor: Actor) -> str:
    if actor.subject_id is None:
        raise BadInput("the privacy center acts for a data subject")
    return actor.subject_id


def holdings(vault: Vault, actor: Actor) -> list[Holding]:
    """Held data by kind and purpose, described from the register (metadata only)."""
    metas = record.list_records(vault, "", subject_id=_subject_id(actor), actor=actor,
                                limit=100_000)
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


def overview(vault: Vault, actor: Actor) -> dict[str, Any]:
    """What the overview page shows: holdings, consents, objectable purposes, requests."""
    subject_id = _subject_id(actor)
    if is_erased(vault, actor):
        raise SubjectErased("this subject's data has been erased")
    states, _events = consent.show(vault, subject_id=subject_id, actor=actor)
    reg = vault.register
    consents = [
        {"purpose": name, "prompt": p.consent_prompt or p.description,
         "description": p.description, "on": bool(states.get(name, {}).get("granted"))}
        for name, p in reg.purposes.items() if p.consent_required
    ]
    objectable = [{"name": n, "description": p.description} for n, p in reg.purposes.items()
                  if p.legal_basis.value in ("legitimate_interests", "public_task")]
    return {"holdings": holdings(vault, actor), "consents": consents,
            "notice_version": vault.notice_version(), "requests": my_requests(vault, actor),
            "objectable": objectable}


class NoticeChanged(BadInput):
    """The notice the page showed is no longer the one in force."""


def set_consent(vault: Vault, purpose: str, on: bool, shown_version: str,
                actor: Actor) -> str:
    """Grant or withdraw, recorded with the notice version the page showed (which must still
    be the one in force)."""
    version = vault.notice_version()
    if not shown_version or not hmac.compare_digest(version.encode(), shown_version.encode()):
        raise NoticeChanged("the privacy notice changed; reload the page")
    (consent.grant if on else consent.withdraw)(
        vault, "", purpose, subject_id=_subject_id(actor), source="web",
        notice_version=version, actor=actor,
    )
    return version


VERIFIED_BY = "privacy-center:subject-link"  # the host's login, vouched for by its link


def access_export(vault: Vault, actor: Actor) -> bytes:
    """Art. 15/20 export (``confida.rights``): the zip, completed as a tracked request."""

    buf = io.BytesIO()
    rights.access_export(vault, "", buf, subject_id=_subject_id(actor),
                         verified_by=VERIFIED_BY, actor=actor)
    return buf.getvalue()


def submit_request(vault: Vault, type_: str, *, purpose: str | None,
                   request_id: str | None, actor: Actor) -> Any:
    """Restriction and objection take effect at once (``confida.rights``); a correction is
    recorded with its deadline for staff to carry out (what to correct is agreed with the
    person through the host, so no free text lands in the store)."""
    kw: dict[str, Any] = {"verified_by": VERIFIED_BY, "request_id": request_id, "actor": actor,
                          "subject_id": _subject_id(actor)}
    if type_ == "restriction":
        return rights.restrict(vault, "", **kw)
    if type_ == "objection":
        if not purpose:
            raise BadInput("an objection names the purpose objected to")
        return rights.object_to(vault, "", purpose, **kw)
    if type_ == "rectification":
        return request.submit(vault, request.RECTIFICATION, "", VERIFIED_BY,
                              request_id=request_id, subject_id=_subject_id(actor), actor=actor)
    raise BadInput("unknown request type")


def my_requests(vault: Vault, actor: Actor) -> list[Any]:
    """The person's own requests, newest first (the core lists a subject's own only)."""
    _subject_id(actor)
    mine = request.list_requests(vault, actor=actor)
    return sorted(mine, key=lambda r: (r.received_at, r.id), reverse=True)


def erase(vault: Vault, actor: Actor) -> Any:

    return rights.erase(vault, "", subject_id=_subject_id(actor), verified_by=VERIFIED_BY,
                        actor=actor)


def is_erased(vault: Vault, actor: Actor) -> bool:
    """Whether the person this session acts for is erased or being erased."""
    return web_sessions.subject_erased(vault, actor=actor)


def training_export(vault: Vault, out_dir: Any, *, actor: Actor) -> set[str]:
    """Run the training export (``confida.export.training``) into ``out_dir``; return the ids
    of the subjects it took, from the pseudonymous references it recorded for the dataset.

    Used by the tests and the demo to show that an opt-out in the privacy center reaches the
    very next export; the page itself only records the consent.
    """
    result = export_training(vault, out_dir, formats=["jsonl"], actor=actor)
    return dataset_subjects(vault, result.dataset_id, actor=actor)


# --- console ---------------------------------------------------------------------------------


def sign_in(vault: Vault, secret: str, oidc: Any = None) -> tuple[web_sessions.WebSession,
                                                                 str | None]:
    """Open a console session for an API key or (when ``[oidc]`` is configured) an OIDC ID
    token; the core refuses a role that may not handle requests, and audits the sign-in.
    Returns the session and the role the pages act with."""
    not_after = None
    if credential.looks_like_key(secret):
        actor = credential.authenticate(vault, secret)
    elif oidc is not None and secret.count(".") == 2:
        actor = oidc.authenticate(secret, set(vault.register.roles))
        exp = int(jwt.decode(secret, options={"verify_signature": False})["exp"])  # verified
        not_after = datetime.fromtimestamp(exp, tz=UTC)
    else:
        raise Unauthenticated("malformed credential")
    actor = Actor(id=actor.id, role=actor.role, source="web")
    request.sign_in(vault, actor=actor)
    return web_sessions.open_console(vault, actor, not_after=not_after), actor.role


def staff_requests(vault: Vault, actor: Actor) -> list[Any]:
    """Every request, overdue first, then open ones by deadline, then closed ones."""
    reqs = request.list_requests(vault, actor=actor)
    return sorted(reqs, key=lambda r: (not r.overdue, not r.is_open, r.due_at))


def complete_request(vault: Vault, request_id: str, actor: Actor) -> Any:
    return request.complete(vault, request_id, actor=actor)


def extend_request(vault: Vault, request_id: str, months: int, reason: str, actor: Actor) -> Any:
    return request.extend(vault, request_id, months, reason, actor=actor)


def key_status(vault: Vault, actor: Actor) -> dict[str, Any]:
    """The KEK provider, its versions (as `confida keys status` lists them) and the current one."""
    versions = kek_lifecycle.status(vault, actor=actor)
    return {"provider": vault.config.kek_provider, "versions": versions,
            "current": current_of(versions)}


def register(vault: Vault, actor: Actor) -> dict[str, Any]:
    """The register in force (role-checked, audited), its hash and the notice version."""
    return {"reg": register_view.read_register(vault, actor=actor),
            "reg_hash": vault.register.content_hash(), "notice_version": vault.notice_version()}


# --- transparency (confida.transparency, confida.compliance, confida.breach) -----------------


def notice_html(vault: Vault, lang: str) -> tuple[str, str]:
    """The privacy notice as an HTML fragment for the page layout, and its version.

    ``confida.transparency.notice`` renders a standalone, autoescaped document with an inline
    stylesheet; the page keeps its body only (the console's CSP forbids inline style), and turns
    its ``header``/``main``/``footer`` into plain blocks so the page keeps one set of landmarks.
    """
    n = render_notice(vault.register, "html", lang if lang in ("en", "de") else "en",
                      backup_days(vault.config))
    m = re.search(r"<body[^>]*>(.*)</body>", n.text, flags=re.S)
    body = m.group(1) if m else ""
    body = re.sub(r"<style.*?</style>", "", body, flags=re.S)
    body = re.sub(r"<(/?)(header|main|footer)\b[^>]*>", r"<\1div>", body)
    return body, n.version


def compliance_report(vault: Vault, actor: Actor) -> dict[str, Any]:
    return as_dict(run_compliance(vault, actor=actor))


def breaches(vault: Vault, actor: Actor) -> list[dict[str, Any]]:
    """The breach register with each 72-hour clock (Art. 33(1)), newest first."""
    found = breach.list_breaches(vault, actor=actor)
    now = vault.clock()
    return [
        {"b": b, "overdue": b.overdue(now), "hours_left": b.hours_left(now),
         "individual_notice": b.individual_notice_required}
        for b in reversed(found)
    ]


# --- audit log (confida.audit) ---------------------------------------------------------------


def audit_status(vault: Vault, actor: Actor, *, verify: bool = False) -> dict[str, Any]:
    """Size of the tamper-evident log, its latest signed checkpoint, and (on request) a full
    verification (``confida.audit.reads``)."""
    return audit_reads.status(vault, actor=actor, verify=verify)
