"""The access matrix, generated from the register and checked at the core.

For every public core entry point × every role of the sample register (and a role the register
does not declare) × every purpose (and none), the decision the core records matches what the
register says, and a denial is in the audit log as ``denied`` with the rule that denied it.
Nothing here goes through the API: a rule enforced only in an adapter would not show up.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from confida import (
    breach,
    consent,
    credential,
    downstream,
    kek_lifecycle,
    monitoring,
    record,
    register_change,
    register_view,
    request,
    retention,
    subject_token,
    text_scan,
    token_map,
    web_sessions,
)
from confida.analytics import budget, dp, kanon
from confida.audit import admin as audit_admin
from confida.audit import reads as audit_reads
from confida.compliance import run as compliance_run
from confida.errors import ConfidaError
from confida.export import training
from confida.gateway import core as gateway_core  # --- privacy gateway
from confida.operation import Actor
from confida.register import load_register
from confida.register.models import Register
from confida.rights import access, feed, objection, rectification, restriction
from confida.rights import erasure as rights_erasure
from confida.store.schema import audit_tables
from confida.vault import Vault
from confida.webhooks import delivery as wh_delivery  # --- webhooks
from confida.webhooks import endpoints as wh_endpoints  # --- webhooks
from tests.actors import ADMIN
from tests.conftest import SAMPLE_REGISTER

REGISTER: Register = load_register(SAMPLE_REGISTER)
ROLES = [*sorted(REGISTER.roles), "undeclared"]
PURPOSES: list[str | None] = [*sorted(REGISTER.purposes), None]
MSG = {"conversation_id": "c1", "text": "hello"}


@dataclass(frozen=True)
class Entry:
    """One core entry point: the action it asks for, how it takes a purpose (``none``,
    ``required`` or ``optional``), how to call it, and the purposes the data it touches was
    collected for (purpose binding)."""

    action: str
    call: Callable[[Vault, Actor, str | None, dict[str, Any]], object]
    purposes: str = "none"
    collected_for: tuple[str, ...] = ()


V = "matrix"  # verified_by
_n = itertools.count()


def fresh(v: Vault) -> str:
    """A subject of its own for a call that changes or removes the person."""
    who = f"m-{next(_n)}"
    record.collect(v, who, "account", {"email": "m@example.org"}, "service", actor=ADMIN)
    return who


def _request(v: Vault) -> str:
    return request.submit(v, request.RECTIFICATION, fresh(v), V, actor=ADMIN).id


ENTRIES: dict[str, Entry] = {
    # records
    "record.collect": Entry("collect", lambda v, a, p, c: record.collect(
        v, "s1", "conversation_message", MSG, p, actor=a), "required"),
    "record.collect_many": Entry("collect", lambda v, a, p, c: record.collect_many(
        v, [record.CollectItem("s1", "conversation_message", MSG, p)], actor=a), "required"),
    "record.read": Entry("read", lambda v, a, p, c: record.read(v, c["rid"], p, actor=a),
                         "required", ("service",)),
    "record.read@safety": Entry("read", lambda v, a, p, c: record.read(
        v, c["rid_safety"], p, actor=a), "required", ("safety",)),
    "record.update": Entry("update", lambda v, a, p, c: record.update(
        v, c["rid"], {"text": "hi"}, p, actor=a), "required", ("service",)),
    "record.list_records": Entry("list", lambda v, a, p, c: record.list_records(
        v, "s1", for_purpose=p, actor=a), "optional"),
    "rights.erasure.set_legal_hold": Entry("legal_hold", lambda v, a, p, c: rights_erasure
                                           .set_legal_hold(v, c["rid"], True, "court order",
                                                           actor=a)),
    "rights.erasure.read_retained": Entry("rights", lambda v, a, p, c: rights_erasure
                                          .read_retained(v, c["rid"], actor=a)),
    "token_map.detokenize": Entry("detokenize", lambda v, a, p, c: token_map.detokenize(
        v, "s1", "no tokens here", p, actor=a), "required"),
    # --- privacy gateway: asks for collect, then detokenize (the sample roles have both or
    # neither, for the same purposes)
    "gateway.core.prepare_call": Entry("collect", lambda v, a, p, c: gateway_core.prepare_call(
        v, gateway_core.call_request(
            "chat", {"messages": [{"role": "user", "content": "hi"}]}, subject="s1", purpose=p,
            temporary=False, conversation_id=None, upstream_host="upstream"), actor=a),
        "required"),
    # --- end privacy gateway
    # consent
    "consent.record_event": Entry("consent", lambda v, a, p, c: consent.record_event(
        v, "s1", p, "grant", actor=a), "required"),
    "consent.grant": Entry("consent", lambda v, a, p, c: consent.grant(v, "s1", p, actor=a),
                           "required"),
    "consent.withdraw": Entry("consent", lambda v, a, p, c: consent.withdraw(
        v, "s1", p, actor=a), "required"),
    "consent.show": Entry("consent", lambda v, a, p, c: consent.show(
        v, "s1", for_purpose=p, actor=a), "optional"),
    "consent.record_prompt": Entry("consent", lambda v, a, p, c: consent.record_prompt(
        v, "s1", p, actor=a), "required"),
    # rights and requests
    "rights.access.access_export": Entry("rights", lambda v, a, p, c: access.access_export(
        v, "s1", io.BytesIO(), verified_by=V, actor=a)),
    "rights.rectification.rectify": Entry("rights", lambda v, a, p, c: rectification.rectify(
        v, "s1", c["rid"], {"text": "fixed"}, verified_by=V, actor=a)),
    "rights.rectification.request_correction": Entry(
        "rights", lambda v, a, p, c: rectification.request_correction(
            v, "s1", "my name is spelt wrong", verified_by=V, actor=a)),
    "rights.rectification.correction_notes": Entry(
        "rights", lambda v, a, p, c: rectification.correction_notes(v, [c["request"]], actor=a)),
    "rights.restriction.restrict": Entry("rights", lambda v, a, p, c: restriction.restrict(
        v, fresh(v), verified_by=V, actor=a)),
    "rights.restriction.lift_restriction": Entry("rights", lambda v, a, p, c: restriction
                                                 .lift_restriction(v, fresh(v), verified_by=V,
                                                                   actor=a)),
    "rights.objection.object_to": Entry("rights", lambda v, a, p, c: objection.object_to(
        v, fresh(v), "safety", verified_by=V, actor=a)),
    "rights.erasure.erase": Entry("rights", lambda v, a, p, c: rights_erasure.erase(
        v, fresh(v), verified_by=V, actor=a)),
    "rights.feed.erasure_feed": Entry("rights", lambda v, a, p, c: feed.erasure_feed(
        v, 0, 10, actor=a)),
    "request.submit": Entry("requests", lambda v, a, p, c: request.submit(
        v, request.RECTIFICATION, "s1", V, actor=a)),
    "request.get": Entry("requests", lambda v, a, p, c: request.get(v, c["request"], actor=a)),
    "request.list_requests": Entry("requests", lambda v, a, p, c: request.list_requests(
        v, actor=a)),
    "request.extend": Entry("requests", lambda v, a, p, c: request.extend(
        v, _request(v), 1, "complex request", actor=a)),
    "request.complete": Entry("requests", lambda v, a, p, c: request.complete(
        v, _request(v), actor=a)),
    "request.reject": Entry("requests", lambda v, a, p, c: request.reject(
        v, _request(v), "manifestly unfounded", actor=a)),
    "request.sign_in": Entry("requests", lambda v, a, p, c: request.sign_in(v, actor=a)),
    "subject_token.issue": Entry("rights", lambda v, a, p, c: subject_token.issue(
        v, "s1", actor=a)),
    "subject_token.privacy_link": Entry("rights", lambda v, a, p, c: subject_token
                                        .privacy_link(v, "s1", base_url="https://x",
                                                      actor=a)),
    # breaches, compliance, audit
    "breach.register_breach": Entry("breach", lambda v, a, p, c: breach.register_breach(
        v, title="Lost laptop", description="A laptop was lost", actor=a)),
    "breach.get_breach": Entry("breach", lambda v, a, p, c: breach.get_breach(
        v, c["breach"], actor=a)),
    "breach.list_breaches": Entry("breach", lambda v, a, p, c: breach.list_breaches(
        v, actor=a)),
    "breach.affected_subject_ids": Entry("breach", lambda v, a, p, c: breach
                                         .affected_subject_ids(v, c["breach"], actor=a)),
    "breach.mark_notified": Entry("breach", lambda v, a, p, c: breach.mark_notified(
        v, c["breach"], authority=True, actor=a)),
    "compliance.run.run_compliance": Entry("compliance", lambda v, a, p, c: compliance_run
                                           .run_compliance(v, only=["retention"], actor=a)),
    "compliance.run.run_checks": Entry("compliance", lambda v, a, p, c: compliance_run
                                       .run_checks(v, None, ["retention"], actor=a)),
    "analytics.budget.set_budget": Entry("compliance", lambda v, a, p, c: budget.set_budget(
        v, "analyst-1", "events", 1.0, actor=a)),
    "analytics.budget.show": Entry("compliance", lambda v, a, p, c: budget.show(
        v, None, actor=a)),
    "analytics.dp.run": Entry("analytics", lambda v, a, p, c: dp.run(v, dp.Query(
        aggregate="count", epsilon=0.1, analyst="a", kind="usage_event", purpose=p),
        actor=a), "required"),
    "analytics.kanon.kanon_export": Entry("analytics", lambda v, a, p, c: kanon.kanon_export(
        v, "usage_event", 2, purpose=p, out=c["tmp"] / f"k{next(_n)}.csv", actor=a),
        "required"),
    "audit.reads.latest_checkpoint": Entry("audit", lambda v, a, p, c: audit_reads
                                           .latest_checkpoint(v, actor=a)),
    "audit.reads.inclusion_proof": Entry("audit", lambda v, a, p, c: audit_reads
                                         .inclusion_proof(v, 0, 1, actor=a)),
    "audit.reads.consistency_proof": Entry("audit", lambda v, a, p, c: audit_reads
                                           .consistency_proof(v, 1, 2, actor=a)),
    "audit.reads.status": Entry("audit", lambda v, a, p, c: audit_reads.status(v, actor=a)),
    "register_view.read_register": Entry("register", lambda v, a, p, c: register_view
                                         .read_register(v, actor=a)),
    "text_scan.scan": Entry("scan", lambda v, a, p, c: text_scan.scan(v, "nothing", actor=a)),
    "text_scan.redact": Entry("scan", lambda v, a, p, c: text_scan.redact(
        v, "nothing", None, actor=a)),
    # exports
    "export.training.export_training": Entry("export", lambda v, a, p, c: training
                                             .export_training(
                                                 v, c["tmp"] / f"t{next(_n)}",
                                                 selection=training.Selection(purpose=p),
                                                 actor=a), "required"),
    "export.training.list_datasets": Entry("export", lambda v, a, p, c: training
                                           .list_datasets(v, purpose=p, actor=a), "optional"),
    # keys and credentials
    "credential.create": Entry("apikey", lambda v, a, p, c: credential.create(
        v, "support", label="m", actor=a)),
    "credential.revoke": Entry("apikey", lambda v, a, p, c: credential.revoke(
        v, credential.create(v, "support", actor=ADMIN).info.id, actor=a)),
    "credential.list_keys": Entry("apikey", lambda v, a, p, c: credential.list_keys(
        v, actor=a)),
    "kek_lifecycle.status": Entry("keys", lambda v, a, p, c: kek_lifecycle.status(v, actor=a)),
    "kek_lifecycle.retire_due": Entry("keys", lambda v, a, p, c: kek_lifecycle.retire_due(
        v, actor=a)),
    "web_sessions.rotate_session_key": Entry("keys", lambda v, a, p, c: web_sessions
                                             .rotate_session_key(v, actor=a)),
    "audit.admin.verify_log": Entry("audit", lambda v, a, p, c: audit_admin.verify_log(
        v, actor=a)),
    "audit.admin.sign_checkpoint": Entry("audit", lambda v, a, p, c: audit_admin
                                         .sign_checkpoint(v, actor=a)),
    "audit.admin.prove_entry": Entry("audit", lambda v, a, p, c: audit_admin.prove_entry(
        v, 0, actor=a)),
    "audit.admin.export_log": Entry("audit", lambda v, a, p, c: audit_admin.export_log(
        v, c["tmp"] / f"log{next(_n)}.jsonl", actor=a)),
    "export.training.dataset_subjects": Entry("export", lambda v, a, p, c: training
                                              .dataset_subjects(v, "none", purpose=p,
                                                                actor=a), "required"),
    "web_sessions.subject_erased": Entry("read", lambda v, a, p, c: web_sessions
                                         .subject_erased(v, actor=a)),
    "retention.run_retention": Entry("retention", lambda v, a, p, c: retention
                                     .run_retention(v, None, actor=a)),
    "rights.erasure.purge_retained": Entry("retention", lambda v, a, p, c: rights_erasure
                                           .purge_retained(v, actor=a)),
    # --- webhooks
    "webhooks.endpoints.add": Entry("rights", lambda v, a, p, c: wh_endpoints.add(
        v, "https://example.org/hook", "erasure", actor=a)),
    "webhooks.endpoints.list_endpoints": Entry("rights", lambda v, a, p, c: wh_endpoints
                                               .list_endpoints(v, actor=a)),
    "webhooks.endpoints.remove": Entry("rights", lambda v, a, p, c: wh_endpoints.remove(
        v, "00000000-0000-4000-8000-000000000000", actor=a)),
    "webhooks.endpoints.deliveries": Entry("rights", lambda v, a, p, c: wh_endpoints
                                           .deliveries(v, status="dead", actor=a)),
    "webhooks.endpoints.retry": Entry("rights", lambda v, a, p, c: wh_endpoints.retry(
        v, 999_999, actor=a)),
    "webhooks.endpoints.overview": Entry("rights", lambda v, a, p, c: wh_endpoints
                                         .overview(v, actor=a)),
    "webhooks.delivery.enqueue": Entry("rights", lambda v, a, p, c: wh_delivery.enqueue(
        v, actor=a)),
    "webhooks.delivery.deliver_due": Entry("rights", lambda v, a, p, c: wh_delivery
                                           .deliver_due(v, scan=False, timeout=1, actor=a)),
    # --- end webhooks
    "downstream.register_reference": Entry("rights", lambda v, a, p, c: downstream
                                           .register_reference(v, "s1", "chat-cache",
                                                               "u_matrix", actor=a)),
    "monitoring.gauges": Entry("audit", lambda v, a, p, c: monitoring.gauges(v, actor=a)),
    "register_change.apply_register": Entry("register", lambda v, a, p, c: register_change
                                            .apply_register(v, SAMPLE_REGISTER.read_text(),
                                                            actor=a)),
    "register_change.pending_reconsent": Entry("consent", lambda v, a, p, c: register_change
                                               .pending_reconsent(v, "s1", actor=a)),
}

#: Entry points the matrix does not call, with the reason; any other public core function that
#: takes an actor must be in ENTRIES (checked below), so a new one cannot go untested.
NOT_IN_MATRIX = {
    "kek_lifecycle.rotate": "re-wraps every key; its decision is tested in test_rights_decisions",
    "export.training.revocations": "needs a dataset; tested in test_rights_decisions",
    "rights.erasure.resume_journaled": "replays a journal entry; run by system jobs",
    "erasure_replay.replay": "run by system jobs after a restore",
    "web_sessions.open_console": "the decision depends on the session kind; test_web_sessions",
    "web_sessions.sign_out": "the decision depends on the session kind; test_web_sessions",
}


#: Actions on personal data: a purpose-limited role must say why (the register's roles list
#: the purposes each role may act for; "*" means any).
PERSONAL_DATA_ACTIONS = ("collect", "read", "list", "update", "export", "detokenize")


def expected(entry: Entry, role: str, purpose: str | None) -> bool:
    """What the register says, computed here from the YAML's own words (not from authz)."""
    r = REGISTER.roles.get(role)
    if r is None or ("*" not in r.actions and entry.action not in r.actions):
        return False
    if entry.purposes == "none" and entry.action not in PERSONAL_DATA_ACTIONS:
        return True
    if purpose is None:
        # a purpose-limited role must say why it touches personal data; consent views need not
        return "*" in r.purposes or entry.action in ("consent",)
    if "*" not in r.purposes and purpose not in r.purposes:
        return False
    if entry.collected_for and purpose not in entry.collected_for:
        return any(o in REGISTER.purposes[purpose].compatible_with for o in entry.collected_for)
    return True


