"""Purpose binding (Art. 5(1)(b), 6(4)): a record is processed for the purpose it was collected
for, or one the register declares compatible with it; data given under consent serves that
consent only, and goes when the consent does."""

from __future__ import annotations

import pytest

from confida import consent, record
from confida.errors import ConsentRequired, PurposeNotAllowed, Refused
from confida.register.loader import load_register
from confida.retention import run_retention
from confida.transparency.ropa import render_ropa
from confida.vault import Vault
from tests.actors import ADMIN
from tests.test_audit_vault import entries

MSG = {"conversation_id": "c1", "role": "user", "text": "What is a monad?"}
USAGE = {"event": "open", "feature": "chat", "country": "DE"}


def test_consent_data_is_unreadable_for_every_purpose_after_withdrawal(vault: Vault) -> None:
    consent.grant(vault, "u", "model_training", actor=ADMIN)
    rid = record.collect(vault, "u", "conversation_message", MSG, "model_training",
                         actor=ADMIN).record_id
    assert record.read(vault, rid, "model_training", actor=ADMIN).data["text"] == MSG["text"]
    for other in ("service", "safety", "analytics"):
        with pytest.raises(Refused):  # never compatible with data given under consent
            record.read(vault, rid, other, actor=ADMIN)
    consent.withdraw(vault, "u", "model_training", actor=ADMIN)
    for p in ("service", "safety", "analytics", "model_training"):
        with pytest.raises(Refused):
            record.read(vault, rid, p, actor=ADMIN)
    with pytest.raises(ConsentRequired):
        record.update(vault, rid, {"text": "changed"}, "model_training", actor=ADMIN)
    # the same subject's contract data is not touched by the withdrawal
    kept = record.collect(vault, "u", "conversation_message", MSG, "service", actor=ADMIN)
    rep = run_retention(vault, actor=ADMIN)
    assert rep.removed == {"conversation_message": {"model_training": 1}}
    assert [m.id for m in record.list_records(vault, "u", actor=ADMIN)] == [kept.record_id]


def test_consent_granted_again_keeps_the_record(vault: Vault) -> None:
    consent.grant(vault, "u", "model_training", actor=ADMIN)
    record.collect(vault, "u", "conversation_message", MSG, "model_training", actor=ADMIN)
    assert run_retention(vault, actor=ADMIN).removed_total == 0


def test_declared_compatible_purpose_reads_and_undeclared_is_refused_and_audited(
    vault: Vault,
) -> None:
    rid = record.collect(vault, "u", "conversation_message", MSG, "service",
                         actor=ADMIN).record_id
    # safety declares itself compatible with service (abuse review of service messages)
    assert record.read(vault, rid, "safety", actor=ADMIN).data["text"] == MSG["text"]
    ev = record.collect(vault, "u", "usage_event", USAGE, "safety", actor=ADMIN).record_id
    # analytics declares no compatibility with safety: abuse logs do not become statistics
    with pytest.raises(PurposeNotAllowed):
        record.read(vault, ev, "analytics", actor=ADMIN)
    with pytest.raises(PurposeNotAllowed):
        record.update(vault, ev, {"feature": "x"}, "analytics", actor=ADMIN)
    last = entries(vault)[-1]
    assert (last["action"], last["outcome"]) == ("record.update", "denied")
    assert last["details"]["authz"]["rule"] == "purpose-binding"
    assert record.read(vault, ev, "safety", actor=ADMIN).data["feature"] == "chat"


def test_listing_for_a_purpose_shows_only_what_may_be_processed_for_it(vault: Vault) -> None:
    a = record.collect(vault, "u", "usage_event", USAGE, "analytics", actor=ADMIN).record_id
    s = record.collect(vault, "u", "usage_event", USAGE, "safety", actor=ADMIN).record_id
    assert {m.id for m in record.list_records(vault, "u", actor=ADMIN)} == {a, s}
    assert [m.id for m in record.list_records(vault, "u", for_purpose="analytics",
                                              actor=ADMIN)] == [a]
    # safety is declared compatible with analytics (investigating a reported abuse)
    assert {m.id for m in record.list_records(vault, "u", for_purpose="safety",
                                              actor=ADMIN)} == {a, s}


def test_sample_register_declares_nothing_compatible_with_consent_data() -> None:
    from importlib.resources import files

    reg = load_register(str(files("confida.data") / "sample-register.yaml"))
    for name, p in reg.purposes.items():
        assert "model_training" not in p.compatible_with, name
        assert all(r.strip() for r in p.compatible_with.values())
    md = render_ropa(reg, "md")
    assert "Further processing of data collected for another purpose (Art. 6(4))" in md
    assert "data collected for service: Reviewing messages sent to the service" in md
