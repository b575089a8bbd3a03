"""Each compliance check fails on purpose (something planted) and passes on a clean store."""

from __future__ import annotations

import json
import os
import uuid
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    Text,
    insert,
    update,
)

from confida import consent, record
from confida.compliance.checks import FAIL, PASS
from confida.compliance.report import render
from confida.compliance.run import run_checks, run_compliance
from confida.consent import record_prompt
from confida.errors import ConsentRequired
from confida.operation import system_actor
from confida.retention import run_retention
from confida.store.engine import transaction
from confida.store.keyschema import kek_version
from confida.store.schema import consent_event, subject
from confida.tls import create_self_signed
from confida.transparency.serving import record_serve_mode
from confida.vault import Vault
from tests.actors import ADMIN
from tests.test_notice_ropa import parse_html
from tests.tr_support import (
    Clock,
    ListSink,
    plant_record,
    register_from,
    sample_doc,
    set_record,
)

pytest_plugins = ["tests.tr_support"]

EMAIL = "jane.doe@example.com"




@pytest.fixture
def v(config, clock, sink):
    create_self_signed(config.tls_cert, config.tls_key)  # as `confida init` does
    vault = Vault.open(config, clock=clock, audit=sink)
    try:
        yield vault
    finally:
        vault.close()


# The store is set up by an internal job: the bounded admin role below may not collect for
# every purpose the seed uses.
SEED = system_actor("migration")


def seed(v: Vault) -> dict[str, str]:
    """A small store through the real flow: an account, messages, consent, usage."""
    ids = {}
    ids["account"] = record.collect(v, "u-1", "account", {"email": EMAIL, "display_name": "Jane Doe",
                                                  "country": "DE"}, "service", actor=SEED).record_id
    ids["msg"] = record.collect(v, "u-1", "conversation_message",
                           {"conversation_id": "c1", "text": f"I am Jane, write to {EMAIL}"},
                           "service", actor=SEED).record_id
    consent.grant(v, "u-1", "model_training", actor=SEED)
    ids["train"] = record.collect(v, "u-1", "conversation_message",
                             {"conversation_id": "c1", "text": "hello"},
                             "model_training", actor=SEED).record_id
    ids["usage"] = record.collect(v, "u-2", "usage_event", {"event": "open", "ip": "203.0.113.7"},
                             "safety", actor=SEED).record_id
    return ids


def one(v: Vault, cid: str, **kw):
    (res,) = run_checks(v, only=[cid], actor=ADMIN, **kw)
    assert res.id == cid
    # Evidence never carries a personal value.
    for e in res.evidence:
        assert EMAIL not in e and "Jane" not in e and "203.0.113.7" not in e
    return res


def restricted_admin() -> dict:
    """The sample register with its admin role bounded (main's sample grants admin every
    action, purpose and category, which ``roles-restricted`` reports, as it should)."""
    doc = sample_doc()
    doc["roles"]["admin"].update({"purposes": ["service", "billing"],
                                  "categories": ["identity.name", "contact.email"]})
    return doc


def test_clean_store_passes_everything_and_the_run_is_logged(config, clock) -> None:
    create_self_signed(config.tls_cert, config.tls_key)
    sink = ListSink()
    with Vault.open(config, clock=clock, audit=sink,
                    register=register_from(restricted_admin())) as v:
        seed(v)
        report = run_compliance(v, actor=ADMIN)
    statuses = {r.id: r.status for r in report.results}
    assert FAIL not in statuses.values(), [r for r in report.results if r.status == FAIL]
    assert report.passed
    entry = sink.entries[-1]
    assert entry["action"] == "compliance.check" and entry["outcome"] == "allowed"
    assert entry["details"]["checks"] == len(report.results)
    assert entry["details"]["failed"] == []
    doc = json.loads(render(report, "json"))
    assert {c["id"] for c in doc["checks"]} == set(statuses)
    assert all({"article", "evidence", "status"} <= set(c) for c in doc["checks"])


