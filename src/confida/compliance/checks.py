"""The regular audit: each check inspects the live system against the register and the law.

One function per check, each returning a :class:`CheckResult` with the article it serves and
its evidence. Evidence names ids, kinds, purposes, versions and counts, never a personal value:
the report is handed to auditors and may be stored anywhere.

Each check reads through the owning module's own functions (requests, objections, the audit
log), in the run's one snapshot.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from sqlalchemy import Connection, MetaData, Table, func, inspect, select

from confida import request as requests
from confida.audit import reads as audit_reads
from confida.breach import DEADLINE
from confida.clock import as_utc
from confida.compliance.files import check_file_permissions
from confida.compliance.result import (
    FAIL,
    MAX_IDS,
    NA,
    PASS,
    CheckResult,
    Ctx,
    ids_of,
    make_result,
)
from confida.consent import GRANT
from confida.pii import detect
from confida.register.models import (
    Register,
    SpecialCategoryCondition,
    is_valid_name,
    special_categories_of,
)
from confida.rights.objection import every_objection
from confida.store.pages import stored_images
from confida.store.schema import breach, consent_event, metadata, notice_prompt, record, subject
from confida.subject import ERASED, ERASING, RESTRICTED
from confida.transparency.serving import last_serve_mode

__all__ = ["CHECKS", "FAIL", "MAX_IDS", "NA", "PASS", "CheckResult", "Ctx"]

# Labels the raw-page scan reports: validated (checksum or strict syntax) so that random
# ciphertext and the store's own metadata (timestamps, uuids) do not read as personal data.
PLAINTEXT_LABELS = frozenset({"EMAIL", "CREDIT_CARD", "IBAN", "NATIONAL_ID"})
MIN_RUN = 6
# The full e-mail pattern, for text values. Conservative on purpose: it also runs over raw
# database pages (strictly, below), where ciphertext must not look like an address.
EMAIL = re.compile(
    rb"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63})*\.[A-Za-z]{2,24}"
)
# For binary data (ciphertext, raw database pages): lower-case only, at least three characters
# on each side of the @. Random bytes match it about once in 10^12 positions; real addresses
# as stored by applications are lower-case (mixed-case ones are found in text columns).
EMAIL_STRICT = re.compile(
    rb"[a-z0-9._%+\-]{3,64}@[a-z0-9\-]{3,63}(?:\.[a-z0-9\-]{2,63})*\.[a-z]{2,24}"
)

def _name(value: object) -> str:
    """A name read from the store, quoted only if it has the shape of a register name: a value
    written there by something else could be anything, personal data included."""
    text = str(value)
    return repr(text) if len(text) <= 64 and is_valid_name(text) else "(not a valid name)"


# --- 1. categories --------------------------------------------------------------------------


def check_categories(ctx: Ctx) -> CheckResult:
    reg = ctx.register
    problems: list[str] = []
    rows = ctx.conn.execute(
        select(record.c.kind, record.c.purpose, func.count()).group_by(
            record.c.kind, record.c.purpose
        )
    ).all()
    stored = 0
    for kind, purpose, n in rows:
        stored += n
        if kind not in reg.kinds:
            problems.append(f"{n} record(s) of kind {_name(kind)}, which the register does not "
                            "declare")
        elif purpose not in reg.purposes:
            problems.append(f"{n} record(s) for purpose {_name(purpose)}, which the register "
                            "does not declare")
        elif kind not in reg.purposes[purpose].kinds:
            problems.append(f"{n} record(s) of kind {kind!r} stored for purpose {purpose!r}, "
                            "which does not cover that kind")
    used = {c for p in reg.purposes.values() for c in p.categories}
    for kname, kind in reg.kinds.items():
        for fname, spec in kind.fields.items():
            if spec.category not in used and reg.categories[spec.category].personal:
                problems.append(f"kind {kname!r} field {fname!r} stores category "
                                f"{spec.category!r}, which no purpose may use")
    unused = sorted(set(reg.categories) - used)
    ok = [f"{stored} record(s) in {len(rows)} kind/purpose pair(s); every kind, purpose and "
          "category is declared and used by a purpose"]
    if unused:
        ok.append(f"declared but unused categories: {', '.join(unused)}")
    return make_result("categories-declared", "Every stored category is declared and used by a "
                   "purpose", "Art. 5(1)(b)-(c), 30(1)(c)", problems, ok,
                   {"records": stored, "pairs": len(rows)})


# --- 2. retention ---------------------------------------------------------------------------


def check_retention(ctx: Ctx) -> CheckResult:
    """Records past their deadline fail, except those ``confida retention run`` keeps on
    purpose (see :mod:`confida.retention`): records under legal hold, and records of a subject
    who restricted processing (Art. 18(1)(c) suspends deletion). Those are reported as kept, so
    that the remedy the check names is always one that makes it pass."""
    reg = ctx.register
    overdue: Counter[tuple[str, str]] = Counter()
    overdue_ids: list[str] = []
    too_long: list[str] = []
    held = kept_restricted = 0
    oldest: datetime | None = None
    periods: dict[tuple[str, str], Any] = {}
    restricted = {sid for (sid,) in ctx.conn.execute(
        select(subject.c.id).where(subject.c.status == RESTRICTED))}
    q = select(record.c.id, record.c.subject_id, record.c.kind, record.c.purpose,
               record.c.created_at, record.c.retain_until, record.c.legal_hold)
    for r in ctx.conn.execute(q):
        if r.legal_hold:
            held += 1
            continue
        if r.retain_until <= ctx.now:
            if r.subject_id in restricted:
                kept_restricted += 1
                continue
            overdue[(r.kind, r.purpose)] += 1
            overdue_ids.append(r.id)
            oldest = r.retain_until if oldest is None else min(oldest, r.retain_until)
        elif r.kind in reg.kinds and r.purpose in reg.purposes:
            period = periods.get((r.kind, r.purpose))
            if period is None:
                period = periods[(r.kind, r.purpose)] = reg.retention_for(r.kind, r.purpose)
            allowed = period.after(r.created_at)
            if r.retain_until > allowed + timedelta(minutes=1):
                too_long.append(r.id)
    problems = [
        f"{n} record(s) of kind {k!r} for purpose {p!r} past their retention"
        for (k, p), n in sorted(overdue.items())
    ]
    if overdue:
        days = (ctx.now - oldest).days if oldest else 0
        problems.append(f"oldest overdue by {days} day(s); records: {ids_of(overdue_ids)}; "
                        "run `confida retention run`")
    if too_long:
        problems.append(f"{len(too_long)} record(s) kept longer than the register allows: "
                        f"{ids_of(too_long)}")
    ok = ["no record is past its retention deadline"
          + (" except those kept lawfully:" if held or kept_restricted else "")]
    if held:
        ok.append(f"{held} record(s) under legal hold are exempt")
    if kept_restricted:
        ok.append(f"{kept_restricted} record(s) past their retention are kept because their "
                  "subject restricted processing (Art. 18(1)(c)); a retention run deletes them "
                  "once the restriction is lifted")
    return make_result("retention", "No record is past its retention", "Art. 5(1)(e), 17(1)(a)",
                   problems, ok, {"overdue": sum(overdue.values()), "legal_hold": held,
                                  "kept_restricted": kept_restricted})


# --- 3./4. consent and stops -----------------------------------------------------------------


@dataclass(frozen=True)
class _Ev:
    id: int
    action: str
    at: datetime


def _consent_events(conn: Connection, purposes: list[str]) -> dict[tuple[str, str], list[_Ev]]:
    out: dict[tuple[str, str], list[_Ev]] = defaultdict(list)
    if not purposes:
        return out
    q = (select(consent_event.c.id, consent_event.c.subject_id, consent_event.c.purpose,
                consent_event.c.action, consent_event.c.at)
         .where(consent_event.c.purpose.in_(purposes)).order_by(consent_event.c.id))
    for r in conn.execute(q):
        out[(r.subject_id, r.purpose)].append(_Ev(r.id, r.action, r.at))
    return out


def _state_at(events: list[_Ev], t: datetime) -> _Ev | None:
    """The event in force at ``t``: the last one recorded at or before it."""
    cur = None
    for e in events:
        if e.at <= t:
            cur = e
    return cur


def _consent_purposes(reg: Register) -> list[str]:
    return [n for n, p in reg.purposes.items() if p.consent_required]


def _erased_subjects(conn: Connection) -> set[str]:
    """Subjects whose erasure has begun: the erasure deleted their consent ledger and
    objections on purpose, so their remaining records (kept under Art. 17(3)) can only be
    judged from the audit log, which keeps what was done under the subject's pseudonym."""
    return {sid for (sid,) in conn.execute(
        select(subject.c.id).where(subject.c.status.in_([ERASED, ERASING])))}


