"""The web session cookie and CSRF check at their edges.

A session ends at the second its sealed expiry says, and the browser is told to drop the cookie
then too (not later); each session has its own random id, the name audit entries give it; and
the CSRF comparison refuses, rather than fails on, a token that is not ASCII or is too long.
"""

from __future__ import annotations

import re

import pytest

from confida.vault import Vault
from confida.web import csrf
from confida.web import session as sessions

NOW = 2_000_000_000.0


@pytest.mark.parametrize(("kind", "seconds"), [
    (sessions.SUBJECT, 15 * 60), (sessions.STAFF, 30 * 60), (sessions.ANON, 60 * 60)])
def test_cookie_lives_exactly_as_long_as_the_session(kind: str, seconds: int) -> None:
    s = sessions.new(kind, NOW, csrf=csrf.new_token())
    assert s.exp == int(NOW) + seconds
    assert sessions.cookie_args(s, NOW)["max_age"] == seconds
    assert sessions.cookie_args(s, NOW + seconds - 1)["max_age"] == 1
    assert sessions.cookie_args(s, NOW + seconds)["max_age"] == 0
    assert sessions.cookie_args(s, NOW + seconds + 100)["max_age"] == 0


def test_session_ends_at_the_second_of_expiry(vault: Vault) -> None:
    s = sessions.new(sessions.SUBJECT, NOW, csrf=csrf.new_token(), sub="someone")
    assert not s.expired(s.exp - 1) and s.expired(s.exp)
    cookie = sessions.seal(vault, s)
    assert sessions.open_cookie(vault, cookie, s.exp - 1) == s
    assert sessions.open_cookie(vault, cookie, s.exp) is None


def test_each_session_has_its_own_random_id() -> None:
    ids = [sessions.new(sessions.ANON, NOW, csrf=csrf.new_token()).sid for _ in range(5)]
    assert len(set(ids)) == 5
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)


def test_csrf_refuses_non_ascii_instead_of_failing() -> None:
    token = csrf.new_token()
    assert csrf.valid(token, token)
    for presented in ("é" * 43, token[:-1] + "é", "令牌"):
        assert csrf.valid(token, presented) is False


def test_csrf_length_cap() -> None:
    assert csrf.valid("a" * 128, "a" * 128)
    assert not csrf.valid("a" * 129, "a" * 129)
    assert not csrf.valid(None, None) and not csrf.valid("", "") and not csrf.valid("a", None)
