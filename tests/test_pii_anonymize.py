"""Operators, policies and the token store."""

from __future__ import annotations

import pytest

from confida.pii import (
    Finding,
    InMemoryTokenStore,
    OperatorSpec,
    Policy,
    PseudonymScope,
    TokenStore,
    anonymize,
    deanonymize,
)

TEXT = ("Hi, my name is Anna Schmidt, card 4111 1111 1111 1111, born on 17 March 1982. "
        "Write to anna.schmidt@example.org -- Anna Schmidt")


def test_default_policy_replaces_with_type_tags() -> None:
    res = anonymize(TEXT)
    assert "Anna" not in res.text and "4111" not in res.text and "@" not in res.text
    assert "<PERSON>" in res.text and "<CREDIT_CARD>" in res.text and "<EMAIL>" in res.text
    for item in res.items:
        assert res.text[item.new_start : item.new_end] == item.replacement
        assert item.operator == "replace"


def test_redact_removes() -> None:
    res = anonymize("mail a@b.co now", Policy.from_dict({"default": "redact"}))
    assert res.text == "mail  now"


def test_mask_keeps_last_digits_and_shape() -> None:
    policy = Policy.from_dict({"CREDIT_CARD": {"op": "mask", "keep": 4, "char": "#"}})
    res = anonymize("card 4111 1111 1111 1111.", policy)
    assert res.text == "card #### #### #### 1111."


def test_pseudonymize_is_consistent_within_a_scope_only() -> None:
    policy = Policy.from_dict({"default": "pseudonymize"})
    scope = PseudonymScope()
    a = anonymize("Anna Schmidt met Jürgen Weber.", policy, scope=scope).text
    b = anonymize("Later Anna Schmidt called.", policy, scope=scope).text
    assert scope.pseudonym("PERSON", "anna  SCHMIDT") == "<PERSON_1>"
    assert scope.pseudonym("PHONE", "+49 30 1234") == scope.pseudonym("PHONE", "+4930-1234")
    assert a == "<PERSON_1> met <PERSON_2>."
    assert "<PERSON_1>" in b
    c = anonymize("Jürgen Weber called.", policy, scope=PseudonymScope()).text
    assert c == "<PERSON_1> called."


def test_hash_is_keyed_and_consistent() -> None:
    policy = Policy.from_dict({"default": "hash"})
    k1, k2 = b"k" * 32, b"j" * 32
    one = anonymize("mail a@b.co", policy, hash_key=k1).text
    assert one == anonymize("write a@b.co", policy, hash_key=k1).text.replace("write", "mail")
    assert one != anonymize("mail a@b.co", policy, hash_key=k2).text
    with pytest.raises(ValueError, match="key"):
        anonymize("mail a@b.co", policy)


def test_generalize_date_keeps_the_year() -> None:
    policy = Policy.from_dict({"DATE": "generalize_date"})
    assert anonymize("born on 17 March 1982.", policy).text == "born on 1982."
    assert anonymize("DOB 1957-10-28", policy).text == "DOB 1957"


def test_tokenize_round_trip_and_erasure() -> None:
    store = InMemoryTokenStore()
    assert isinstance(store, TokenStore)
    policy = Policy.from_dict({"default": "tokenize"})
    res = anonymize(TEXT, policy, token_store=store)
    assert "Anna" not in res.text
    assert deanonymize(res.text, store) == TEXT
    # A store that lost its map (erased subject) leaves the tokens as they are.
    assert deanonymize(res.text, InMemoryTokenStore()) == res.text
    with pytest.raises(ValueError, match="token store"):
        anonymize(TEXT, policy)


def test_keep_and_explicit_findings() -> None:
    policy = Policy.from_dict({"default": "keep", "EMAIL": "replace"})
    given = [Finding(2, 8, "EMAIL"), Finding(0, 1, "PERSON")]
    res = anonymize("x a@b.co y", policy, findings=given)
    assert res.text == "x <EMAIL> y"
    assert len(res.items) == 1


def test_policy_from_dict_and_back() -> None:
    data = {"default": "replace", "PERSON": "pseudonymize", "DATE": "generalize_date",
            "CREDIT_CARD": {"op": "mask", "keep": 4}}
    policy = Policy.from_dict(data)
    assert policy.for_label("PERSON").op == "pseudonymize"
    assert policy.for_label("PHONE").op == "replace"
    assert policy.for_label("CREDIT_CARD") == OperatorSpec("mask", {"keep": 4})
    assert Policy.from_dict(policy.to_dict()) == policy


@pytest.mark.parametrize(
    "bad", [{"PERSON": "shred"}, {"PERSON": {"keep": 3}}, {"CARD": {"op": "mask", "keep": -1}},
            {"X": {"op": "mask", "char": "**"}}, {"X": 3}],
)
def test_policy_errors_name_the_entry(bad: dict) -> None:
    with pytest.raises(ValueError, match="policy entry"):
        Policy.from_dict(bad)