def test_report_html_is_well_formed_and_escaped(config, clock) -> None:
    doc = sample_doc()
    doc["controller"]["name"] = "<b>Evil</b> & Co"
    with Vault.open(config, clock=clock, register=register_from(doc)) as v:
        seed(v)
        with transaction(v.engine) as conn:
            plant_record(v, conn, kind="biometric", purpose="service")
        report = run_compliance(v, actor=ADMIN)
    assert not report.passed
    page = render(report, "html")
    parse_html(page)
    assert "<b>Evil</b>" not in page and "&lt;b&gt;Evil&lt;/b&gt; &amp; Co" in page
    md = render(report, "md")
    assert "**FAIL**" in md and "FAIL: Every stored category" in md


def test_names_read_from_the_store_are_not_echoed_unless_name_shaped(v: Vault) -> None:
    with transaction(v.engine) as conn:
        plant_record(v, conn, kind=EMAIL, purpose="service")
    res = one(v, "categories-declared")
    assert res.status == FAIL and "kind (not a valid name)" in res.evidence[0]
    with transaction(v.engine) as conn:
        rid, _ = plant_record(v, conn, kind="conversation_message", purpose="model_training")
        set_record(conn, rid, id=EMAIL)
    res = one(v, "consent-at-collection")
    assert res.status == FAIL and "(id withheld)" in res.evidence[0]


# --- categories ------------------------------------------------------------------------------


def test_categories_pass(v: Vault) -> None:
    seed(v)
    assert one(v, "categories-declared").status == PASS


def test_categories_fail_on_undeclared_kind_and_uncovered_purpose(v: Vault) -> None:
    seed(v)
    with transaction(v.engine) as conn:
        plant_record(v, conn, kind="biometric_scan", purpose="service")
        plant_record(v, conn, kind="usage_event", purpose="model_training")
    res = one(v, "categories-declared")
    assert res.status == FAIL
    text = " ".join(res.evidence)
    assert "'biometric_scan', which the register does not declare" in text
    assert "'usage_event' stored for purpose 'model_training'" in text


def test_categories_fail_on_a_category_no_purpose_may_use(config, clock) -> None:
    doc = sample_doc()
    doc["purposes"]["safety"]["categories"].remove("device.ip_address")
    with Vault.open(config, clock=clock, register=register_from(doc)) as v:
        res = one(v, "categories-declared")
    assert res.status == FAIL
    assert "'device.ip_address', which no purpose may use" in res.evidence[0]


# --- retention -------------------------------------------------------------------------------


def test_retention_fails_on_expired_record_and_passes_after_a_run(v: Vault, clock: Clock) -> None:
    ids = seed(v)
    clock.advance(days=31)  # safety: 30 days
    res = one(v, "retention")
    assert res.status == FAIL
    assert "1 record(s) of kind 'usage_event' for purpose 'safety'" in res.evidence[0]
    assert ids["usage"] in res.evidence[1]
    run_retention(v, actor=ADMIN)
    assert one(v, "retention").status == PASS


def test_retention_exempts_legal_hold_and_flags_too_long_deadlines(v: Vault,
                                                                    clock: Clock) -> None:
    ids = seed(v)
    with transaction(v.engine) as conn:
        set_record(conn, ids["usage"], legal_hold=True)
    clock.advance(days=31)
    res = one(v, "retention")
    assert res.status == PASS and "1 record(s) under legal hold" in res.evidence[1]
    with transaction(v.engine) as conn:
        set_record(conn, ids["account"], retain_until=clock.now + timedelta(days=4000))
    res = one(v, "retention")
    assert res.status == FAIL and "kept longer than the register allows" in res.evidence[0]


# --- consent at collection -------------------------------------------------------------------


def test_consent_at_collection_passes(v: Vault) -> None:
    seed(v)
    assert one(v, "consent-at-collection").status == PASS


def test_consent_at_collection_fails_on_direct_write_without_consent(v: Vault) -> None:
    seed(v)
    with transaction(v.engine) as conn:
        rid, _ = plant_record(v, conn, kind="conversation_message", purpose="model_training")
    res = one(v, "consent-at-collection")
    assert res.status == FAIL
    assert "no consent on record" in res.evidence[0] and rid in res.evidence[0]


