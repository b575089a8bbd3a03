"""Detokenisation is re-identification: an authorised, audited operation for a purpose, which
never creates a subject and leaves an erased person's tokens opaque."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from confida import consent
from confida.errors import AccessDenied, ConsentRequired, SubjectRestricted
from confida.operation import Actor
from confida.pii import anonymize
from confida.pii.operators import Policy
from confida.store.schema import subject as subject_t
from confida.token_map import SubjectTokenStore, detokenize
from confida.vault import Vault
from tests.test_audit_vault import entries

TEXT = "Write to jane.roe@example.org or call +44 20 7946 0958."
SERVICE = Actor(id="svc", role="service", source="api")


def _subjects(vault: Vault) -> int:
    with vault.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(subject_t)).scalar_one())


def _tokenised(vault: Vault, who: str = "jane") -> str:
    out = anonymize(TEXT, Policy.from_dict({"default": "tokenize"}),
                    token_store=SubjectTokenStore(vault, who))
    assert "jane.roe" not in out.text
    return out.text


def test_detokenize_restores_for_an_allowed_role_and_logs_counts_only(vault: Vault) -> None:
    tok = _tokenised(vault)
    res = detokenize(vault, "jane", tok, "service", actor=SERVICE)
    assert res.texts == [TEXT] and res.restored == 2 and res.opaque == 0
    last = entries(vault)[-1]
    assert (last["action"], last["outcome"], last["purpose"]) == (
        "pii.detokenize", "allowed", "service")
    assert last["details"]["restored"] == 2
    assert "jane.roe" not in repr(entries(vault)) and "7946" not in repr(entries(vault))
    # another subject's tokens stay opaque
    assert detokenize(vault, "john", tok, "service", actor=SERVICE).texts == [tok]


def test_role_without_detokenize_is_denied_and_audited(vault: Vault) -> None:
    tok = _tokenised(vault)
    for role in ("support", "dpo", "ml_engineer"):
        with pytest.raises(AccessDenied):
            detokenize(vault, "jane", tok, "service", actor=Actor(id=role, role=role))
        last = entries(vault)[-1]
        assert (last["action"], last["outcome"]) == ("pii.detokenize", "denied")


def test_unknown_subject_is_not_created_and_lookups_create_nothing(vault: Vault) -> None:
    tok = _tokenised(vault)
    before = _subjects(vault)
    assert detokenize(vault, "nobody", tok, "service", actor=SERVICE).texts == [tok]
    assert SubjectTokenStore(vault, "nobody-else").get("<TOK_aaaaaaaaaaaaaaaaaaaa>") is None
    assert _subjects(vault) == before


def _set_status(vault: Vault, who: str, status: str) -> None:
    """What erasure and restriction leave behind (their own tests cover how they get there)."""
    ref = vault.subject_ref(who)
    with vault.engine.begin() as conn:
        sid = conn.execute(select(subject_t.c.id).where(subject_t.c.ref == ref)).scalar_one()
        if status == "erased":
            conn.execute(update(subject_t).where(subject_t.c.id == sid)
                         .values(status=status, ref=None))
        else:
            conn.execute(update(subject_t).where(subject_t.c.id == sid).values(status=status))
    if status == "erased":
        vault.keys.destroy(sid)


def test_erased_subject_creates_no_row_and_tokens_stay_opaque(vault: Vault) -> None:
    tok = _tokenised(vault)
    _set_status(vault, "jane", "erased")
    before = _subjects(vault)
    res = detokenize(vault, "jane", tok, "service", actor=SERVICE)
    assert res.texts == [tok] and res.restored == 0 and res.opaque == 2
    assert SubjectTokenStore(vault, "jane").get(tok[tok.index("<TOK"):tok.index(">") + 1]) is None
    assert _subjects(vault) == before


def test_processing_rules_apply(vault: Vault) -> None:
    tok = _tokenised(vault)
    with pytest.raises(ConsentRequired):
        detokenize(vault, "jane", tok, "model_training", actor=SERVICE)
    consent.grant(vault, "jane", "model_training", actor=SERVICE)
    assert detokenize(vault, "jane", tok, "model_training", actor=SERVICE).restored == 2
    _set_status(vault, "jane", "restricted")
    with pytest.raises(SubjectRestricted):
        detokenize(vault, "jane", tok, "service", actor=SERVICE)