def _kept_note(n: int, conn: Connection) -> list[str]:
    if not n:
        return []
    return [f"{n} record(s) kept through an erasure (Art. 17(3)): the erasure deleted their "
            "subject's consent history; checked against the audit log instead"]


def check_consent_at_collection(ctx: Ctx) -> CheckResult:
    cps = _consent_purposes(ctx.register)
    events = _consent_events(ctx.conn, cps)
    by_id = {e.id: (k, e) for k, evs in events.items() for e in evs}
    reasons: dict[str, list[str]] = defaultdict(list)
    erased = _erased_subjects(ctx.conn)
    n = kept = 0
    if cps:
        q = select(record.c.id, record.c.subject_id, record.c.purpose, record.c.created_at,
                   record.c.consent_event_id).where(record.c.purpose.in_(cps))
        for r in ctx.conn.execute(q):
            if r.subject_id in erased:
                kept += 1
                continue
            n += 1
            key = (r.subject_id, r.purpose)
            if r.consent_event_id is None:
                reasons["no consent on record"].append(r.id)
                continue
            hit = by_id.get(r.consent_event_id)
            if hit is None or hit[0] != key or hit[1].action != GRANT:
                reasons["references no grant of this subject for this purpose"].append(r.id)
                continue
            grant = hit[1]
            if grant.at > r.created_at:
                reasons["consent granted only after collection"].append(r.id)
                continue
            current = _state_at(events[key], r.created_at)
            if current is None or current.action != GRANT:
                reasons["consent withdrawn before collection"].append(r.id)
    problems = [f"{len(ids)} record(s): {why}: {ids_of(ids)}"
                for why, ids in sorted(reasons.items())]
    ok = [f"{n} record(s) for consent-based purposes ({', '.join(cps) or 'none'}); each had a "
          "consent in force when it was collected", *_kept_note(kept, ctx.conn)]
    return make_result("consent-at-collection", "Every record for a consent-based purpose had "
                   "consent at collection", "Art. 6(1)(a), 7(1)", problems, ok,
                   {"records": n, "kept_after_erasure": kept})