def test_consent_at_collection_fails_on_a_borrowed_or_late_grant(v: Vault, clock: Clock) -> None:
    ids = seed(v)
    with transaction(v.engine) as conn:
        grant_id = conn.execute(consent_event.select()).first().id
        # someone else's grant
        rid, sid = plant_record(v, conn, kind="conversation_message", purpose="model_training",
                                consent_event_id=grant_id)
    res = one(v, "consent-at-collection")
    assert res.status == FAIL and "references no grant of this subject" in res.evidence[0]
    with transaction(v.engine) as conn:
        conn.execute(consent_event.delete().where(consent_event.c.subject_id == sid))
        conn.execute(update(consent_event).where(consent_event.c.id == grant_id)
                     .values(at=clock.now + timedelta(hours=1)))
    res = one(v, "consent-at-collection")
    assert any("granted only after collection" in e and ids["train"] in e for e in res.evidence)


def test_consent_at_collection_fails_when_withdrawn_before(v: Vault, clock: Clock) -> None:
    seed(v)
    clock.advance(hours=1)
    consent.withdraw(v, "u-1", "model_training", actor=ADMIN)
    clock.advance(hours=1)
    with transaction(v.engine) as conn:
        first = conn.execute(consent_event.select().order_by(consent_event.c.id)).first()
        rid, _ = plant_record(v, conn, kind="conversation_message", purpose="model_training",
                              subject_id=first.subject_id, consent_event_id=first.id)
    res = one(v, "consent-at-collection")
    assert res.status == FAIL and "withdrawn before collection" in res.evidence[0]
    assert rid in res.evidence[0]


# --- processing after a stop -----------------------------------------------------------------


def test_processing_after_stop_passes_when_withdrawal_is_respected(v: Vault,
                                                                    clock: Clock) -> None:
    seed(v)
    clock.advance(hours=1)
    consent.withdraw(v, "u-1", "model_training", actor=ADMIN)
    assert one(v, "no-processing-after-stop").status == PASS


def test_processing_after_withdrawal_fails(v: Vault, clock: Clock) -> None:
    ids = seed(v)
    clock.advance(hours=1)
    consent.withdraw(v, "u-1", "model_training", actor=ADMIN)
    with transaction(v.engine) as conn:
        set_record(conn, ids["train"], updated_at=clock.now + timedelta(minutes=5))
    res = one(v, "no-processing-after-stop")
    assert res.status == FAIL and "written after consent was withdrawn" in res.evidence[0]


def test_processing_after_restriction_fails(v: Vault, clock: Clock) -> None:
    ids = seed(v)
    with transaction(v.engine) as conn:
        conn.execute(update(subject).where(subject.c.id == _sid(conn, ids["account"]))
                     .values(status="restricted", status_changed_at=clock.now))
    assert one(v, "no-processing-after-stop").status == PASS
    with transaction(v.engine) as conn:
        set_record(conn, ids["account"], updated_at=clock.now + timedelta(minutes=1))
    res = one(v, "no-processing-after-stop")
    assert res.status == FAIL and "after their subject's restriction" in res.evidence[0]


def _sid(conn, record_id: str) -> str:
    from confida.store.schema import record

    return conn.execute(record.select().where(record.c.id == record_id)).first().subject_id


@pytest.fixture
def logged(config, clock):
    """A vault with the store's real tamper-evident audit log (confida.audit)."""
    vault = Vault.open(config, clock=clock)
    try:
        yield vault
    finally:
        vault.close()


