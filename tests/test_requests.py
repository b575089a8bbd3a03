"""Data subject requests: deadlines (Art. 12(3)), one extension, idempotent submission."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confida import record
from confida import request as requests
from confida.config import Config
from confida.errors import BadInput, NotFound, RequestConflict
from confida.register.duration import Duration
from confida.vault import Vault
from tests.actors import ADMIN

MSG = {"conversation_id": "c", "text": "hello"}


class Clock:
    """A settable clock: deadlines are tested by moving time, not by waiting."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2027, 1, 31, 12, 0, tzinfo=UTC))


@pytest.fixture
def cvault(config: Config, clock: Clock):
    v = Vault.open(config, clock=clock)
    record.collect(v, "u1", "conversation_message", MSG, "service", actor=ADMIN)
    record.collect(v, "u2", "conversation_message", MSG, "service", actor=ADMIN)
    try:
        yield v
    finally:
        v.close()


def test_due_in_one_calendar_month(cvault: Vault) -> None:
    r = requests.submit(cvault, "access", "u1", "session:mfa", actor=ADMIN)
    assert r.status == "received" and r.type == "access"
    assert r.received_at == datetime(2027, 1, 31, 12, 0, tzinfo=UTC)
    # 31 January + one calendar month = 28 February (not 2 March, not "30 days")
    assert r.due_at == datetime(2027, 2, 28, 12, 0, tzinfo=UTC)
    assert not r.overdue


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.just(UTC)))
def test_deadline_property(received: datetime) -> None:
    """One calendar month is 28-31 days, lands on the same day of month or the month's end."""
    due = requests.ANSWER_WITHIN.after(received)
    assert timedelta(days=28) <= due - received <= timedelta(days=31)
    assert due.day == received.day or (due + timedelta(days=1)).month != due.month
    assert (due.month - received.month) % 12 == 1


def test_extension_once_up_to_two_months_with_reason(cvault: Vault, clock: Clock) -> None:
    r = requests.submit(cvault, "erasure", "u1", "session:mfa", actor=ADMIN)
    with pytest.raises(BadInput):
        requests.extend(cvault, r.id, 3, "complex", actor=ADMIN)
    with pytest.raises(BadInput):
        requests.extend(cvault, r.id, 0, "complex", actor=ADMIN)
    with pytest.raises(BadInput, match="reason"):
        requests.extend(cvault, r.id, 2, "   ", actor=ADMIN)
    e = requests.extend(cvault, r.id, 2, "many records across systems", actor=ADMIN)
    assert e.status == "extended" and e.extended_months == 2
    assert e.due_at == datetime(2027, 4, 28, 12, 0, tzinfo=UTC)
    assert e.extension_reason == "many records across systems"
    with pytest.raises(RequestConflict, match="one extension"):
        requests.extend(cvault, r.id, 1, "again", actor=ADMIN)


def test_overdue_listing_follows_the_clock(cvault: Vault, clock: Clock) -> None:
    a = requests.submit(cvault, "access", "u1", "session:mfa", actor=ADMIN)
    b = requests.submit(cvault, "erasure", "u2", "email-link", actor=ADMIN)
    requests.extend(cvault, b.id, 1, "backlog", actor=ADMIN)
    assert requests.list_requests(cvault, overdue=True, actor=ADMIN) == []
    clock.now = datetime(2027, 3, 1, tzinfo=UTC)  # past a's deadline, within b's extension
    assert [r.id for r in requests.list_requests(cvault, overdue=True, actor=ADMIN)] == [a.id]
    requests.complete(cvault, a.id, actor=ADMIN)
    assert requests.list_requests(cvault, overdue=True, actor=ADMIN) == []
    clock.now = datetime(2027, 4, 1, tzinfo=UTC)
    over = requests.list_requests(cvault, overdue=True, actor=ADMIN)
    assert [r.id for r in over] == [b.id] and over[0].overdue
    listed = [r.id for r in requests.list_requests(cvault, actor=ADMIN)]
    assert listed == [a.id, b.id]  # soonest deadline first


