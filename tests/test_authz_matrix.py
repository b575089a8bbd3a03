"""The access matrix, generated from the register and checked at the core.

For every public core entry point × every role of the sample register (and a role the register
does not declare) × every purpose (and none), the decision the core records matches what the
register says, and a denial is in the audit log as ``denied`` with the rule that denied it.
Nothing here goes through the API: a rule enforced only in an adapter would not show up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from confida import consent, record, register_view, text_scan
from confida.errors import ConfidaError
from confida.operation import Actor
from confida.register import load_register
from confida.register.models import Register
from confida.store.schema import audit_tables
from confida.vault import Vault
from tests.actors import ADMIN
from tests.conftest import SAMPLE_REGISTER

REGISTER: Register = load_register(SAMPLE_REGISTER)
ROLES = [*sorted(REGISTER.roles), "undeclared"]
PURPOSES: list[str | None] = [*sorted(REGISTER.purposes), None]
MSG = {"conversation_id": "c1", "text": "hello"}


@dataclass(frozen=True)
class Entry:
    """One core entry point: the action it asks for, whether it takes a purpose, how to call it,
    and the purposes the data it touches was collected for (purpose binding)."""

    action: str
    call: Callable[[Vault, Actor, str | None, dict[str, Any]], object]
    takes_purpose: bool = True
    collected_for: tuple[str, ...] = ()


def _p(purpose: str | None) -> str:
    return purpose if purpose is not None else "service"


ENTRIES: dict[str, Entry] = {
    "record.collect": Entry(
        "collect",
        lambda v, a, p, c: record.collect(v, "s1", "conversation_message", MSG, _p(p), actor=a),
    ),
    "record.read": Entry(
        "read",
        lambda v, a, p, c: record.read(v, c["rid"], _p(p), actor=a),
        collected_for=("service",),
    ),
    "record.update": Entry(
        "update",
        lambda v, a, p, c: record.update(v, c["rid"], {"text": "hi"}, _p(p), actor=a),
        collected_for=("service",),
    ),
    "record.list": Entry(
        "list", lambda v, a, p, c: record.list_records(v, "s1", for_purpose=p, actor=a),
    ),
    "consent.grant": Entry(
        "consent", lambda v, a, p, c: consent.grant(v, "s1", _p(p), actor=a),
    ),
    "consent.show": Entry(
        "consent", lambda v, a, p, c: consent.show(v, "s1", for_purpose=p, actor=a),
    ),
    "register.read": Entry(
        "register", lambda v, a, p, c: register_view.read_register(v, actor=a),
        takes_purpose=False,
    ),
    "pii.scan": Entry(
        "scan", lambda v, a, p, c: text_scan.scan(v, "no personal data", actor=a),
        takes_purpose=False,
    ),
}


def expected(entry: Entry, role: str, purpose: str | None) -> bool:
    """What the register says, computed here from the YAML's own words (not from authz)."""
    r = REGISTER.roles.get(role)
    if r is None or ("*" not in r.actions and entry.action not in r.actions):
        return False
    if not entry.takes_purpose:
        return True
    stated = purpose if purpose is not None or entry.action in ("list", "consent") else "service"
    if stated is None:
        # a purpose-limited role must say why it reads personal data; consent views may not
        return "*" in r.purposes or entry.action == "consent"
    if "*" not in r.purposes and stated not in r.purposes:
        return False
    if entry.collected_for and stated not in entry.collected_for:
        return any(o in REGISTER.purposes[stated].compatible_with for o in entry.collected_for)
    return True


def _last_decision(vault: Vault, action_prefix: str) -> dict[str, Any]:
    with vault.engine.connect() as conn:
        rows = conn.execute(
            select(audit_tables.entry.c.entry).order_by(audit_tables.entry.c.idx.desc()).limit(5)
        ).scalars()
        for raw in rows:
            e = json.loads(raw)
            if e["action"].startswith(action_prefix):
                return e
    raise AssertionError(f"no audit entry for {action_prefix}")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.conftest import database, make_config

    tmp = tmp_path_factory.mktemp("matrix")
    with database(tmp) as url:
        cfg = make_config(tmp / "data", url)
        v = Vault.open(cfg)
        rid = record.collect(v, "s1", "conversation_message", MSG, "service", actor=ADMIN)
        try:
            yield v, {"rid": rid.record_id}
        finally:
            v.close()


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_decisions_match_the_register(seeded: Any, name: str) -> None:
    vault, ctx = seeded
    entry = ENTRIES[name]
    purposes = PURPOSES if entry.takes_purpose else [None]
    mismatches = []
    for role in ROLES:
        actor = Actor(id=f"matrix-{role}", role=role, source="api")
        for purpose in purposes:
            try:
                entry.call(vault, actor, purpose, ctx)
            except ConfidaError:
                pass  # a refusal after the decision (consent, lawfulness) is not the point here
            e = _last_decision(vault, name.split(".")[0])
            assert e["actor"] == actor.id, (name, role, purpose)
            decided = e["details"].get("authz", {}).get("decision") == "allowed"
            if decided != expected(entry, role, purpose):
                mismatches.append((role, purpose, e["details"].get("authz")))
            if not decided:
                assert e["outcome"] == "denied", (role, purpose, e)
                assert e["details"]["authz"]["rule"], e
    assert mismatches == []
