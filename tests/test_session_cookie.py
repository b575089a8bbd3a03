"""The web session cookie and CSRF check at their edges.

A session ends at the second its expiry says, both in the sealed cookie and in the server-side
row that is what really counts, and the browser is told to drop the cookie then too (not later);
each kind of session lives exactly its own lifetime; each session has its own random id, the
name audit entries give it; and the CSRF comparison refuses, rather than fails on, a token that
is not ASCII or is too long.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from confida import subject_token, web_sessions
from confida.config import Config
from confida.vault import Vault
from confida.web import csrf
from confida.web import session as sessions
from tests.actors import ADMIN
from tests.web_support import START, FixedClock, fixed_clock_vault

PERSON = "cookie-person@example.test"
NOW = START.timestamp()


@pytest.fixture
def at(config: Config) -> Iterator[FixedClock]:
    with fixed_clock_vault(config, PERSON) as f:
        yield f


def _subject_session(vault: Vault) -> web_sessions.WebSession:
    link = subject_token.issue(vault, PERSON, use=subject_token.LINK, actor=ADMIN).token
    return web_sessions.enter_privacy_center(vault, link)


def _session(vault: Vault, kind: str) -> sessions.Session:
    """A cookie session of ``kind`` opened the way the web adapter opens one."""
    if kind == sessions.ANON:
        return sessions.anonymous(NOW, csrf=csrf.new_token(),
                                  key_version=web_sessions.current_key_version(vault))
    server = (_subject_session(vault) if kind == sessions.SUBJECT
              else web_sessions.open_console(vault, ADMIN))
    return sessions.for_server_session(server, csrf=csrf.new_token())


@pytest.mark.parametrize(("kind", "seconds"), [
    (sessions.SUBJECT, 15 * 60), (sessions.STAFF, 30 * 60), (sessions.ANON, 60 * 60)])
def test_cookie_lives_exactly_as_long_as_the_session(at: FixedClock, kind: str, seconds: int) -> None:
    s = _session(at.vault, kind)
    assert s.kind == kind
    assert s.exp == int(NOW) + seconds
    assert sessions.cookie_args(s, NOW)["max_age"] == seconds
    assert sessions.cookie_args(s, NOW + seconds - 1)["max_age"] == 1
    assert sessions.cookie_args(s, NOW + seconds)["max_age"] == 0
    assert sessions.cookie_args(s, NOW + seconds + 100)["max_age"] == 0


@pytest.mark.parametrize("kind", [sessions.SUBJECT, sessions.STAFF])
def test_server_session_ends_at_the_second_of_expiry(at: FixedClock, kind: str) -> None:
    v = at.vault
    s = _session(v, kind)
    at.now = datetime.fromtimestamp(s.exp - 1, tz=UTC)
    assert web_sessions.resume(v, s.sid, kind, s.kv) is not None
    at.now = datetime.fromtimestamp(s.exp, tz=UTC)
    assert web_sessions.resume(v, s.sid, kind, s.kv) is None


@pytest.mark.parametrize("kind", [sessions.SUBJECT, sessions.STAFF, sessions.ANON])
def test_cookie_ends_at_the_second_of_expiry(at: FixedClock, kind: str) -> None:
    s = _session(at.vault, kind)
    assert not s.expired(s.exp - 1) and s.expired(s.exp)
    cookie = sessions.seal(at.vault, s)
    assert sessions.open_cookie(at.vault, cookie, s.exp - 1) == s
    assert sessions.open_cookie(at.vault, cookie, s.exp) is None


@pytest.mark.parametrize("kind", [sessions.SUBJECT, sessions.STAFF])
def test_each_session_has_its_own_random_id(at: FixedClock, kind: str) -> None:
    ids = [_session(at.vault, kind).sid for _ in range(5)]
    assert len(set(ids)) == 5
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_an_anonymous_session_names_no_server_session(at: FixedClock) -> None:
    s = _session(at.vault, sessions.ANON)
    assert s.sid == "" and web_sessions.resume(at.vault, s.sid, sessions.ANON, s.kv) is None


def test_csrf_refuses_non_ascii_instead_of_failing() -> None:
    token = csrf.new_token()
    assert csrf.valid(token, token)
    for presented in ("é" * 43, token[:-1] + "é", "令牌"):
        assert csrf.valid(token, presented) is False


def test_csrf_length_cap() -> None:
    assert csrf.valid("a" * 128, "a" * 128)
    assert not csrf.valid("a" * 129, "a" * 129)
    assert not csrf.valid(None, None) and not csrf.valid("", "") and not csrf.valid("a", None)