def test_processing_after_withdrawal_found_in_the_audit_log(logged: Vault, clock: Clock) -> None:
    v = logged
    ids = seed(v)
    record.read(v, ids["train"], "model_training", actor=ADMIN)  # allowed, consent in force: fine
    clock.advance(hours=1)
    consent.withdraw(v, "u-1", "model_training", actor=ADMIN)
    res = one(v, "no-processing-after-stop")
    assert res.status == PASS and any("record operation(s) checked" in e for e in res.evidence)
    with pytest.raises(ConsentRequired):  # the core refuses, and logs the refusal
        record.read(v, ids["train"], "model_training", actor=ADMIN)
    assert one(v, "no-processing-after-stop").status == PASS  # a denied attempt is no processing
    with transaction(v.engine) as conn:
        pseud = conn.execute(subject.select()).first().pseudonym
        # A component that bypassed the consent gate but logged honestly what it did:
        v.audit.append(conn, {"time": (clock.now + timedelta(minutes=1)).isoformat(),
                              "actor": "rogue", "action": "record.read",
                              "purpose": "model_training", "subjects": [pseud],
                              "objects": [ids["train"]], "outcome": "allowed", "details": {}})
    res = one(v, "no-processing-after-stop")
    assert res.status == FAIL
    assert "1 allowed record operation(s) in the audit log without consent in force" in \
        res.evidence[0]


def test_processing_after_objection_fails(v: Vault, clock: Clock) -> None:
    """An objection as the rights module records it (its ``objection`` table)."""
    from confida.store.schema import objection

    ids = seed(v)
    with transaction(v.engine) as conn:
        conn.execute(insert(objection).values(subject_id=_sid(conn, ids["usage"]),
                                              purpose="safety", at=clock.now))
    assert one(v, "no-processing-after-stop").status == PASS
    with transaction(v.engine) as conn:
        set_record(conn, ids["usage"], updated_at=clock.now + timedelta(minutes=1))
    res = one(v, "no-processing-after-stop")
    assert res.status == FAIL and "after an objection" in res.evidence[0]


# --- requests --------------------------------------------------------------------------------


def _request(conn, subject_id: str, *, status: str, due, closed=None, type_="access") -> str:
    """A row of the rights module's ``subject_request`` table, written directly."""
    from confida.store.schema import subject_request

    rid = str(uuid.uuid4())
    conn.execute(insert(subject_request).values(
        id=rid, type=type_, subject_id=subject_id, verified_by="test", status=status,
        received_at=due - timedelta(days=30), due_at=due, extended_months=0, closed_at=closed))
    return rid


def test_requests_pass_without_requests(v: Vault) -> None:
    res = one(v, "requests-deadlines")
    assert res.status == PASS and "0 request(s)" in res.evidence[0]


def test_requests_pass_within_deadline_and_fail_when_overdue(v: Vault, clock: Clock) -> None:
    from confida.store.schema import subject_request

    ids = seed(v)
    with transaction(v.engine) as conn:
        sid = _sid(conn, ids["account"])
        r1 = _request(conn, sid, status="received", due=clock.now + timedelta(days=30))
        _request(conn, sid, status="completed", due=clock.now + timedelta(days=1),
                 closed=clock.now, type_="erasure")
    assert one(v, "requests-deadlines").status == PASS
    clock.advance(days=31)
    res = one(v, "requests-deadlines")
    assert res.status == FAIL and "1 open request(s) past their deadline: access:" + r1 in \
        res.evidence[0]
    with transaction(v.engine) as conn:
        conn.execute(update(subject_request).where(subject_request.c.id == r1)
                     .values(status="completed", closed_at=clock.now))
    res = one(v, "requests-deadlines")
    assert res.status == FAIL and "answered after their deadline" in res.evidence[0]


# --- audit log -------------------------------------------------------------------------------


