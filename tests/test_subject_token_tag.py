"""A subject token is believed only for its HMAC tag, not for parsing cleanly.

Each forgery here is a well-formed ``cst_<payload>.<tag>`` whose payload is valid JSON with the
claims ``verify`` reads, so only the tag check stands between it and acceptance: a tag made with
another installation's key, a genuine tag moved from another token, one character of a genuine
tag changed, and a payload rewritten (another subject, a later expiry) under its old tag.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from confida import consent, subject_token
from confida.errors import Unauthenticated
from confida.vault import Vault
from tests.conftest import database, make_config

ALICE = "alice@example.test"
BOB = "bob@example.test"


def _split(token: str) -> tuple[str, str]:
    payload, tag = token.removeprefix(subject_token.PREFIX).split(".")
    return payload, tag


def _join(payload: str, tag: str) -> str:
    return f"{subject_token.PREFIX}{payload}.{tag}"


def _claims(payload: str) -> dict[str, object]:
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _encode(claims: dict[str, object]) -> str:
    raw = json.dumps(claims, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def people(vault: Vault) -> Vault:
    consent.grant(vault, ALICE, "model_training")
    consent.grant(vault, BOB, "model_training")
    return vault


@pytest.fixture
def other_vault(tmp_path: Path) -> Iterator[Vault]:
    """A second installation: its own key store, so its own subject-token key."""
    with database(tmp_path / "other") as url:
        v = Vault.open(make_config(tmp_path / "other" / "data", url))
        try:
            consent.grant(v, ALICE, "model_training")
            yield v
        finally:
            v.close()


def _refused(vault: Vault, token: str) -> None:
    with pytest.raises(Unauthenticated):
        subject_token.verify(vault, token)


def test_genuine_token_verifies(people: Vault) -> None:
    """Control: the untouched token passes, so the refusals below are the tag's doing."""
    token = subject_token.issue(people, ALICE).token
    assert _claims(_split(token)[0])["sub"] == subject_token.verify(people, token).subject_id


def test_tag_made_with_another_key_is_refused(people: Vault, other_vault: Vault) -> None:
    foreign = subject_token.issue(other_vault, ALICE).token
    assert subject_token.verify(other_vault, foreign)  # genuine where it was made
    _refused(people, foreign)


def test_genuine_tag_of_another_token_is_refused(people: Vault) -> None:
    alice_payload, _ = _split(subject_token.issue(people, ALICE).token)
    _, bob_tag = _split(subject_token.issue(people, BOB).token)
    _refused(people, _join(alice_payload, bob_tag))


def test_one_changed_character_in_the_tag_is_refused(people: Vault) -> None:
    payload, tag = _split(subject_token.issue(people, ALICE).token)
    for i in (0, len(tag) // 2):
        changed = tag[:i] + ("A" if tag[i] != "A" else "B") + tag[i + 1:]
        _refused(people, _join(payload, changed))


@pytest.mark.parametrize("rewrite", ["subject", "expiry"])
def test_rewritten_payload_under_its_old_tag_is_refused(people: Vault, rewrite: str) -> None:
    """The payload stays valid JSON with every claim, so parsing cannot be what refuses it."""
    payload, tag = _split(subject_token.issue(people, ALICE).token)
    claims = _claims(payload)
    if rewrite == "subject":
        claims["sub"] = subject_token.verify(
            people, subject_token.issue(people, BOB).token).subject_id
    else:
        claims["exp"] = int(claims["exp"]) + 365 * 24 * 3600  # type: ignore[call-overload]
    forged = _join(_encode(claims), tag)
    assert _claims(_split(forged)[0]) == claims  # well-formed: only the tag is wrong
    _refused(people, forged)


def test_empty_or_truncated_tag_is_refused(people: Vault) -> None:
    payload, tag = _split(subject_token.issue(people, ALICE).token)
    for bad in ("", tag[:-1], tag[:16]):
        _refused(people, _join(payload, bad))
