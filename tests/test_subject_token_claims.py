"""What a verified subject token says, and where its edges are.

The claims a token carries are what the API acts on and audits: which subject, until when, for
which use, and which token (its id names the actor in every audit entry of what the person does
with it). So they must come back exactly as issued; the token lives no longer than asked, and not
even the second of its expiry; the lifetime is 1 to 15 minutes; only the ``cst_v<N>.`` format is
read; issuing is audited; and the actor a token yields is the data subject, never a role.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from confida import consent, subject_token
from confida.config import Config
from confida.errors import BadInput, Unauthenticated
from confida.store.schema import audit_tables
from confida.vault import Vault
from tests.actors import ADMIN

ALICE = "alice@example.test"
NOW = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)
FORMAT = re.compile(r"cst_v[0-9]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
API, LINK = subject_token.API, subject_token.LINK


class Fixed:
    """A vault whose clock reads ``now``, which the test moves."""

    def __init__(self, config: Config) -> None:
        self.now = NOW
        self.vault = Vault.open(config, clock=lambda: self.now)


@pytest.fixture
def at(config: Config) -> Iterator[Fixed]:
    f = Fixed(config)
    consent.grant(f.vault, ALICE, "model_training", actor=ADMIN)
    try:
        yield f
    finally:
        f.vault.close()


def _issue(vault: Vault, minutes: int | None = None, use: str = API) -> subject_token.SubjectToken:
    return subject_token.issue(vault, ALICE, minutes=minutes, use=use, actor=ADMIN)


def _payload(token: str) -> dict[str, object]:
    p = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


@pytest.mark.parametrize("use", [API, LINK])
def test_claims_come_back_as_issued(at: Fixed, use: str) -> None:
    v = at.vault
    t = _issue(v, 7, use)
    assert FORMAT.fullmatch(t.token)  # unpadded base64url: safe in a header and a URL
    assert t.expires_at == NOW + timedelta(minutes=7) and t.expires_at.tzinfo is not None
    claims = subject_token.verify(v, t.token, use=use)
    raw = _payload(t.token)
    assert claims.subject_id == raw["sub"]
    assert claims.use == raw["use"] == use
    assert claims.token_id == raw["jti"] == t.token_id
    assert re.fullmatch(r"[0-9a-f]{32}", claims.token_id)
    assert claims.expires_at == t.expires_at and claims.expires_at.utcoffset() == timedelta(0)


def test_every_token_has_its_own_id(at: Fixed) -> None:
    v = at.vault
    ids = {subject_token.verify(v, _issue(v).token, use=API).token_id for _ in range(5)}
    assert len(ids) == 5


def test_expired_from_the_second_of_expiry(at: Fixed) -> None:
    v = at.vault
    t = _issue(v, 1)
    at.now = NOW + timedelta(seconds=59)
    assert subject_token.verify(v, t.token, use=API)
    at.now = NOW + timedelta(minutes=1)
    with pytest.raises(Unauthenticated, match="expired"):
        subject_token.verify(v, t.token, use=API)


@pytest.mark.parametrize("minutes", [1, 15])
def test_lifetime_limits_accepted(at: Fixed, minutes: int) -> None:
    t = _issue(at.vault, minutes)
    assert t.expires_at == NOW + timedelta(minutes=minutes)


@pytest.mark.parametrize("minutes", [0, 16, -5])
def test_lifetime_outside_limits_refused(at: Fixed, minutes: int) -> None:
    with pytest.raises(BadInput):
        _issue(at.vault, minutes)


def test_only_the_cst_format_is_read(at: Fixed) -> None:
    v = at.vault
    token = _issue(v).token
    assert subject_token.verify(v, token, use=API)  # control
    body = token.removeprefix("cst_")  # "v1.<payload>.<tag>"
    _, payload, tag = token.split(".")
    for other in ("csl_" + body, "xxx_" + body, body, token + ".", token + ".A",
                  f"cst_{payload}.{tag}", f"cst_x1.{payload}.{tag}", f"cst_v.{payload}.{tag}"):
        with pytest.raises(Unauthenticated, match="malformed"):
            subject_token.verify(v, other, use=API)


def test_issue_is_audited_with_token_id_and_lifetime(at: Fixed) -> None:
    v = at.vault
    t = _issue(v, 9)
    with v.engine.connect() as conn:
        last = json.loads(conn.execute(
            select(audit_tables.entry.c.entry).order_by(audit_tables.entry.c.idx.desc())
        ).scalars().first())
    assert last["action"] == "subject_token.issue.api" and last["outcome"] == "allowed"
    assert last["object_ids"] == [f"subject_token:{_payload(t.token)['jti']}"]
    assert last["details"]["minutes"] == 9
    assert ALICE not in json.dumps(last)


def test_actor_is_the_subject_named_by_the_token_not_a_role(at: Fixed) -> None:
    v = at.vault
    claims = subject_token.verify(v, _issue(v).token, use=API)
    actor = subject_token.actor_for(claims)
    assert actor.role is None
    assert actor.subject_id == claims.subject_id
    assert actor.id == f"subject:token:{claims.token_id}"
    assert actor.source == "api"
