"""The core functions the pages call, in one place.

Where another branch's module owns a feature (``confida.rights``/``confida.request``,
``confida.subject_token``, ``confida.export.training``, ``confida.compliance``,
``confida.breach``, ``confida.audit``) and is not in this build yet, the page works through the
interim seam named here (``confida.rights_interim``, ``confida.web.subject_link``) or says the
module is missing. Swapping a seam for the real module is a change to this file only.
"""

from __future__ import annotations

import importlib
import io
from collections import Counter
from dataclasses import dataclass
from typing import Any

import jwt

from confida import breach, consent, credential, record, request
from confida import subject as subjects
from confida.audit import reads as audit_reads
from confida.compliance.report import as_dict
from confida.compliance.run import run_compliance
from confida.errors import BadInput, Unauthenticated
from confida.operation import Actor
from confida.vault import Vault
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


VERIFIED_BY = "privacy-center:subject-link"  # the host's login, vouched for by its link


def access_export(vault: Vault, external_id: str, actor: Actor) -> bytes:
    """Art. 15/20 export (``confida.rights``): the zip, completed as a tracked request."""
    from confida import rights

    buf = io.BytesIO()
    rights.access_export(vault, external_id, buf, verified_by=VERIFIED_BY, actor=actor)
    return buf.getvalue()


def submit_request(vault: Vault, external_id: str, type_: str, *, purpose: str | None,
                   request_id: str | None, actor: Actor) -> Any:
    """Restriction and objection take effect at once (``confida.rights``); a correction is
    recorded with its deadline for staff to carry out (what to correct is agreed with the
    person through the host, so no free text lands in the store)."""
    from confida import request, rights

    kw: dict[str, Any] = {"verified_by": VERIFIED_BY, "request_id": request_id, "actor": actor}
    if type_ == "restriction":
        return rights.restrict(vault, external_id, **kw)
    if type_ == "objection":
        if not purpose:
            raise BadInput("an objection names the purpose objected to")
        return rights.object_to(vault, external_id, purpose, **kw)
    if type_ == "rectification":
        return request.submit(vault, request.RECTIFICATION, external_id, VERIFIED_BY,
                              request_id=request_id, actor=actor)
    raise BadInput("unknown request type")


def my_requests(vault: Vault, external_id: str) -> list[Any]:
    """The person's own requests, newest first."""
    from confida import request

    with vault.engine.connect() as conn:
        s = subjects.find(vault, conn, external_id)
        return [] if s is None else list(reversed(request.of_subject(vault, conn, s.id)))


def erase(vault: Vault, external_id: str, actor: Actor) -> Any:
    from confida import rights

    return rights.erase(vault, external_id, verified_by=VERIFIED_BY, actor=actor)


def is_erased(vault: Vault, external_id: str) -> bool:
    with vault.engine.connect() as conn:
        s = subjects.find(vault, conn, external_id)
    return s is None or s.status in (subjects.ERASED, subjects.ERASING)


def training_export(vault: Vault, out_dir: Any, *, actor: Actor) -> set[str]:
    """Run the training export (``confida.export.training``) into ``out_dir``; return the ids
    of the subjects it took, from the pseudonymous references it recorded for the dataset.

    Used by the tests and the demo to show that an opt-out in the privacy center reaches the
    very next export; the page itself only records the consent.
    """
    from sqlalchemy import select

    from confida.export.training import SYSTEM_PREFIX, export_training
    from confida.store.schema import downstream_ref

    result = export_training(vault, out_dir, formats=["jsonl"], actor=actor)
    with vault.engine.connect() as conn:
        rows = conn.execute(select(downstream_ref.c.subject_id).where(
            downstream_ref.c.system == SYSTEM_PREFIX + result.dataset_id)).all()
    return {r.subject_id for r in rows}


# --- console ---------------------------------------------------------------------------------


def staff_login(vault: Vault, secret: str, oidc: Any = None) -> tuple[Actor, int | None]:
    """The actor for an API key or (when ``[oidc]`` is configured) an OIDC ID token, and the
    token's expiry (Unix time) when it has one. The core decides whether the role may handle
    requests (deny by default), and audits the sign-in."""
    exp: int | None = None
    if credential.looks_like_key(secret):
        actor = credential.authenticate(vault, secret)
    elif oidc is not None and secret.count(".") == 2:
        actor = oidc.authenticate(secret, set(vault.register.roles))
        exp = int(jwt.decode(secret, options={"verify_signature": False})["exp"])  # verified
    else:
        raise Unauthenticated("malformed credential")
    request.sign_in(vault, actor=actor)
    return actor, exp


def staff_still_valid(vault: Vault, actor_id: str) -> bool:
    """A console session ends as soon as its API key is revoked or expires."""
    if not actor_id.startswith("apikey:"):
        return actor_id.startswith("oidc:")  # bounded by the token's expiry in the session
    return credential.still_active(vault, Actor(id=actor_id))


def staff_requests(vault: Vault, actor: Actor) -> list[Any]:
    """Every request, overdue first, then open ones by deadline, then closed ones."""
    reqs = request.list_requests(vault, actor=actor)
    return sorted(reqs, key=lambda r: (not r.overdue, not r.is_open, r.due_at))


def complete_request(vault: Vault, request_id: str, actor: Actor) -> Any:
    return request.complete(vault, request_id, actor=actor)


def extend_request(vault: Vault, request_id: str, months: int, reason: str, actor: Actor) -> Any:
    return request.extend(vault, request_id, months, reason, actor=actor)


def key_status(vault: Vault) -> dict[str, Any]:
    return {
        "provider": vault.config.kek_provider,
        "versions": vault.keys.versions(),
        "current": vault.keys.current_version(),
    }


# --- transparency (confida.transparency, confida.compliance, confida.breach) -----------------


def notice_html(vault: Vault, lang: str) -> tuple[str, str]:
    """The privacy notice as an HTML fragment for the page layout, and its version.

    ``confida.transparency.notice`` renders a standalone, autoescaped document with an inline
    stylesheet; the page keeps its body only (the console's CSP forbids inline style), and turns
    its ``header``/``main``/``footer`` into plain blocks so the page keeps one set of landmarks.
    """
    import re

    from confida.transparency.notice import backup_days, render_notice

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