def test_audit_check_evaluates_verification_and_checkpoint_age(
    config, clock, monkeypatch
) -> None:
    """The verification itself is the audit module's; here its answer is given (boundary)."""
    from confida.audit.reads import AuditStatus
    from confida.compliance import checks

    old, fresh = clock.now - timedelta(days=1), clock.now - timedelta(minutes=5)
    cases = [
        (AuditStatus(10, True, [], 10, clock.now - timedelta(days=3)), PASS),  # all signed
        (AuditStatus(10, True, [], 8, old, fresh), PASS),  # unsigned, but only for minutes
        (AuditStatus(10, True, [], 8, old, old), FAIL),  # unsigned for a day
        (AuditStatus(10, True, [], None, None, old), FAIL),  # never signed
        (AuditStatus(10, False, ["leaf 3 hash mismatch"], 10, clock.now), FAIL),
    ]
    for status, want in cases:
        monkeypatch.setattr(checks.audit_reads, "log_status",
                            lambda _config, _conn, _witness, s=status: s)
        with Vault.open(config, clock=clock, audit=ListSink()) as v:
            assert one(v, "audit-log").status == want, status


def test_audit_check_passes_on_the_real_log_and_finds_a_tampered_entry(logged: Vault) -> None:
    from confida.audit.sink import audit_log, load_signer

    v = logged
    seed(v)
    log = audit_log(v.config)
    with transaction(v.engine) as conn:
        log.checkpoint(conn, load_signer(v.config))
    res = one(v, "audit-log")
    assert res.status == PASS, res.evidence
    with transaction(v.engine) as conn:
        t = log.tables.entry
        raw = conn.execute(t.select().where(t.c.idx == 1)).first().entry
        conn.execute(update(t).where(t.c.idx == 1)
                     .values(entry=raw.replace('"allowed"', '"denied"')))
    res = one(v, "audit-log")
    assert res.status == FAIL and res.evidence[0].startswith("verification failed")


def test_audit_check_fails_on_a_deleted_checkpoint_history(logged: Vault) -> None:
    from confida.audit.sink import audit_log, load_signer

    v = logged
    seed(v)
    log = audit_log(v.config)
    with transaction(v.engine) as conn:
        log.checkpoint(conn, load_signer(v.config))
        conn.execute(log.tables.checkpoint.delete())
    # the whole history: the witness file outside the database vouches for the log otherwise
    v.config.audit_witness_file.unlink(missing_ok=True)
    res = one(v, "audit-log")
    assert res.status == FAIL and res.evidence[0].startswith("verification failed")


# --- keys ------------------------------------------------------------------------------------


def test_key_rotation_passes_when_fresh(v: Vault) -> None:
    assert one(v, "key-rotation").status == PASS


def test_key_rotation_fails_for_an_old_kek(v: Vault, clock: Clock) -> None:
    clock.advance(days=v.config.key_rotation_days + 1)
    res = one(v, "key-rotation")
    assert res.status == FAIL and "is 366 days old" in res.evidence[0]
    v.keys.rotate()
    assert one(v, "key-rotation").status == PASS


def test_key_rotation_fails_for_an_interrupted_rotation(v: Vault, clock: Clock) -> None:
    with transaction(v.key_engine) as kconn:
        kconn.execute(insert(kek_version).values(version="v2", provider="file",
                                                 state="rotating", created_at=clock.now))
    res = one(v, "key-rotation")
    assert res.status == FAIL and "interrupted" in res.evidence[0]


# --- plaintext -------------------------------------------------------------------------------


def test_no_plaintext_passes_on_a_store_full_of_personal_data(v: Vault) -> None:
    seed(v)
    for i in range(20):
        record.collect(v, f"user-{i}@example.org", "account",
                  {"email": f"user-{i}@example.org", "display_name": f"Person {i}"}, "service", actor=ADMIN)
    res = one(v, "no-plaintext")
    assert res.status == PASS, res.evidence


def test_no_plaintext_fails_on_plaintext_planted_in_a_table(v: Vault, backend: str) -> None:
    seed(v)
    with transaction(v.engine) as conn:
        t = Table("support_notes", MetaData(), Column("id", Integer, primary_key=True),
                  Column("note", Text))
        t.create(conn)
        conn.execute(insert(t).values(id=1, note=f"customer {EMAIL} called"))
    res = one(v, "no-plaintext")
    assert res.status == FAIL
    assert "table 'support_notes' column 'note': 1 plaintext EMAIL value(s)" in res.evidence
    if backend == "sqlite":
        assert any("confida.db" in e and "raw page" in e for e in res.evidence)


