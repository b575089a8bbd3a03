"""A subject token is believed only for its HMAC tag, not for parsing cleanly.

Each forgery here is a well-formed ``cst_v<N>.<payload>.<tag>`` whose payload is valid JSON with
the claims ``verify`` reads, so only the tag check stands between it and acceptance: a tag made
with another installation's key, a genuine tag moved from another token, one character of a
genuine tag changed, and a payload rewritten (another subject, a later expiry, another use) under
its old tag. Each is refused as *invalid* (the tag), never as *malformed* (the parser).
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
from tests.actors import ADMIN
from tests.conftest import database, make_config

ALICE = "alice@example.test"
BOB = "bob@example.test"
API = subject_token.API


def _issue(vault: Vault, who: str, use: str = API) -> str:
    return subject_token.issue(vault, who, use=use, actor=ADMIN).token


def _split(token: str) -> tuple[str, str, str]:
    head, payload, tag = token.split(".")
    return head, payload, tag


def _join(head: str, payload: str, tag: str) -> str:
    return f"{head}.{payload}.{tag}"


def _claims(payload: str) -> dict[str, object]:
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _encode(claims: dict[str, object]) -> str:
    raw = json.dumps(claims, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def people(vault: Vault) -> Vault:
    consent.grant(vault, ALICE, "model_training", actor=ADMIN)
    consent.grant(vault, BOB, "model_training", actor=ADMIN)
    return vault


@pytest.fixture
def other_vault(tmp_path: Path) -> Iterator[Vault]:
    """A second installation: its own key store, so its own subject-token key."""
    with database(tmp_path / "other") as url:
        v = Vault.open(make_config(tmp_path / "other" / "data", url))
        try:
            consent.grant(v, ALICE, "model_training", actor=ADMIN)
            yield v
        finally:
            v.close()


def _refused(vault: Vault, token: str, use: str = API) -> None:
    with pytest.raises(Unauthenticated, match="invalid"):
        subject_token.verify(vault, token, use=use)


def test_genuine_token_verifies(people: Vault) -> None:
    """Control: the untouched token passes, so the refusals below are the tag's doing."""
    token = _issue(people, ALICE)
    claims = subject_token.verify(people, token, use=API)
    assert _claims(_split(token)[1])["sub"] == claims.subject_id


def test_tag_made_with_another_key_is_refused(people: Vault, other_vault: Vault) -> None:
    foreign = _issue(other_vault, ALICE)
    assert subject_token.verify(other_vault, foreign, use=API)  # genuine where it was made
    _refused(people, foreign)


def test_genuine_tag_of_another_token_is_refused(people: Vault) -> None:
    head, alice_payload, _ = _split(_issue(people, ALICE))
    _, _, bob_tag = _split(_issue(people, BOB))
    _refused(people, _join(head, alice_payload, bob_tag))


def test_one_changed_character_in_the_tag_is_refused(people: Vault) -> None:
    head, payload, tag = _split(_issue(people, ALICE))
    for i in (0, len(tag) // 2):
        changed = tag[:i] + ("A" if tag[i] != "A" else "B") + tag[i + 1:]
        _refused(people, _join(head, payload, changed))


@pytest.mark.parametrize("rewrite", ["subject", "expiry", "use"])
def test_rewritten_payload_under_its_old_tag_is_refused(people: Vault, rewrite: str) -> None:
    """The payload stays valid JSON with every claim, so parsing cannot be what refuses it."""
    use = subject_token.LINK if rewrite == "use" else API
    head, payload, tag = _split(_issue(people, ALICE, use))
    claims = _claims(payload)
    if rewrite == "subject":
        claims["sub"] = subject_token.verify(people, _issue(people, BOB), use=API).subject_id
    elif rewrite == "expiry":
        claims["exp"] = int(claims["exp"]) + 365 * 24 * 3600  # type: ignore[call-overload]
    else:
        claims["use"] = API  # a single-use link turned into an API bearer token
    forged = _join(head, _encode(claims), tag)
    assert _claims(_split(forged)[1]) == claims  # well-formed: only the tag is wrong
    _refused(people, forged)


def test_empty_or_truncated_tag_is_refused(people: Vault) -> None:
    head, payload, tag = _split(_issue(people, ALICE))
    for bad in ("", tag[:-1], tag[:16]):
        _refused(people, _join(head, payload, bad))