def test_same_host_request_id_is_idempotent(cvault: Vault) -> None:
    a = requests.submit(cvault, "access", "u1", "session:mfa", request_id="helpdesk-1", actor=ADMIN)
    b = requests.submit(cvault, "access", "u1", "session:mfa", request_id="helpdesk-1", actor=ADMIN)
    assert a.id == b.id
    assert len(requests.list_requests(cvault, actor=ADMIN)) == 1
    with pytest.raises(RequestConflict):  # the same id for another request is a conflict
        requests.submit(cvault, "erasure", "u1", "session:mfa", request_id="helpdesk-1", actor=ADMIN)
    with pytest.raises(RequestConflict):
        requests.submit(cvault, "access", "u2", "session:mfa", request_id="helpdesk-1", actor=ADMIN)
    requests.complete(cvault, a.id, actor=ADMIN)
    again = requests.submit(cvault, "access", "u1", "session:mfa", request_id="helpdesk-1", actor=ADMIN)
    assert again.id == a.id and again.status == "completed"  # a host id is forever


def test_identical_request_is_idempotent_while_open(cvault: Vault) -> None:
    a = requests.submit(cvault, "access", "u1", "session:mfa", actor=ADMIN)
    b = requests.submit(cvault, "access", "u1", "other-verification", actor=ADMIN)
    assert a.id == b.id
    c = requests.submit(cvault, "access", "u2", "session:mfa", actor=ADMIN)
    d = requests.submit(cvault, "erasure", "u1", "session:mfa", actor=ADMIN)
    assert len({a.id, c.id, d.id}) == 3
    requests.complete(cvault, a.id, actor=ADMIN)
    e = requests.submit(cvault, "access", "u1", "session:mfa", actor=ADMIN)
    assert e.id != a.id and e.status == "received"  # a new request once the first is answered


@pytest.mark.parametrize("verified_by", ["", "   ", "a\nb", "x" * 201, "tab\there"])
def test_verified_by_is_required_and_one_line(cvault: Vault, verified_by: str) -> None:
    with pytest.raises(BadInput):
        requests.submit(cvault, "access", "u1", verified_by, actor=ADMIN)
    assert requests.list_requests(cvault, actor=ADMIN) == []


@pytest.mark.parametrize("rid", ["", "x" * 129, "a b", "../etc", "-lead", "ü"])
def test_malformed_request_id(cvault: Vault, rid: str) -> None:
    with pytest.raises(BadInput):
        requests.submit(cvault, "access", "u1", "session", request_id=rid, actor=ADMIN)


def test_reject_needs_reason_and_closed_requests_stay_closed(cvault: Vault) -> None:
    r = requests.submit(cvault, "erasure", "u1", "session:mfa", actor=ADMIN)
    with pytest.raises(BadInput):
        requests.reject(cvault, r.id, "", actor=ADMIN)
    rej = requests.reject(cvault, r.id, "identity could not be verified", actor=ADMIN)
    assert rej.status == "rejected" and rej.rejection_reason and rej.closed_at
    for fn in (lambda: requests.complete(cvault, r.id, actor=ADMIN),
               lambda: requests.reject(cvault, r.id, "again", actor=ADMIN),
               lambda: requests.extend(cvault, r.id, 1, "late", actor=ADMIN)):
        with pytest.raises(RequestConflict):
            fn()


def test_unknown_things(cvault: Vault) -> None:
    with pytest.raises(NotFound):
        requests.submit(cvault, "access", "nobody", "session", actor=ADMIN)
    with pytest.raises(BadInput):
        requests.submit(cvault, "delete-everything", "u1", "session", actor=ADMIN)
    for rid in ("00000000-0000-0000-0000-000000000000", "'; DROP TABLE subject_request; --"):
        with pytest.raises(NotFound):
            requests.complete(cvault, rid, actor=ADMIN)
    with pytest.raises(BadInput):
        requests.list_requests(cvault, status="bogus", actor=ADMIN)


def test_duration_of_extension_is_calendar_months() -> None:
    assert Duration(months=2).after(datetime(2027, 2, 28, tzinfo=UTC)) == datetime(
        2027, 4, 28, tzinfo=UTC
    )
