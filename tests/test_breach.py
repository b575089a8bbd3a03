"""Breaches: affected subjects computed from kinds, window and keys; 72 hours; Art. 33/34."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from confida import breach, record
from confida.errors import BadInput, NotFound
from confida.vault import Vault
from tests.actors import ADMIN
from tests.tr_support import Clock, ListSink

pytest_plugins = ["tests.tr_support"]

EMAIL = "jane.doe@example.com"





def seed(v: Vault, clock: Clock) -> None:
    record.collect(v, "u-1", "account", {"email": EMAIL, "display_name": "Jane"}, "service", actor=ADMIN)
    record.collect(v, "u-1", "conversation_message", {"conversation_id": "c", "text": "hi"}, "service", actor=ADMIN)
    clock.advance(hours=2)
    record.collect(v, "u-2", "conversation_message", {"conversation_id": "d", "text": "yo"}, "service", actor=ADMIN)
    record.collect(v, "u-3", "usage_event", {"event": "open"}, "safety", actor=ADMIN)


def test_affected_by_kind(v: Vault, clock: Clock, sink: ListSink) -> None:
    seed(v, clock)
    b = breach.register_breach(v, title="log leak", description="messages in a debug log",
                               kinds=["conversation_message"], actor=ADMIN)
    assert (b.affected_subjects, b.affected_records) == (2, 2)
    assert b.categories == ["content.conversation"]  # content.metadata is not personal
    assert sink.entries[-1]["action"] == "breach.register"
    assert sink.entries[-1]["details"]["subjects"] == 2
    assert len(breach.affected_subject_ids(v, b.id, actor=ADMIN)) == 2


def test_affected_by_window_and_kind_intersect(v: Vault, clock: Clock) -> None:
    start = clock.now
    seed(v, clock)
    b = breach.register_breach(v, title="t", description="d",
                               occurred_from=start + timedelta(hours=1),
                               occurred_to=clock.now + timedelta(minutes=1), actor=ADMIN)
    assert (b.affected_subjects, b.affected_records) == (2, 2)
    b = breach.register_breach(v, title="t", description="d", kinds=["usage_event"],
                               occurred_from=start + timedelta(hours=1), actor=ADMIN)
    assert (b.affected_subjects, b.affected_records) == (1, 1)
    assert b.categories == ["device.ip_address", "usage.event"]  # country: not for safety


def test_affected_by_key_version_counts_keys_rewrapped_since(v: Vault, clock: Clock) -> None:
    seed(v, clock)
    everyone = breach.register_breach(v, title="t", description="d", actor=ADMIN)
    assert everyone.affected_subjects == 3 and everyone.affected_records == 4
    v.keys.rotate()  # every data key now under v2, but was under v1 before
    b = breach.register_breach(v, title="kek", description="old KEK file leaked",
                               kek_versions=["v1"], key_store_exposed=True, actor=ADMIN)
    assert b.affected_subjects == 3
    assert b.keys_compromised and b.individual_notice_required
    with pytest.raises(BadInput):
        breach.register_breach(v, title="t", description="d", kek_versions=["v9"], actor=ADMIN)


def test_art_34_3_a_exemption(v: Vault, clock: Clock) -> None:
    seed(v, clock)
    db_only = breach.register_breach(v, title="backup", description="DB backup stolen", actor=ADMIN)
    assert not db_only.individual_notice_required
    kek_only = breach.register_breach(v, title="kek", description="KEK leaked, key store safe",
                                      kek_versions=["v1"], actor=ADMIN)
    assert not kek_only.individual_notice_required
    plain = breach.register_breach(v, title="export", description="decrypted export leaked",
                                   plaintext_exposed=True, actor=ADMIN)
    assert plain.individual_notice_required


def test_deadline_and_notification(v: Vault, clock: Clock) -> None:
    found = clock.now - timedelta(hours=1)
    b = breach.register_breach(v, title="t", description="d", discovered_at=found, actor=ADMIN)
    assert b.deadline == found + timedelta(hours=72)
    assert not b.overdue(clock.now) and b.hours_left(clock.now) == 71.0
    clock.advance(hours=72)
    assert breach.get_breach(v, b.id, actor=ADMIN).overdue(clock.now)
    n = breach.mark_notified(v, b.id, authority=True, actor=ADMIN)
    assert n.authority_notified_at == clock.now and not n.overdue(clock.now)
    with pytest.raises(NotFound):
        breach.mark_notified(v, "00000000-0000-0000-0000-000000000000", subjects=True, actor=ADMIN)
    with pytest.raises(BadInput):
        breach.mark_notified(v, b.id, actor=ADMIN)


def test_draft_has_article_33_3_content_and_no_personal_values(v: Vault, clock: Clock) -> None:
    seed(v, clock)
    b = breach.register_breach(v, title="backup", description="A database backup was stolen.",
                               kinds=["account"], measures="Backup storage access revoked.", actor=ADMIN)
    text = breach.draft_notification(v, b)
    for part in ("(a) Nature of the breach", "A database backup was stolen.",
                 "Approximate number of data subjects concerned: 1",
                 "Approximate number of personal data records concerned: 1",
                 "E-mail address", "(b) Contact point", "dpo@example-ai.eu",
                 "(c) Likely consequences", "unintelligible", "(d) Measures taken or proposed",
                 "Backup storage access revoked.", "Not required under Art. 34(3)(a)",
                 v.register.controller.supervisory_authority.name):
        assert part in text, part
    assert EMAIL not in text and "Jane" not in text
    assert "Reasons for the delay" not in text
    clock.advance(hours=73)
    assert "Reasons for the delay" in breach.draft_notification(v, breach.get_breach(v, b.id, actor=ADMIN))


def test_bad_input_is_refused(v: Vault, clock: Clock) -> None:
    with pytest.raises(BadInput):
        breach.register_breach(v, title="", description="d", actor=ADMIN)
    with pytest.raises(BadInput):
        breach.register_breach(v, title="t", description="x" * 4001, actor=ADMIN)
    with pytest.raises(BadInput):
        breach.register_breach(v, title="t", description="d",
                               discovered_at=datetime(2026, 1, 1), actor=ADMIN)  # naive
    with pytest.raises(BadInput):
        breach.register_breach(v, title="t", description="d",
                               discovered_at=clock.now + timedelta(days=1), actor=ADMIN)
    with pytest.raises(BadInput):
        breach.register_breach(v, title="t", description="d",
                               occurred_from=datetime(2026, 2, 1, tzinfo=UTC),
                               occurred_to=datetime(2026, 1, 1, tzinfo=UTC), actor=ADMIN)
    from confida.errors import UnknownKind

    with pytest.raises(UnknownKind):
        breach.register_breach(v, title="t", description="d", kinds=["nope"], actor=ADMIN)
    with pytest.raises(NotFound):
        breach.get_breach(v, "nope", actor=ADMIN)
