"""Consent is recorded only for purposes the acting role may use: a DPO (service, safety,
billing) cannot grant a consent to model training on a person's behalf, and the refusal is
audited."""

from __future__ import annotations

import pytest

from confida import consent
from confida.errors import AccessDenied
from confida.operation import Actor
from tests.actors import ADMIN
from tests.test_audit_vault import entries

DPO = Actor(id="dpo-1", role="dpo", source="api")


def test_dpo_cannot_grant_model_training_consent_and_the_denial_is_audited(vault) -> None:
    with pytest.raises(AccessDenied):
        consent.grant(vault, "u", "model_training", actor=DPO)
    last = entries(vault)[-1]
    assert (last["action"], last["outcome"], last["actor"]) == (
        "consent.grant", "denied", "dpo-1")
    assert last["details"]["authz"]["rule"] == "role:dpo:purpose"
    current, events = consent.show(vault, "u", actor=ADMIN)
    assert events == [] and current["model_training"]["granted"] is False


def test_a_role_with_the_purpose_records_it(vault) -> None:
    service = Actor(id="svc", role="service", source="api")
    consent.grant(vault, "u", "model_training", actor=service)
    assert consent.show(vault, "u", actor=ADMIN)[0]["model_training"]["granted"] is True