def _first_entry_of(vault: Vault, actor_id: str) -> dict[str, Any]:
    with vault.engine.connect() as conn:
        rows = conn.execute(
            select(audit_tables.entry.c.entry).order_by(audit_tables.entry.c.idx.desc()).limit(40)
        ).scalars().all()
    mine = [json.loads(r) for r in rows if actor_id in r]
    mine = [e for e in mine if e["actor"] == actor_id]
    if not mine:
        raise AssertionError(f"no audit entry for {actor_id}")
    return mine[-1]  # newest first: the last one is the call's first entry


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.conftest import database, make_config

    tmp = tmp_path_factory.mktemp("matrix")
    with database(tmp) as url:
        cfg = make_config(tmp / "data", url)
        v = Vault.open(cfg)
        rid = record.collect(v, "s1", "conversation_message", MSG, "service", actor=ADMIN)
        record.collect(v, "s1", "usage_event", {"event": "login"}, "analytics", actor=ADMIN)
        rid_safety = record.collect(v, "s1", "usage_event", {"event": "login"}, "safety",
                                    actor=ADMIN).record_id
        b = breach.register_breach(v, title="Seed", description="seed", actor=ADMIN)
        ctx = {"rid": rid.record_id, "rid_safety": rid_safety, "breach": b.id, "request": _request(v), "tmp": tmp}
        try:
            yield v, ctx
        finally:
            v.close()


