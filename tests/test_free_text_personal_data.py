"""Free text outside records never stores personal data in clear.

A breach's description, consequences and measures are sealed under the installation key
``breach-notes`` (the column holds ciphertext) and read back through the core; a breach title,
a request's reasons and how the requester was verified are short, listed everywhere, and
refused when the PII detector finds personal data in them, with the labels found, never the
values.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from confida import breach, record, request
from confida.compliance.run import run_checks
from confida.config import Config
from confida.errors import BadInput, KeyUnavailable
from confida.store.schema import breach as breach_t
from confida.vault import Vault
from tests.actors import ADMIN

EMAIL = "jane.doe@example.com"
V = "session:password+totp"


@pytest.fixture
def v(config: Config) -> Iterator[Vault]:
    vault = Vault.open(config)
    try:
        yield vault
    finally:
        vault.close()


def test_a_breach_description_is_stored_sealed_and_read_back(v: Vault) -> None:
    b = breach.register_breach(
        v, title="mailbox exposed", description=f"the mailbox of {EMAIL} was forwarded",
        consequences=f"{EMAIL} may receive phishing", measures=f"told {EMAIL}", actor=ADMIN)
    with v.engine.connect() as conn:
        row = conn.execute(select(breach_t).where(breach_t.c.id == b.id)).one()
    for column in (row.description, row.consequences, row.measures):
        assert EMAIL not in column and "jane" not in column
        assert column.startswith(breach.SEALED)
    got = breach.get_breach(v, b.id, actor=ADMIN)
    assert got.description == f"the mailbox of {EMAIL} was forwarded"
    assert got.consequences == f"{EMAIL} may receive phishing"
    assert [x.description for x in breach.list_breaches(v, actor=ADMIN)] == [got.description]
    # the raw pages too (SQLite) and every stored value: nothing in clear anywhere
    (res,) = run_checks(v, only=["no-plaintext"], actor=ADMIN)
    assert res.status == "pass", res.evidence


def test_a_sealed_description_is_bound_to_its_breach(v: Vault) -> None:
    a = breach.register_breach(v, title="a", description=f"about {EMAIL}", actor=ADMIN)
    b = breach.register_breach(v, title="b", description="about nobody", actor=ADMIN)
    with v.engine.begin() as conn:
        sealed = conn.execute(select(breach_t.c.description)
                              .where(breach_t.c.id == a.id)).scalar_one()
        conn.execute(breach_t.update().where(breach_t.c.id == b.id)
                     .values(description=sealed))
    with pytest.raises(KeyUnavailable) as exc:  # moved to another breach, it does not open
        breach.get_breach(v, b.id, actor=ADMIN)
    assert EMAIL not in str(exc.value)


def test_a_breach_title_with_personal_data_is_refused(v: Vault) -> None:
    with pytest.raises(BadInput) as exc:
        breach.register_breach(v, title=f"leak of {EMAIL}", description="d", actor=ADMIN)
    assert "EMAIL" in str(exc.value) and EMAIL not in str(exc.value)
    assert breach.list_breaches(v, actor=ADMIN) == []


@pytest.fixture
def req(v: Vault) -> request.Request:
    record.collect(v, "u-1", "account", {"email": EMAIL}, "service", actor=ADMIN)
    return request.submit(v, request.ACCESS, "u-1", V, actor=ADMIN)


def test_reasons_with_personal_data_are_refused(v: Vault, req: request.Request) -> None:
    for call in (
        lambda: request.extend(v, req.id, 1, f"waiting for {EMAIL}", actor=ADMIN),
        lambda: request.reject(v, req.id, f"{EMAIL} is not the account holder", actor=ADMIN),
    ):
        with pytest.raises(BadInput) as exc:
            call()
        assert "EMAIL" in str(exc.value) and EMAIL not in str(exc.value)
    assert request.get(v, req.id, actor=ADMIN).is_open
    done = request.extend(v, req.id, 1, "the archive is offline", actor=ADMIN)
    assert done.extension_reason == "the archive is offline"


def test_verified_by_with_personal_data_is_refused(v: Vault, req: request.Request) -> None:
    with pytest.raises(BadInput) as exc:
        request.submit(v, request.ERASURE, "u-1", f"mail from {EMAIL}", actor=ADMIN)
    assert "EMAIL" in str(exc.value) and EMAIL not in str(exc.value)
    assert [r.type for r in request.list_requests(v, actor=ADMIN)] == [request.ACCESS]