def test_no_plaintext_fails_on_plaintext_in_a_metadata_column(v: Vault) -> None:
    ids = seed(v)
    with transaction(v.engine) as conn:
        set_record(conn, ids["msg"], pii_summary={"EMAIL": 1, "leak": EMAIL})
    res = one(v, "no-plaintext")
    assert res.status == FAIL and "table 'record' column 'pii_summary'" in res.evidence[0]


def test_no_plaintext_uses_the_pii_detector_when_installed(v: Vault) -> None:
    pytest.importorskip("confida.pii")
    with transaction(v.engine) as conn:
        t = Table("notes2", MetaData(), Column("id", Integer, primary_key=True),
                  Column("note", Text))
        t.create(conn)
        conn.execute(insert(t).values(id=1, note="IBAN DE89 3704 0044 0532 0130 00 please"))
    res = one(v, "no-plaintext")
    assert res.status == FAIL and any("IBAN" in e for e in res.evidence)


# --- TLS -------------------------------------------------------------------------------------


def test_tls_passes_with_the_init_certificate(v: Vault) -> None:
    record_serve_mode(v.config, insecure_http=False)
    assert one(v, "tls").status == PASS


def test_tls_fails_after_serving_plain_http(v: Vault) -> None:
    record_serve_mode(v.config, insecure_http=True)
    res = one(v, "tls")
    assert res.status == FAIL and "--insecure-http" in res.evidence[0]


def test_tls_fails_on_a_readable_key_or_missing_certificate(v: Vault) -> None:
    os.chmod(v.config.tls_key, 0o644)
    res = one(v, "tls")
    assert res.status == FAIL and "readable by others" in res.evidence[0]
    os.chmod(v.config.tls_key, 0o600)
    v.config.tls_cert.unlink()
    res = one(v, "tls")
    assert res.status == FAIL and "certificate" in res.evidence[0]


def test_tls_fails_on_an_expired_certificate(v: Vault, clock: Clock) -> None:
    clock.advance(days=1200)
    res = one(v, "tls")
    assert res.status == FAIL and "expired" in res.evidence[0]


# --- roles -----------------------------------------------------------------------------------


def test_roles_pass_when_every_role_is_bounded(config, clock) -> None:
    with Vault.open(config, clock=clock, register=register_from(restricted_admin())) as v:
        res = one(v, "roles-restricted")
    assert res.status == PASS, res.evidence


def test_roles_pass_on_the_sample(v: Vault) -> None:
    # the sample's admin has every action, purpose and category, but never sees Art. 9 data
    res = one(v, "roles-restricted")
    assert res.status == PASS, res.evidence


def test_roles_fail_on_an_unrestricted_role(config, clock) -> None:
    doc = sample_doc()
    doc["roles"]["root"] = {"description": "everything", "actions": ["*"], "purposes": ["*"],
                            "categories": ["*"]}
    with Vault.open(config, clock=clock, register=register_from(doc)) as v:
        res = one(v, "roles-restricted")
    assert res.status == FAIL
    assert any("role 'root' has unrestricted access" in e for e in res.evidence)


# --- notice version --------------------------------------------------------------------------


def test_notice_current_passes_and_fails_on_a_stale_version(v: Vault) -> None:
    seed(v)
    assert one(v, "notice-current").status == PASS
    consent.grant(v, "u-3", "model_training", notice_version="0ld0ld0ld0ld0ld0", actor=ADMIN)
    res = one(v, "notice-current")
    assert res.status == FAIL
    assert "1 consent(s) for 'model_training' given against notice 0ld0ld0ld0ld0ld0" in \
        res.evidence[0]
    record_prompt(v, "u-3", "model_training", actor=ADMIN)
    assert one(v, "notice-current").status == PASS


def test_notice_current_fails_when_the_register_changes(config, clock) -> None:
    with Vault.open(config, clock=clock) as v:
        seed(v)
    doc = sample_doc()
    doc["purposes"]["model_training"]["retention"] = "3 years"
    with Vault.open(config, clock=clock, register=register_from(doc)) as v:
        assert one(v, "notice-current").status == FAIL