@dataclass
class _Stops:
    """What the audit log says was in force, replayed entry by entry in log order.

    The log is the evidence that survives erasure: an erasure deletes the subject's consent
    ledger and objections, but the entries of every grant, withdrawal, objection, restriction
    and erasure stay, under the subject's pseudonym. Replaying them in order also needs no
    clock: an operation logged after a withdrawal came after it.
    """

    consent: dict[tuple[str, str], str] = field(default_factory=dict)  # (pseudonym, purpose)
    restricted: dict[str, bool] = field(default_factory=dict)
    objected: set[tuple[str, str]] = field(default_factory=set)
    erased: set[str] = field(default_factory=set)

    def apply(self, e: dict[str, Any]) -> None:
        action, purpose = e.get("action"), e.get("purpose")
        details = e.get("details") if isinstance(e.get("details"), dict) else {}
        for pseud in e.get("subjects") or []:
            if action in ("consent.grant", "consent.withdraw") and purpose:
                self.consent[(pseud, purpose)] = str(action).split(".", 1)[1]
            elif action == "rights.object" and purpose:
                if details.get("effect") == "consent_withdrawn":
                    self.consent[(pseud, purpose)] = "withdraw"
                elif details.get("effect") == "objection_recorded":
                    self.objected.add((pseud, purpose))
            elif action in ("rights.restrict", "rights.restrict.lift") and details.get("status"):
                self.restricted[pseud] = details["status"] == RESTRICTED
            elif action == "rights.erase.begin":
                self.erased.add(pseud)


