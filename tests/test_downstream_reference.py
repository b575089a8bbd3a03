"""Downstream references registered by the host: the erasure notice names them, nothing else.

A host's cache or CRM tells Confida its own opaque key for a person; on erasure the feed hands
that key back so the system drops it, without ever learning who the person was.
"""

from __future__ import annotations

import pytest

from confida import downstream, record, rights
from confida.errors import AccessDenied, BadInput, NotFound, SubjectErased
from confida.operation import Actor
from confida.vault import Vault
from tests.actors import ADMIN

SERVICE = Actor(id="svc:chat", role="service")
MSG = {"conversation_id": "c1", "text": "hello", "role": "user"}


@pytest.fixture
def vault(config):  # type: ignore[no-untyped-def]
    with Vault.open(config) as v:
        record.collect(v, "user-7", "conversation_message", MSG, "service", actor=ADMIN)
        yield v


def test_the_erasure_notice_names_the_registered_reference(vault: Vault) -> None:
    r = downstream.register_reference(vault, "user-7", "chat-cache", "u_5f3a9c", actor=SERVICE)
    assert r.created
    again = downstream.register_reference(vault, "user-7", "chat-cache", "u_5f3a9c",
                                          actor=SERVICE)
    assert not again.created  # idempotent: one row, one reference in the notice
    downstream.register_reference(vault, "user-7", "crm:eu", "c-991", actor=SERVICE)
    rights.erase(vault, "user-7", verified_by="session:test", actor=ADMIN)
    notices = rights.erasure_feed(vault, 0, 10, actor=SERVICE)
    assert notices[-1].references == [{"system": "chat-cache", "reference": "u_5f3a9c"},
                                      {"system": "crm:eu", "reference": "c-991"}]


@pytest.mark.parametrize(("system", "reference"), [
    ("chat-cache", "jane.doe@example.org"),  # personal data as the key
    ("chat-cache", "user-7"),  # the host's own subject id
    ("chat-cache", "Jane_Doe"),  # a name, underscores for spaces
    ("chat-cache", "has space"),
    ("chat-cache", ""),
    ("chat-cache", "x" * 129),
    ("Chat Cache", "u_1"),
    ("dataset:train-1", "u_1"),  # the training export's own prefix
    ("", "u_1"),
])
def test_a_reference_that_could_name_the_person_is_refused(vault: Vault, system: str,
                                                           reference: str) -> None:
    with pytest.raises(BadInput):
        downstream.register_reference(vault, "user-7", system, reference, actor=SERVICE)


def test_no_subject_is_created_and_erased_ones_are_refused(vault: Vault) -> None:
    with pytest.raises(NotFound):
        downstream.register_reference(vault, "nobody", "chat-cache", "u_1", actor=SERVICE)
    rights.erase(vault, "user-7", verified_by="session:test", actor=ADMIN)
    with pytest.raises((SubjectErased, NotFound)):
        downstream.register_reference(vault, "user-7", "chat-cache", "u_2", actor=SERVICE)


def test_a_role_without_rights_may_not_register(vault: Vault) -> None:
    with pytest.raises(AccessDenied):
        downstream.register_reference(vault, "user-7", "chat-cache", "u_1",
                                      actor=Actor(id="ana", role="analyst"))
