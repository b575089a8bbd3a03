"""Reversible tokenisation with the token map sealed under the subject's key."""

from __future__ import annotations

from sqlalchemy import select

from confida import rights
from confida.pii import anonymize, deanonymize
from confida.pii.operators import Policy
from confida.store.schema import token_map
from confida.token_map import SubjectTokenStore
from confida.vault import Vault
from tests.actors import ADMIN

TEXT = "Write to jane.roe@example.org or call +44 20 7946 0958."


def test_tokens_round_trip_and_die_with_the_subject(vault: Vault) -> None:
    store = SubjectTokenStore(vault, "jane")
    policy = Policy.from_dict({"default": "tokenize"})
    out = anonymize(TEXT, policy, token_store=store)
    assert "jane.roe@example.org" not in out.text and "7946" not in out.text
    assert deanonymize(out.text, store) == TEXT
    with vault.engine.connect() as conn:
        sealed = conn.execute(select(token_map.c.ciphertext)).scalars().all()
    assert sealed and all(b"jane.roe" not in c for c in sealed)
    other = SubjectTokenStore(vault, "someone-else")
    assert deanonymize(out.text, other) == out.text  # tokens are scoped to their subject
    rights.erase(vault, "jane", verified_by="test", actor=ADMIN)
    assert deanonymize(out.text, store) == out.text  # irreversible once the key is gone
    with vault.engine.connect() as conn:
        assert conn.execute(select(token_map)).all() == []