def test_every_entry_point_is_in_the_matrix() -> None:
    from tests.test_architecture import _core_functions

    names = {n.removeprefix("confida.") for n, _ in _core_functions()}
    covered = {e.split("@")[0] for e in ENTRIES}  # name@variant: the same entry, other data
    assert names - covered - set(NOT_IN_MATRIX) == set()
    assert {e.split("@")[0] for e in ENTRIES} - names == set()  # no stale rows either


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_decisions_match_the_register(seeded: Any, name: str) -> None:
    vault, ctx = seeded
    entry = ENTRIES[name]
    purposes: list[str | None] = {
        "none": [None], "required": sorted(REGISTER.purposes), "optional": PURPOSES,
    }[entry.purposes]
    mismatches = []
    for role in ROLES:
        for purpose in purposes:
            actor = Actor(id=f"matrix-{next(_n)}-{role}", role=role, source="api")
            try:
                entry.call(vault, actor, purpose, ctx)
            except ConfidaError:
                pass  # a refusal after the decision (consent, lawfulness) is not the point here
            e = _first_entry_of(vault, actor.id)
            authz = e["details"].get("authz", {})
            decided = authz.get("decision") == "allowed"
            if decided != expected(entry, role, purpose):
                mismatches.append((role, purpose, authz))
            if not decided:
                assert e["outcome"] == "denied", (role, purpose, e)
                assert authz.get("rule"), e
    assert mismatches == []