# --- breaches --------------------------------------------------------------------------------


def test_breach_deadline_check(v: Vault, clock: Clock) -> None:
    from confida import breach

    assert one(v, "breach-deadlines").status == PASS
    b = breach.register_breach(v, title="t", description="d",
                               discovered_at=clock.now - timedelta(hours=10), actor=ADMIN)
    assert one(v, "breach-deadlines").status == PASS
    clock.advance(hours=63)
    res = one(v, "breach-deadlines")
    assert res.status == FAIL and b.id in res.evidence[0]
    breach.mark_notified(v, b.id, authority=True, actor=ADMIN)
    assert one(v, "breach-deadlines").status == PASS


def test_unknown_check_name_is_bad_input(v: Vault) -> None:
    from confida.errors import BadInput

    with pytest.raises(BadInput):
        run_checks(v, only=["nope"], actor=ADMIN)


def test_no_plaintext_fails_on_plaintext_written_as_ciphertext(v: Vault) -> None:
    ids = seed(v)
    with transaction(v.engine) as conn:
        set_record(conn, ids["account"], ciphertext=f'{{"email":"{EMAIL}"}}'.encode())
    res = one(v, "no-plaintext")
    assert res.status == FAIL
    assert "table 'record' column 'ciphertext': 1 plaintext EMAIL value(s)" in res.evidence


def test_random_bytes_do_not_read_as_addresses() -> None:
    from confida.compliance.checks import _labels_in_bytes

    data = os.urandom(8 * 1024 * 1024)
    assert _labels_in_bytes(data) == {}


_lower = "abcdefghijklmnopqrstuvwxyz"


@given(
    local=st.text(_lower + "0123456789._", min_size=3, max_size=20),
    domain=st.text(_lower + "0123456789", min_size=3, max_size=15),
    tld=st.text(_lower, min_size=2, max_size=6),
    before=st.binary(max_size=64),
    after=st.binary(max_size=64),
)
@settings(max_examples=200, deadline=None)
def test_an_address_in_binary_data_is_found(local, domain, tld, before, after) -> None:
    from confida.compliance.checks import _labels_in_bytes

    raw = before + f"{local}@{domain}.{tld}".encode() + after
    assert _labels_in_bytes(raw)["EMAIL"] >= 1


# --- special categories (Art. 9(2)) ----------------------------------------------------------


def test_special_categories_pass_on_the_sample(v: Vault) -> None:
    seed(v)
    res = one(v, "special-categories")
    assert res.status == PASS and res.article == "Art. 9(1)-(2)"
    text = " ".join(res.evidence)
    assert "purpose 'service': health.data under Art. 9(2)(a) GDPR (explicit_consent)" in text
    assert "2 record(s) stored for it" in text
    # explicit consent on a contract purpose: said plainly where the consent must be kept
    assert "not in Confida's consent ledger" in text


def test_special_categories_fail_without_a_condition(config, clock) -> None:
    doc = sample_doc()
    del doc["purposes"]["service"]["special_category_condition"]
    doc["categories"]["religion"] = {"description": "Religious beliefs", "special": True}
    doc["purposes"]["model_training"]["categories"].append("religion")
    doc["purposes"]["model_training"]["special_category_condition"] = "explicit_consent"
    with Vault.open(config, clock=clock, register=register_from(doc)) as v:
        res = one(v, "special-categories")
    assert res.status == FAIL
    (problem,) = res.evidence
    assert "purpose 'service' may use health.data (Art. 9(1)) and declares no Art. 9(2) " \
           "condition" in problem


def test_special_categories_not_applicable_without_any(config, clock) -> None:
    doc = sample_doc()
    doc["categories"]["health.data"]["special"] = False
    del doc["purposes"]["service"]["special_category_condition"]
    with Vault.open(config, clock=clock, register=register_from(doc)) as v:
        res = one(v, "special-categories")
    assert res.status == "not-applicable" and res.passed