def check_processing_after_stop(ctx: Ctx) -> CheckResult:
    reg, conn = ctx.register, ctx.conn
    cps = _consent_purposes(reg)
    events = _consent_events(conn, cps)
    erased = _erased_subjects(conn)
    problems: list[str] = []
    evidence: list[str] = []
    # (a) consent-based records written (collected or changed) while no consent was in force;
    # records an erasure kept have no consent ledger any more: (d) covers them from the log
    bad: list[str] = []
    kept = 0
    if cps:
        q = select(record.c.id, record.c.subject_id, record.c.purpose, record.c.updated_at
                   ).where(record.c.purpose.in_(cps))
        for r in conn.execute(q):
            if r.subject_id in erased:
                kept += 1
                continue
            cur = _state_at(events.get((r.subject_id, r.purpose), []), r.updated_at)
            if cur is None or cur.action != GRANT:
                bad.append(r.id)
    if bad:
        problems.append(f"{len(bad)} record(s) written after consent was withdrawn: {ids_of(bad)}")
    evidence += _kept_note(kept, conn)
    # (b) restricted subjects: nothing written after the restriction
    restricted = {
        r.id: r.status_changed_at
        for r in conn.execute(select(subject.c.id, subject.c.status_changed_at)
                              .where(subject.c.status == RESTRICTED))
    }
    if restricted:
        rows = conn.execute(select(record.c.id, record.c.subject_id, record.c.created_at,
                                   record.c.updated_at)
                            .where(record.c.subject_id.in_(list(restricted))))
        late = [r.id for r in rows if restricted[r.subject_id] is not None
                and max(r.created_at, r.updated_at) > restricted[r.subject_id]]
        if late:
            problems.append(f"{len(late)} record(s) written after their subject's restriction: "
                            f"{ids_of(late)}")
    # (c) objections
    objections = every_objection(conn)
    if objections:
        rows = conn.execute(select(record.c.id, record.c.subject_id, record.c.purpose,
                                   record.c.created_at, record.c.updated_at))
        late = [r.id for r in rows if (r.subject_id, r.purpose) in objections
                and max(r.created_at, r.updated_at) > objections[(r.subject_id, r.purpose)]]
        if late:
            problems.append(f"{len(late)} record(s) written after an objection to their "
                            f"purpose: {ids_of(late)}")
    # (d) the audit log: allowed reads/collects/updates after a stop
    seen, after = _audit_after_stop(conn, audit_reads.entries(conn), cps, events, objections)
    for why, n in sorted(after.items()):
        problems.append(f"{n} allowed record operation(s) in the audit log {why}")
    evidence.append(f"audit entries: {seen} record operation(s) checked, in log order, "
                    "against the grants, withdrawals, objections, restrictions and "
                    "erasures logged before them")
    ok = [f"no processing after withdrawal, restriction ({len(restricted)} restricted "
          "subject(s)), objection or erasure", *evidence]
    return make_result("no-processing-after-stop", "No processing after withdrawal, objection, "
                   "restriction or erasure", "Art. 7(3), 17, 18, 21(1)",
                   problems + ([] if not problems else evidence), ok)


def _audit_after_stop(
    conn: Connection, entries: Iterable[dict[str, Any]], cps: list[str],
    events: dict[tuple[str, str], list[_Ev]], objections: dict[tuple[str, str], datetime],
) -> tuple[int, Counter[str]]:
    """Allowed record operations that the log shows came after a stop, by reason.

    State comes from the log itself (:class:`_Stops`). Where the log holds nothing about a
    subject's consent to a purpose or its restriction (a history from before the log, or
    written around it), the store's own ledger and status, by time, stand in for it.
    """
    by_pseudonym = {
        r.pseudonym: (r.id, r.status, r.status_changed_at)
        for r in conn.execute(select(subject.c.id, subject.c.pseudonym, subject.c.status,
                                     subject.c.status_changed_at))
    }
    stops = _Stops()
    seen, after = 0, Counter[str]()
    for e in entries:
        action, purpose = e.get("action", ""), e.get("purpose")
        if e.get("outcome") != "allowed":
            continue
        if not str(action).startswith("record.") or action == "record.list" or not purpose:
            stops.apply(e)
            continue
        try:
            t = as_utc(e.get("time"))
        except ValueError:
            continue
        if t is None:
            continue
        seen += 1
        for pseud in e.get("subjects") or []:
            s = by_pseudonym.get(pseud)
            if s is None:
                continue
            sid, status, changed = s
            if pseud in stops.erased:
                after["after the subject's erasure"] += 1
                continue
            restricted = stops.restricted.get(pseud)
            if restricted is None:
                restricted = status == RESTRICTED and changed is not None and t > changed
            if restricted:
                after["after restriction"] += 1
            if purpose in cps:
                state = stops.consent.get((pseud, purpose))
                if state is None:
                    cur = _state_at(events.get((sid, purpose), []), t)
                    state = cur.action if cur is not None else None
                if state != GRANT:
                    after["without consent in force"] += 1
            if (pseud, purpose) in stops.objected or (
                (sid, purpose) in objections and t > objections[(sid, purpose)]
            ):
                after["after objection"] += 1
    return seen, after


