"""The core functions the pages call, in one place: each maps a page's input to one core call
made as the visitor (the person, or the staff member) and returns what the page shows.
"""

from __future__ import annotations

import hmac
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from confida.errors import AccessDenied, BadInput, Refused, SubjectErased, Unauthenticated
from confida.export.training import dataset_subjects, export_training
from confida.operation import Actor
from confida.register.models import localized
from confida.rights import rectification
from confida.transparency.i18n import period
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
    #: a consent-based purpose whose consent is not in force (withdrawn or never given): the
    #: records are kept until their retention ends but no longer used for it
    consent_off: bool = False


def _subject_id(actor: Actor) -> str:
    if actor.subject_id is None:
        raise BadInput("the privacy center acts for a data subject")
    return actor.subject_id


def in_lang(value: Any, lang: str) -> Any:
    """A register text in the page's language (English when the register has no translation)."""
    return localized(value, lang)


def duration(value: Any, lang: str) -> str:
    """A retention period in words of the page's language: ``2 years`` / ``2 Jahre``."""
    return period(value, lang if lang in ("en", "de") else "en") if value is not None else ""


def holdings(vault: Vault, actor: Actor, lang: str = "en",
             consent_on: dict[str, bool] | None = None) -> list[Holding]:
    """Held data by kind and purpose, described from the register (metadata only), in ``lang``.

    ``consent_on`` is the person's consent state per consent-based purpose: records held for
    one whose consent is not in force are marked (``consent_off``), not shown as consented.
    """
    metas = record.list_records(vault, "", subject_id=_subject_id(actor), actor=actor,
                                limit=100_000)
    counts = Counter((m.kind, m.purpose) for m in metas)
    reg = vault.register
    states = consent_on or {}
    out = []
    for (kind, purpose), n in sorted(counts.items()):
        p = reg.purpose(purpose)
        out.append(Holding(
            kind, in_lang(reg.kind(kind).description, lang), purpose,
            in_lang(p.description, lang), p.legal_basis.value,
            duration(reg.retention_for(kind, purpose), lang),
            [in_lang(r, lang) for r in p.recipients], n,
            consent_off=p.consent_required and not states.get(purpose, False),
        ))
    return out


def overview(vault: Vault, actor: Actor, lang: str = "en") -> dict[str, Any]:
    """What the overview page shows, in ``lang``: holdings, consents, objectable purposes,
    requests."""
    subject_id = _subject_id(actor)
    if is_erased(vault, actor):
        raise SubjectErased("this subject's data has been erased")
    states, _events = consent.show(vault, subject_id=subject_id, actor=actor)
    reg = vault.register
    on = {name: bool(states.get(name, {}).get("granted"))
          for name, p in reg.purposes.items() if p.consent_required}
    consents = [
        {"purpose": name, "prompt": in_lang(p.consent_prompt or p.description, lang),
         "description": in_lang(p.description, lang), "on": on[name]}
        for name, p in reg.purposes.items() if p.consent_required
    ]
    objectable = [{"name": n, "description": in_lang(p.description, lang)}
                  for n, p in reg.purposes.items()
                  if p.legal_basis.value in ("legitimate_interests", "public_task")]
    return {"holdings": holdings(vault, actor, lang, on), "consents": consents,
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
                   request_id: str | None, actor: Actor, text: str = "") -> Any:
    """Restriction and objection take effect at once (``confida.rights``); a correction is
    recorded with its deadline for staff to carry out, with the person's own words (what is
    wrong, what it should be) sealed under their data key (``rights.rectification``)."""
    kw: dict[str, Any] = {"verified_by": VERIFIED_BY, "request_id": request_id, "actor": actor,
                          "subject_id": _subject_id(actor)}
    if type_ == "restriction":
        return rights.restrict(vault, "", **kw)
    if type_ == "objection":
        if not purpose:
            raise BadInput("an objection names the purpose objected to")
        return rights.object_to(vault, "", purpose, **kw)
    if type_ == "rectification":
        return rectification.request_correction(vault, "", text, **kw)
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


#: The console's filters: by status ("open": any not yet answered), type, and due date
#: (overdue, or due within so many days).
STATUS_FILTERS = ("open", *request.STATUSES)
TYPE_FILTERS = request.TYPES
DUE_FILTERS = {"overdue": None, "7": 7, "30": 30}


@dataclass(frozen=True)
class RequestFilter:
    """The console's search and filters (query string): id or pseudonym, status, type, due."""

    q: str = ""
    status: str = ""
    type: str = ""
    due: str = ""

    @classmethod
    def of(cls, q: str = "", status: str = "", type_: str = "", due: str = "") -> RequestFilter:
        """Only known values are kept: an unknown filter is no filter (the form offers them)."""
        return cls(
            q=" ".join(q.split())[:100],
            status=status if status in STATUS_FILTERS else "",
            type=type_ if type_ in TYPE_FILTERS else "",
            due=due if due in DUE_FILTERS else "",
        )

    @property
    def active(self) -> bool:
        return bool(self.q or self.status or self.type or self.due)

    def keep(self, r: Any, now: datetime) -> bool:
        needle = self.q.lower()
        if needle and needle not in r.id.lower() and needle not in r.subject.lower():
            return False
        if self.status == "open" and not r.is_open:
            return False
        if self.status not in ("", "open") and r.status != self.status:
            return False
        if self.type and r.type != self.type:
            return False
        if self.due == "overdue":
            return bool(r.overdue)
        if self.due:
            return r.is_open and r.due_at <= now + timedelta(days=DUE_FILTERS[self.due] or 0)
        return True


