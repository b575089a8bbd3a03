"""The core decides: rights, requests, breaches, compliance, audit reads, API keys and keys.

Every public function of these modules is refused, at the core (not only through an adapter),
to a role without the action, and the refusal is in the audit log as ``denied`` with the rule
that decided. A data subject acts on their own data only.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from confida import breach, credential, kek_lifecycle, record, request, rights
from confida import subject as subjects
from confida.audit import reads as audit_reads
from confida.compliance.run import run_checks, run_compliance
from confida.config import Config
from confida.errors import AccessDenied
from confida.operation import Actor, subject_actor
from confida.store.engine import snapshot
from confida.vault import Vault
from tests.actors import ADMIN
from tests.tr_support import ListSink

V = "session:password+totp"
#: the sample register's ``analyst`` may run analytics only: none of the actions here
ANALYST = Actor(id="test-analyst", role="analyst", source="api")
#: ``support`` handles requests but may not exercise rights
SUPPORT = Actor(id="test-support", role="support", source="api")


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def v(config: Config, sink: ListSink) -> Iterator[Vault]:
    vault = Vault.open(config, audit=sink)
    try:
        yield vault
    finally:
        vault.close()


@pytest.fixture
def seeded(v: Vault) -> dict[str, Any]:
    rec = record.collect(v, "u-1", "account", {"email": "jane@example.com"}, "service",
                         actor=ADMIN)
    record.collect(v, "u-2", "account", {"email": "john@example.com"}, "service", actor=ADMIN)
    req = request.submit(v, request.ACCESS, "u-1", V, actor=ADMIN)
    req2 = request.submit(v, request.ACCESS, "u-2", V, actor=ADMIN)
    b = breach.register_breach(v, title="lost laptop", description="a laptop was stolen",
                               actor=ADMIN)
    key = credential.create(v, "support", label="k", actor=ADMIN)
    with v.engine.connect() as conn:
        ids = {who: subjects.require(v, conn, who).id for who in ("u-1", "u-2")}
    return {"record": rec.record_id, "request": req.id, "request2": req2.id, "breach": b.id,
            "key": key.info.id, "ids": ids}


def _calls(s: dict[str, Any]) -> dict[str, Callable[[Vault, Actor], Any]]:
    """Every public function of the modules under test, as (vault, actor) -> call."""
    return {
        "rights.access_export": lambda v, a: rights.access_export(
            v, "u-1", io.BytesIO(), verified_by=V, actor=a),
        "rights.rectify": lambda v, a: rights.rectify(
            v, "u-1", s["record"], {"email": "j@example.org"}, verified_by=V, actor=a),
        "rights.restrict": lambda v, a: rights.restrict(v, "u-1", verified_by=V, actor=a),
        "rights.lift_restriction": lambda v, a: rights.lift_restriction(
            v, "u-1", verified_by=V, actor=a),
        "rights.object_to": lambda v, a: rights.object_to(
            v, "u-1", "model_training", verified_by=V, actor=a),
        "rights.erase": lambda v, a: rights.erase(v, "u-1", verified_by=V, actor=a),
        "rights.erasure_feed": lambda v, a: rights.erasure_feed(v, actor=a),
        "request.submit": lambda v, a: request.submit(v, request.ACCESS, "u-1", V, actor=a),
        "request.get": lambda v, a: request.get(v, s["request"], actor=a),
        "request.list_requests": lambda v, a: request.list_requests(v, actor=a),
        "request.extend": lambda v, a: request.extend(v, s["request"], 1, "busy", actor=a),
        "request.complete": lambda v, a: request.complete(v, s["request"], actor=a),
        "request.reject": lambda v, a: request.reject(v, s["request"], "no", actor=a),
        "request.sign_in": lambda v, a: request.sign_in(v, actor=a),
        "breach.register_breach": lambda v, a: breach.register_breach(
            v, title="t", description="d", actor=a),
        "breach.get_breach": lambda v, a: breach.get_breach(v, s["breach"], actor=a),
        "breach.list_breaches": lambda v, a: breach.list_breaches(v, actor=a),
        "breach.affected_subject_ids": lambda v, a: breach.affected_subject_ids(
            v, s["breach"], actor=a),
        "breach.mark_notified": lambda v, a: breach.mark_notified(
            v, s["breach"], authority=True, actor=a),
        "compliance.run_compliance": lambda v, a: run_compliance(v, actor=a),
        "compliance.run_checks": lambda v, a: run_checks(v, only=["retention"], actor=a),
        "audit.latest_checkpoint": lambda v, a: audit_reads.latest_checkpoint(v, actor=a),
        "audit.inclusion_proof": lambda v, a: audit_reads.inclusion_proof(v, 0, 1, actor=a),
        "audit.consistency_proof": lambda v, a: audit_reads.consistency_proof(
            v, 1, 1, actor=a),
        "audit.status": lambda v, a: audit_reads.status(v, actor=a, verify=True),
        "credential.create": lambda v, a: credential.create(v, "support", actor=a),
        "credential.revoke": lambda v, a: credential.revoke(v, s["key"], actor=a),
        "credential.list_keys": lambda v, a: credential.list_keys(v, actor=a),
        "keys.rotate": lambda v, a: kek_lifecycle.rotate(v, actor=a),
        "keys.retire_due": lambda v, a: kek_lifecycle.retire_due(v, actor=a),
        "keys.status": lambda v, a: kek_lifecycle.status(v, actor=a),
    }


NAMES = sorted(_calls({}).keys())


@pytest.mark.parametrize("name", NAMES)
def test_a_role_without_the_action_is_refused_and_the_refusal_is_logged(
    name: str, v: Vault, sink: ListSink, seeded: dict[str, Any]
) -> None:
    before = len(sink.entries)
    with pytest.raises(AccessDenied):
        _calls(seeded)[name](v, ANALYST)
    new = sink.entries[before:]
    assert len(new) == 1, new  # one attempt, one entry, and nothing done
    (entry,) = new
    assert entry["actor"] == ANALYST.id and entry["outcome"] == "denied"
    assert entry["details"]["authz"]["decision"] == "denied"
    assert entry["details"]["authz"]["rule"] == "role:analyst:action"


def test_a_refused_erasure_leaves_the_subject_and_its_key(
    v: Vault, seeded: dict[str, Any]
) -> None:
    with pytest.raises(AccessDenied):
        rights.erase(v, "u-1", verified_by=V, actor=SUPPORT)
    assert v.keys.has_key(seeded["ids"]["u-1"])
    assert record.read(v, seeded["record"], "service", actor=ADMIN).data


def test_an_allowed_call_records_the_rule_that_let_it(
    v: Vault, sink: ListSink, seeded: dict[str, Any]
) -> None:
    rights.restrict(v, "u-1", verified_by=V, actor=ADMIN)
    entry = sink.entries[-1]
    assert entry["action"] == "rights.restrict" and entry["outcome"] == "allowed"
    assert entry["details"]["authz"] == {"action": "rights", "decision": "allowed",
                                         "rule": "role:admin"}


# --- a data subject acts on their own data only ----------------------------------------------


def test_a_subject_uses_their_rights_on_their_own_data(
    v: Vault, sink: ListSink, seeded: dict[str, Any]
) -> None:
    me = subject_actor(seeded["ids"]["u-1"], "s1")
    out = io.BytesIO()
    res = rights.access_export(v, "u-1", out, verified_by=V, actor=me)
    assert res.records == 1
    assert sink.entries[-1]["details"]["authz"]["rule"] == "subject:self"
    mine = request.list_requests(v, actor=me)
    assert mine and {r.subject for r in mine} == {res.request.subject}
    assert request.get(v, seeded["request"], actor=me).id == seeded["request"]


@pytest.mark.parametrize("name", ["rights.access_export", "rights.rectify", "rights.restrict",
                                  "rights.object_to", "rights.erase", "request.submit"])
def test_a_subject_cannot_act_on_another_subject(
    name: str, v: Vault, sink: ListSink, seeded: dict[str, Any]
) -> None:
    other = subject_actor(seeded["ids"]["u-2"], "s2")  # the calls all name u-1
    before = len(sink.entries)
    with pytest.raises(AccessDenied):
        _calls(seeded)[name](v, other)
    (entry,) = sink.entries[before:]
    assert entry["outcome"] == "denied" and entry["details"]["authz"]["rule"] == "subject:other"
    assert v.keys.has_key(seeded["ids"]["u-1"])


@pytest.mark.parametrize("name", ["request.extend", "request.complete", "request.reject",
                                  "rights.erasure_feed", "breach.list_breaches",
                                  "audit.latest_checkpoint", "credential.list_keys"])
def test_a_subject_cannot_take_the_controllers_part(
    name: str, v: Vault, seeded: dict[str, Any]
) -> None:
    """Answering, extending or refusing a request is the controller's, even one's own."""
    me = subject_actor(seeded["ids"]["u-1"], "s1")
    with pytest.raises(AccessDenied):
        _calls(seeded)[name](v, me)


def test_a_subject_cannot_read_another_subjects_request(
    v: Vault, seeded: dict[str, Any]
) -> None:
    me = subject_actor(seeded["ids"]["u-1"], "s1")
    with pytest.raises(AccessDenied):
        request.get(v, seeded["request2"], actor=me)
    assert seeded["request2"] not in {r.id for r in request.list_requests(v, actor=me)}


def test_a_subject_naming_an_unknown_person_learns_nothing(
    v: Vault, seeded: dict[str, Any]
) -> None:
    me = subject_actor(seeded["ids"]["u-1"], "s1")
    with pytest.raises(AccessDenied):  # not NotFound: existence is not revealed
        rights.restrict(v, "nobody", verified_by=V, actor=me)


def test_audit_entries_are_readable_in_a_snapshot(v: Vault, seeded: dict[str, Any]) -> None:
    """(``entries`` reads the store's log; with a list sink it is empty, never an error.)"""
    with snapshot(v.engine) as conn:
        assert list(audit_reads.entries(conn)) == []