# --- 5. requests ----------------------------------------------------------------------------


def check_requests(ctx: Ctx) -> CheckResult:
    title, art = "Every request answered or within its deadline", "Art. 12(3)"
    overdue: list[str] = []
    late: list[str] = []
    open_n = total = 0
    for req in requests.every_request(ctx.vault, ctx.conn):
        total += 1
        label = f"{req.type}:{req.id}"
        if req.is_open:
            open_n += 1
            if req.due_at < ctx.now:
                overdue.append(label)
        elif req.closed_at is not None and req.closed_at > req.due_at:
            late.append(label)
    problems = []
    if overdue:
        problems.append(f"{len(overdue)} open request(s) past their deadline: {ids_of(overdue)}")
    if late:
        problems.append(f"{len(late)} request(s) answered after their deadline: {ids_of(late)}")
    return make_result("requests-deadlines", title, art, problems,
                   [f"{total} request(s); {open_n} open, all within their deadline"],
                   {"total": total, "open": open_n})


# --- 6. audit log ---------------------------------------------------------------------------


def check_audit_log(ctx: Ctx) -> CheckResult:
    title, art = "The audit log verifies and its latest checkpoint is recent", "Art. 5(2), 30, 32"
    st = audit_reads.log_status(ctx.vault.config, ctx.conn, ctx.witness)
    problems = [f"verification failed: {e}" for e in st.errors[:5]] if not st.verified else []
    if st.verified is False and not problems:
        problems.append("verification failed")
    max_age = timedelta(seconds=max(2 * ctx.vault.config.checkpoint_every_seconds, 3600))
    if st.size and st.checkpoint_at is None and (
        st.oldest_unsigned_at is None or ctx.now - st.oldest_unsigned_at > max_age
    ):
        problems.append(f"{st.size} entries and no signed checkpoint; run `confida audit "
                        "checkpoint`")
    elif st.checkpoint_size is not None and st.checkpoint_size < st.size \
            and st.oldest_unsigned_at is not None and ctx.now - st.oldest_unsigned_at > max_age:
        age = int((ctx.now - st.oldest_unsigned_at).total_seconds())
        problems.append(f"{st.size - st.checkpoint_size} entries unsigned for {age} s (limit "
                        f"{int(max_age.total_seconds())} s); run `confida audit checkpoint`")
    ok = [f"{st.size} entries verified against the signed checkpoints"]
    if st.checkpoint_at is not None:
        ok.append(f"latest checkpoint covers {st.checkpoint_size} entries, signed "
                  f"{st.checkpoint_at.isoformat()}")
    return make_result("audit-log", title, art, problems, ok, {"size": st.size})


# --- 7. keys --------------------------------------------------------------------------------


def check_key_rotation(ctx: Ctx) -> CheckResult:
    days = ctx.vault.config.key_rotation_days
    versions = ctx.vault.keys.versions()
    problems: list[str] = []
    active = [v for v in versions if v["state"] == "active"]
    for v in versions:
        if v["state"] == "rotating":
            problems.append(f"KEK rotation to {v['version']} was interrupted; run "
                            "`confida keys rotate` to finish it")
    if not active:
        problems.append("no active key-encryption key")
    for v in active:
        created = v["created_at"]
        age = (ctx.now - created).days  # type: ignore[operator]
        if age > days:
            problems.append(f"KEK {v['version']} ({v['provider']}) is {age} days old; the "
                            f"configured rotation period is {days} days: run `confida keys "
                            "rotate`")
    ok = [f"KEK {v['version']} ({v['provider']}) created {v['created_at']:%Y-%m-%d}, within "
          f"{days} days" for v in active]
    return make_result("key-rotation", "Keys rotated within the configured period", "Art. 32(1)(a)",
                   problems, ok, {"rotation_days": days})


# --- 8. plaintext ---------------------------------------------------------------------------


