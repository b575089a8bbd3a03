"""A subject token opens ``/v1/me`` only; a staff credential opens the rest (decided in the
core, each refusal in the audit log)."""

from __future__ import annotations

import pytest

from confida.credential_kind import require_staff, require_subject
from confida.errors import AccessDenied
from confida.operation import subject_actor
from confida.vault import Vault
from tests.actors import ADMIN


def _last_action(vault: Vault) -> str:
    with vault.engine.connect() as conn:
        size = vault.audit.log.size(conn)
        return vault.audit.log.entry(conn, size - 1).decode()


def test_subject_token_is_refused_where_staff_act(vault: Vault) -> None:
    person = subject_actor("s-1", "token")
    with pytest.raises(AccessDenied):
        require_staff(vault, person, "s-1")
    assert '"auth.authorise"' in _last_action(vault)
    assert require_staff(vault, ADMIN, None) is ADMIN


def test_staff_credential_is_refused_on_the_subjects_own_routes(vault: Vault) -> None:
    with pytest.raises(AccessDenied):
        require_subject(vault, ADMIN, None)
    assert '"denied"' in _last_action(vault)
    assert require_subject(vault, subject_actor("s-1", "token"), "s-1") == "s-1"