@dataclass(frozen=True)
class StaffRequests:
    """The console's request list: the requests the filter keeps, how many there are in all,
    and the correction texts (``None`` when the role may not read them)."""

    rows: list[Any]
    total: int
    all: list[Any]
    notes: dict[str, str] | None = field(default=None)


def staff_requests(vault: Vault, actor: Actor) -> list[Any]:
    """Every request, overdue first, then open ones by deadline, then closed ones."""
    reqs = request.list_requests(vault, actor=actor)
    return sorted(reqs, key=lambda r: (not r.overdue, not r.is_open, r.due_at))


def staff_request_view(vault: Vault, actor: Actor, flt: RequestFilter) -> StaffRequests:
    """The requests page: every request (``staff_requests``), searched and filtered on the
    server, and the correction texts of the rows shown for a role that may carry out rights
    (``rights.rectification.correction_notes`` decides and audits)."""
    reqs = staff_requests(vault, actor)
    now = vault.clock()
    rows = [r for r in reqs if flt.keep(r, now)]
    with_note = [r.id for r in rows if r.details.get("note")]
    notes: dict[str, str] | None = {}
    if with_note:
        try:
            notes = rectification.correction_notes(vault, with_note, actor=actor)
        except AccessDenied:
            notes = None
    return StaffRequests(rows, len(reqs), reqs, notes)


#: Why a console sign-in failed, from the core's refusal, as a message key. The wording says
#: no more than the API's 401 does: "revoked" and "expired" are only told to someone holding
#: the key's secret (the core checks the secret first), and an unknown key and a wrong secret
#: read the same.
SIGN_IN_REASONS = {
    "malformed API key": "login_malformed",
    "malformed credential": "login_malformed",
    "invalid API key": "login_unknown",
    "API key revoked": "login_revoked",
    "API key expired": "login_expired",
    "token expired": "login_token_expired",
}


def sign_in_failure(exc: Refused) -> str:
    """The message key for a refused console sign-in."""
    if isinstance(exc, AccessDenied):
        return "login_role"
    # API keys fail with the messages above; anything else is the OIDC verifier's
    return SIGN_IN_REASONS.get(exc.message, "login_token_invalid")


#: Why a privacy-center link was refused: only a genuine link (its signature verified) can be
#: told apart as expired or already used; anything else is simply not valid.
LINK_REASONS = {
    "subject token expired": "link_expired",
    "this privacy-center link was already used": "link_used",
}


def link_failure(exc: Exception) -> str:
    """The message key for a refused privacy-center link."""
    return LINK_REASONS.get(getattr(exc, "message", ""), "link_invalid")


def complete_request(vault: Vault, request_id: str, actor: Actor) -> Any:
    return request.complete(vault, request_id, actor=actor)


def extend_request(vault: Vault, request_id: str, months: int, reason: str, actor: Actor) -> Any:
    return request.extend(vault, request_id, months, reason, actor=actor)


def _when(value: Any) -> str:
    """A moment to the minute, UTC (``2026-12-08 14:05``); text as it is, nothing as empty."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def key_status(vault: Vault, actor: Actor) -> dict[str, Any]:
    """The KEK provider, its versions (as `confida keys status` lists them, times to the
    minute in UTC) and the current one."""
    versions = kek_lifecycle.status(vault, actor=actor)
    rows = [
        {"version": str(v.get("version", "")), "provider": str(v.get("provider") or ""),
         "state": str(v.get("state", "")), "created": _when(v.get("created_at")),
         "retired": _when(v.get("retired_since") or v.get("retired_at")),
         "destroyable": _when(v.get("destroyable_at")), "destroyed": _when(v.get("destroyed_at"))}
        for v in versions
    ]
    return {"provider": vault.config.kek_provider, "versions": rows,
            "current": current_of(versions)}


def register(vault: Vault, actor: Actor, lang: str = "en") -> dict[str, Any]:
    """The register in force (role-checked, audited), its hash, the notice version, and its
    purposes as the page shows them (texts and periods in ``lang``)."""
    reg = register_view.read_register(vault, actor=actor)
    purposes = [  # the same register, as models: its texts per language, its periods parsed
        {"name": name, "description": in_lang(p.description, lang),
         "legal_basis": p.legal_basis.value, "retention": duration(p.retention, lang)}
        for name, p in vault.register.purposes.items()
    ]
    return {"reg": reg, "purposes": purposes, "reg_hash": vault.register.content_hash(),
            "notice_version": vault.notice_version()}


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
    """The compliance run (``confida.compliance``) with how many checks passed, failed and did
    not apply (the report's own ``passed`` is whether all did, ``failed`` the failed ids)."""
    doc = as_dict(run_compliance(vault, actor=actor))
    statuses = Counter(c["status"] for c in doc["checks"])
    doc["counts"] = {"passed": statuses.get("pass", 0), "failed": statuses.get("fail", 0),
                     "na": statuses.get("not-applicable", 0)}
    return doc


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