def _runs(data: bytes) -> Iterable[tuple[int, str]]:
    """Printable ASCII runs in raw bytes (like ``strings``), with their offsets.

    Runs are never joined across other bytes: decoding ciphertext leniently would glue random
    fragments into text that looks like an address.
    """
    for m in re.finditer(rb"[\x20-\x7e]{%d,}" % MIN_RUN, data):
        yield m.start(), m.group(0).decode("ascii")


# Confida's own metadata, which the detector's number patterns misread: a UUID whose first
# groups happen to be all digits, or the timestamps SQLite stores side by side in a row, pass
# the card checksum about one time in ten. Blanked before detection (same length, and with a
# character no number pattern joins across), so that a large lawful store does not fail.
_OWN_SHAPES = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?"
)


def _detect(text: str) -> Counter[str]:
    found: Counter[str] = Counter()
    text = _OWN_SHAPES.sub(lambda m: "#" * len(m.group(0)), text)
    # names='rules': the labels counted here are identifiers, which the tagger never adds.
    for f in detect(text, names="rules"):
        if f.label in PLAINTEXT_LABELS and f.label != "EMAIL":
            found[f.label] += 1
    return found


def _labels_in_text(text: str) -> Counter[str]:
    """A text value (a str column, JSON): the full e-mail pattern and the detector."""
    found = _detect(text)
    found["EMAIL"] += len(EMAIL.findall(text.encode("utf-8", "ignore")))
    return +found


def _labels_in_bytes(data: bytes) -> Counter[str]:
    """Binary data (ciphertext, raw pages): the strict e-mail pattern on the bytes as they are,
    the detector on printable runs. Strict, so that random bytes practically never match."""
    found: Counter[str] = Counter()
    found["EMAIL"] += len(EMAIL_STRICT.findall(data))
    for _off, text in _runs(data):
        found += _detect(text)
    return +found


