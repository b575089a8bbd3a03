"""A CSRF token belongs to one session: genuine in its own, refused in any other.

Two browsers, each with its own valid session for the same person, each read their token off a
real page. Session B posting A's genuine token is refused and changes nothing; A posting the same
token is accepted. So the refusal is the token's binding to its session, not a malformed token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from confida.config import Config
from confida.server.app import create_app
from confida.vault import Vault
from tests.web_support import in_next_training_export, new_link, seed


@pytest.fixture
def seeded(vault: Vault) -> dict[str, str]:
    return seed(vault)


@pytest.fixture
def app(config: Config, seeded: dict[str, str]) -> Iterator[object]:
    a = create_app(config)
    yield a
    a.state.web.close()


def _browser(app: object, vault: Vault) -> tuple[TestClient, str]:
    """A browser that opened its own privacy-center session, and the token its page carries."""
    client = TestClient(app, base_url="https://testserver")  # type: ignore[arg-type]
    link = new_link(vault)
    r = client.get("/privacy/enter", params={"token": link}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/privacy/")
    assert page.status_code == 200
    m = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert m, "the page carries a CSRF token"
    return client, m.group(1)


def _withdraw(client: TestClient, token: str, vault: Vault) -> int:
    return client.post("/privacy/consent", follow_redirects=False, data={
        "purpose": "model_training", "choice": "off", "csrf": token,
        "notice_version": vault.notice_version()}).status_code


def test_token_of_another_live_session_is_refused(app, vault, seeded, tmp_path) -> None:
    a, token_a = _browser(app, vault)
    b, token_b = _browser(app, vault)
    with a, b:
        assert token_a != token_b
        assert _withdraw(b, token_a, vault) == 403
        assert in_next_training_export(vault, seeded["subject_id"], tmp_path)  # unchanged
        # The same token in its own session: accepted, so it was genuine all along.
        assert _withdraw(a, token_a, vault) == 303
        assert not in_next_training_export(vault, seeded["subject_id"], tmp_path)


def test_token_survives_only_in_its_session_after_the_other_posts(app, vault, seeded) -> None:
    """B using its own token does not make A's token good in B (no shared token state)."""
    a, token_a = _browser(app, vault)
    b, token_b = _browser(app, vault)
    with a, b:
        assert _withdraw(b, token_b, vault) == 303
        assert _withdraw(b, token_a, vault) == 403
        assert _withdraw(a, token_b, vault) == 403
        assert _withdraw(a, token_a, vault) == 303
