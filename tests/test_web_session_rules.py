"""Edges of web sessions and privacy links that mutation testing found untested.

Signing out ends that one session (not the holder's others) and keeps the time it first ended;
a console session ends no later than the sign-in's own ``not_after``; sign-in, sign-out and link
issuing are audited under their own action names; a privacy link lives as long as asked and
carries its own token id.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from confida import credential, subject_token, web_sessions
from confida.config import Config
from confida.errors import AccessDenied, BadInput
from confida.operation import Actor
from confida.store.schema import web_session
from confida.vault import Vault
from tests.actors import ADMIN
from tests.test_audit_vault import entries
from tests.web_support import START, FixedClock, fixed_clock_vault

PERSON = "rules-person@example.test"


@pytest.fixture
def at(config: Config) -> Iterator[FixedClock]:
    with fixed_clock_vault(config, PERSON) as f:
        yield f


def _live(vault: Vault, s: web_sessions.WebSession) -> bool:
    return web_sessions.resume(vault, s.sid, s.kind, s.key_version) is not None


def _ended_at(vault: Vault, s: web_sessions.WebSession) -> datetime | None:
    with vault.engine.connect() as conn:
        value = conn.execute(
            select(web_session.c.ended_at).where(web_session.c.sid == s.sid)
        ).scalar()
    return None if value is None else value.replace(tzinfo=value.tzinfo or UTC)


def test_sign_out_ends_that_session_only_and_keeps_when_it_ended(at: FixedClock) -> None:
    first = web_sessions.open_console(at.vault, ADMIN)
    other = web_sessions.open_console(at.vault, ADMIN)
    web_sessions.sign_out(at.vault, first, actor=ADMIN)
    assert not _live(at.vault, first)
    assert _live(at.vault, other)  # the same holder's other browser stays signed in
    assert _ended_at(at.vault, first) == START
    at.now = START + timedelta(minutes=1)
    web_sessions.sign_out(at.vault, first, actor=ADMIN)  # a replayed sign-out
    assert _ended_at(at.vault, first) == START


def test_console_session_ends_no_later_than_not_after(at: FixedClock) -> None:
    soon = START + timedelta(minutes=5)
    assert web_sessions.open_console(at.vault, ADMIN, not_after=soon).expires_at == soon
    late = START + timedelta(hours=5)
    assert (web_sessions.open_console(at.vault, ADMIN, not_after=late).expires_at
            == START + web_sessions.STAFF_TTL)


def test_sign_in_and_sign_out_are_audited_under_their_own_names(at: FixedClock) -> None:
    s = web_sessions.open_console(at.vault, ADMIN)
    last = entries(at.vault)[-1]
    assert (last["action"], last["outcome"]) == ("console.sign_in", "allowed")
    web_sessions.sign_out(at.vault, s, actor=ADMIN)
    last = entries(at.vault)[-1]
    assert (last["action"], last["outcome"]) == ("web_session.end", "allowed")
    assert f"web_session:{s.sid}" in last["object_ids"]


def test_privacy_link_lives_as_asked_and_carries_its_own_token_id(at: FixedClock) -> None:
    link = subject_token.privacy_link(at.vault, PERSON, base_url="https://h.example/",
                                      minutes=3, actor=ADMIN)
    assert link.url.startswith("https://h.example/privacy/enter?token=cst_")
    assert link.expires_at == START + timedelta(minutes=3)
    token = parse_qs(urlsplit(link.url).query)["token"][0]
    claims = subject_token.verify(at.vault, token, use=subject_token.LINK)
    assert claims.expires_at == START + timedelta(minutes=3)
    assert len(claims.token_id) == 32
    assert f"subject_token:{claims.token_id}" in entries(at.vault)[-1]["object_ids"]


def test_console_session_of_an_api_key_ends_no_later_than_the_key(at: FixedClock) -> None:
    key_end = START + timedelta(minutes=7)
    short = credential.create(at.vault, "dpo", expires_at=key_end, actor=ADMIN)
    # another key with another expiry: the session takes its own key's, not any key's
    credential.create(at.vault, "dpo", expires_at=START + timedelta(minutes=9), actor=ADMIN)
    endless = credential.create(at.vault, "dpo", actor=ADMIN)
    actor = credential.authenticate(at.vault, short.key)
    assert web_sessions.open_console(at.vault, actor).expires_at == key_end
    actor = credential.authenticate(at.vault, endless.key)
    assert (web_sessions.open_console(at.vault, actor).expires_at
            == START + web_sessions.STAFF_TTL)


def test_a_sign_in_after_the_cookie_key_aged_starts_the_next_version(at: FixedClock) -> None:
    first = web_sessions.open_console(at.vault, ADMIN).key_version
    at.now = START + web_sessions.KEY_MAX_AGE - timedelta(seconds=1)
    assert web_sessions.open_console(at.vault, ADMIN).key_version == first
    at.now = START + web_sessions.KEY_MAX_AGE
    s = web_sessions.open_console(at.vault, ADMIN)
    assert s.key_version == first + 1
    assert f"system-key:{web_sessions.KEY_NAME}-v{first + 1}" in entries(at.vault)[-1]["object_ids"]
    assert web_sessions.key_versions(at.vault)[0] == first + 1
    assert _live(at.vault, s)


def test_ending_a_persons_or_a_keys_sessions_ends_theirs_only(at: FixedClock) -> None:
    link = subject_token.issue(at.vault, PERSON, use=subject_token.LINK, actor=ADMIN).token
    person = web_sessions.enter_privacy_center(at.vault, link)
    staff = web_sessions.open_console(at.vault, ADMIN)
    already = web_sessions.open_console(at.vault, ADMIN)
    web_sessions.sign_out(at.vault, already, actor=ADMIN)
    later = START + timedelta(minutes=2)
    with at.vault.engine.begin() as conn:
        assert web_sessions.end_for_subject(conn, person.subject_id or "", later) == 1
        assert web_sessions.end_for_subject(conn, person.subject_id or "", later) == 0
    assert not _live(at.vault, person)
    assert _live(at.vault, staff)  # someone else's session is not touched
    assert _ended_at(at.vault, person) == later
    with at.vault.engine.begin() as conn:
        assert web_sessions.end_for_actor(conn, ADMIN.id, later) == 1
    assert not _live(at.vault, staff)
    assert _ended_at(at.vault, staff) == later
    assert _ended_at(at.vault, already) == START  # an ended session keeps its end


def test_a_session_resumes_only_as_its_own_kind_and_as_opened(at: FixedClock) -> None:
    s = web_sessions.open_console(at.vault, ADMIN)
    assert web_sessions.resume(at.vault, s.sid, s.kind, s.key_version) == s
    assert web_sessions.resume(at.vault, s.sid, web_sessions.SUBJECT, s.key_version) is None
    assert web_sessions.actor_of(s, "dpo") == Actor(id=ADMIN.id, role="dpo", source="web")


def test_only_a_role_with_rights_issues_subject_tokens_and_links(at: FixedClock) -> None:
    support = Actor(id="key-support", role="support", source="api")  # no "rights" action
    service = Actor(id="key-service", role="service", source="api")  # has "rights"
    with pytest.raises(AccessDenied):
        subject_token.issue(at.vault, PERSON, actor=support)
    assert entries(at.vault)[-1]["details"]["authz"]["rule"] == "role:support:action"
    with pytest.raises(AccessDenied):
        subject_token.privacy_link(at.vault, PERSON, base_url="https://h.example", actor=support)
    assert entries(at.vault)[-1]["details"]["authz"]["rule"] == "role:support:action"
    subject_token.issue(at.vault, PERSON, actor=service)
    assert entries(at.vault)[-1]["details"]["authz"]["action"] == "rights"


def test_an_unknown_token_use_is_logged_as_unknown_not_as_typed(at: FixedClock) -> None:
    with pytest.raises(BadInput):
        subject_token.issue(at.vault, PERSON, use="<script>", actor=ADMIN)
    assert entries(at.vault)[-1]["action"] == "subject_token.issue.unknown"