def _page_hits(data: bytes, page_size: int) -> tuple[Counter[str], set[int]]:
    found: Counter[str] = Counter()
    pages: set[int] = set()
    for m in EMAIL_STRICT.finditer(data):
        found["EMAIL"] += 1
        pages.add(m.start() // page_size + 1)
    for off, text in _runs(data):
        hits = _detect(text)
        if hits:
            found += hits
            pages.add(off // page_size + 1)
    return +found, pages


_SKIP_COLUMNS = {("audit_entry", "entry")}  # canonical JSON of pseudonymous entries


def check_plaintext(ctx: Ctx) -> CheckResult:
    """Scan every stored text and binary value, and on SQLite the raw file pages too."""
    conn = ctx.conn
    problems: list[str] = []
    scanned = 0
    for t in _stored_tables(conn):
        tname = t.name
        cols = [c.name for c in t.columns
                if _is_texty(c.type) and (tname, c.name) not in _SKIP_COLUMNS]
        for c in cols:
            hits: Counter[str] = Counter()
            for (v,) in conn.execute(select(t.c[c]).where(t.c[c].is_not(None))):
                scanned += 1
                hits += (_labels_in_bytes(bytes(v))
                         if isinstance(v, bytes | bytearray | memoryview)
                         else _labels_in_text(_as_text(v)))
            for label, n in sorted(hits.items()):
                problems.append(f"table {tname!r} column {c!r}: {n} plaintext {label} value(s)")
    pages = _sqlite_pages(ctx)
    if pages is not None:
        page_size, files = pages
        for fname, data in files:
            bad, where = _page_hits(data, page_size)
            for label, n in sorted(bad.items()):
                problems.append(f"{fname}: {n} plaintext {label} value(s) in raw page(s) "
                                f"{ids_of(str(p) for p in where)}")
    ok = [f"{scanned} stored value(s) scanned with the confida.pii detector and e-mail "
          "pattern; no plaintext personal data"]
    if pages is not None:
        ok.append("SQLite file and WAL pages scanned after a checkpoint")
    return make_result("no-plaintext", "No plaintext personal data in the database",
                   "Art. 32(1)(a), 25", problems, ok, {"values": scanned, "detector": True})


def _stored_tables(conn: Connection) -> list[Table]:
    """Every table in the database: the store's own, and any a host or a tool added beside
    them (read as they are), since personal data in clear is a finding wherever it sits."""
    own = metadata.tables
    return [own[name] if name in own else Table(name, MetaData(), autoload_with=conn)
            for name in inspect(conn).get_table_names() if name != "alembic_version"]


def _is_texty(t: Any) -> bool:
    name = type(t).__name__.upper()
    return any(x in name for x in ("CHAR", "TEXT", "STRING", "BLOB", "BINARY", "BYTEA", "JSON",
                                   "CLOB"))


def _as_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False)


def _sqlite_pages(ctx: Ctx) -> tuple[int, list[tuple[str, bytes]]] | None:
    """The store's pages and WAL frames, read through SQLite (never by opening the live files:
    closing such a descriptor would drop this process's locks on the store, see
    :mod:`confida.store.pages`)."""
    images = stored_images(ctx.vault.engine)
    if not images:
        return None
    return images[0].page_size, [(i.name, i.data) for i in images]


# --- 9. TLS ---------------------------------------------------------------------------------


def check_tls(ctx: Ctx) -> CheckResult:
    cfg = ctx.vault.config
    mode = last_serve_mode(cfg)
    problems: list[str] = []
    evidence: list[str] = []
    if mode and mode.get("mode") == "http":
        problems.append(f"the server last ran with --insecure-http (at {mode.get('at')})")
    cert = mode.get("cert") if mode and mode.get("cert") else str(cfg.tls_cert)
    key = mode.get("key") if mode and mode.get("key") else str(cfg.tls_key)
    if not mode or mode.get("mode") == "https":
        problems += _cert_problems(cert, key, ctx.now, evidence)
    if not mode:
        evidence.append("the server has not run yet; checked the certificate it will use")
    else:
        evidence.append(f"last served over {mode.get('mode')} at {mode.get('at')}")
    return make_result("tls", "TLS enabled", "Art. 32(1)(a)", problems, evidence)


def _cert_problems(cert: str, key: str, now: datetime, evidence: list[str]) -> list[str]:


    out = []
    if not os.path.exists(cert):
        return [f"TLS certificate {cert} is missing"]
    if not os.path.exists(key):
        return [f"TLS private key {key} is missing"]
    mode = stat.S_IMODE(os.stat(key).st_mode)
    if mode & 0o077:
        out.append(f"TLS private key is readable by others (mode {mode:o}; must be 600)")
    try:
        c = x509.load_pem_x509_certificate(open(cert, "rb").read())
    except ValueError:
        return out + ["TLS certificate is not a valid PEM certificate"]
    if c.not_valid_after_utc <= now:
        out.append(f"TLS certificate expired on {c.not_valid_after_utc:%Y-%m-%d}")
    else:
        evidence.append(f"certificate valid until {c.not_valid_after_utc:%Y-%m-%d}; key mode "
                        f"{mode:o}")
    return out


# --- 10. roles ------------------------------------------------------------------------------


def check_roles(ctx: Ctx) -> CheckResult:
    reg = ctx.register
    problems, notes = [], []
    for name, role in reg.roles.items():
        all_actions = "*" in role.actions
        all_purposes = "*" in role.purposes or set(reg.purposes) <= set(role.purposes)
        all_categories = "*" in role.categories or set(reg.categories) <= set(role.categories)
        unmasked = not role.masking
        if all_actions and all_purposes and all_categories and unmasked:
            problems.append(f"role {name!r} has unrestricted access: every action, every "
                            "purpose, every category, no masking")
        elif all_purposes and all_categories and unmasked and role.may("read"):
            notes.append(f"role {name!r} may read every category for every purpose unmasked "
                         "(bounded to its actions)")
    ok = [f"{len(reg.roles)} role(s); none has unrestricted access", *notes]
    return make_result("roles-restricted", "No role with unrestricted access", "Art. 25(2), 32(4)",
                   problems, ok)


# --- 11. notice version ---------------------------------------------------------------------


def check_notice_current(ctx: Ctx) -> CheckResult:
    current = ctx.vault.notice_version()
    cps = _consent_purposes(ctx.register)
    events = _consent_events(ctx.conn, cps)
    prompted = {
        (r.subject_id, r.purpose)
        for r in ctx.conn.execute(select(notice_prompt.c.subject_id, notice_prompt.c.purpose)
                                  .where(notice_prompt.c.notice_version == current))
    }
    versions = {
        r.id: r.notice_version
        for r in ctx.conn.execute(select(consent_event.c.id, consent_event.c.notice_version)
                                  .where(consent_event.c.purpose.in_(cps) if cps else False))
    }
    stale: Counter[tuple[str, str]] = Counter()
    granted = 0
    for (sid, purpose), evs in events.items():
        last = evs[-1]
        if last.action != GRANT:
            continue
        granted += 1
        v = versions.get(last.id)
        if v != current and (sid, purpose) not in prompted:
            stale[(purpose, v or "none")] += 1
    problems = [f"{n} consent(s) for {p!r} given against notice {v}, not asked again"
                for (p, v), n in sorted(stale.items())]
    return make_result("notice-current", "Consents are to the current notice or the subject was "
                   "asked again", "Art. 7(1), 13(3)", problems,
                   [f"{granted} consent(s) in force, all to notice {current} or re-asked"],
                   {"notice_version": current})


# --- 11b. special categories ----------------------------------------------------------------


def check_special_categories(ctx: Ctx) -> CheckResult:
    """Art. 9(1) prohibits processing special categories unless one of the conditions of
    Art. 9(2)(a)-(j) applies: every purpose that may use one declares which
    (``special_category_condition``); stored records of such a purpose are counted as evidence."""
    reg = ctx.register
    title, art = "Special categories are processed under an Art. 9(2) condition", "Art. 9(1)-(2)"
    using = {name: special_categories_of(reg, name) for name in reg.purposes}
    using = {name: cats for name, cats in using.items() if cats}
    if not using:
        return CheckResult("special-categories", title, art, NA,
                           ["no purpose may use a special category of personal data"])
    counts = dict(ctx.conn.execute(
        select(record.c.purpose, func.count()).where(record.c.purpose.in_(list(using)))
        .group_by(record.c.purpose)).all())
    problems, ok = [], []
    for name, cats in using.items():
        p = reg.purposes[name]
        cond = p.special_category_condition
        stored = f"; {counts.get(name, 0)} record(s) stored for it"
        if cond is None:
            problems.append(f"purpose {name!r} may use {', '.join(cats)} (Art. 9(1)) and declares "
                            "no Art. 9(2) condition: set special_category_condition in the "
                            f"register{stored}")
            continue
        ok.append(f"purpose {name!r}: {', '.join(cats)} under {cond.article} "
                  f"({cond.value}){stored}")
        if cond is SpecialCategoryCondition.explicit_consent and not p.consent_required:
            ok.append(f"purpose {name!r} is based on {p.legal_basis.value}: its explicit consent "
                      "(Art. 9(2)(a)) is not in Confida's consent ledger, which holds consent "
                      "to consent-based purposes; keep the record of it where it is given "
                      "(Art. 7(1))")
    return make_result("special-categories", title, art, problems, ok,
                       {"purposes": sorted(using)})


# --- 12. breaches ---------------------------------------------------------------------------


def check_breaches(ctx: Ctx) -> CheckResult:
    rows = ctx.conn.execute(select(breach.c.id, breach.c.discovered_at,
                                   breach.c.authority_notified_at)).all()
    problems = []
    for r in rows:
        due = r.discovered_at + DEADLINE
        if r.authority_notified_at is None and ctx.now > due:
            problems.append(f"breach {r.id}: authority not notified; the 72-hour deadline "
                            f"passed at {due:%Y-%m-%d %H:%M} UTC")
    open_n = sum(1 for r in rows if r.authority_notified_at is None)
    return make_result("breach-deadlines", "Breaches notified to the authority within 72 hours",
                   "Art. 33(1)", problems,
                   [f"{len(rows)} breach(es) registered; {open_n} not yet notified, all within "
                    "72 hours"])


CHECKS: list[tuple[str, Callable[[Ctx], CheckResult]]] = [
    ("categories-declared", check_categories),
    ("retention", check_retention),
    ("consent-at-collection", check_consent_at_collection),
    ("no-processing-after-stop", check_processing_after_stop),
    ("requests-deadlines", check_requests),
    ("audit-log", check_audit_log),
    ("key-rotation", check_key_rotation),
    ("no-plaintext", check_plaintext),
    ("tls", check_tls),
    ("roles-restricted", check_roles),
    ("notice-current", check_notice_current),
    ("special-categories", check_special_categories),
    ("breach-deadlines", check_breaches),
    ("file-permissions", check_file_permissions),
]
