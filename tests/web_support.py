"""Shared seeding for the web tests (HTTP-level and browser)."""

from __future__ import annotations

from datetime import timedelta

from confida import consent, credential, record, request
from confida.vault import Vault
from confida.web import subject_link
from tests.actors import ADMIN

SUBJECT = "user-4711@example.test"
SECRET_TEXT = "My cat Mimi is allergic to pollen"


def seed(vault: Vault) -> dict[str, str]:
    """One person with an account, conversations (service + training), a training consent,
    and an overdue request from someone else; a staff key."""
    consent.grant(vault, SUBJECT, "model_training", actor=ADMIN)
    record.collect(vault, SUBJECT, "account", {"email": SUBJECT, "display_name": "Ada Example",
                                       "plan": "free", "locale": "en"}, "service", actor=ADMIN)
    record.collect(vault, SUBJECT, "conversation_message",
                  {"conversation_id": "c1", "role": "user", "text": SECRET_TEXT}, "service", actor=ADMIN)
    training = record.collect(vault, SUBJECT, "conversation_message",
                             {"conversation_id": "c1", "role": "user", "text": "hello model"},
                             "model_training", actor=ADMIN)
    other = "other-person@example.test"
    record.collect(vault, other, "account", {"email": other}, "service", actor=ADMIN)
    now = vault.clock()
    earlier = Vault(vault.config, clock=lambda: now - timedelta(days=45))
    try:  # received 45 days ago: past its one-month deadline
        overdue = request.submit(earlier, request.RECTIFICATION, other, "test:support-desk", actor=ADMIN)
    finally:
        earlier.close()
    from confida import breach

    breach.register_breach(vault, title="Lost laptop (encrypted disk)",
                           description="A support laptop was stolen.",
                           discovered_at=now - timedelta(hours=80), kinds=["account"], actor=ADMIN)
    breach.register_breach(vault, title="Misdirected export",
                           description="An export was sent to the wrong team.",
                           discovered_at=now - timedelta(hours=10), kinds=["usage_event"], actor=ADMIN)
    key = credential.create(vault, "dpo", label="console test", actor=ADMIN).key
    link = subject_link.issue(vault, SUBJECT, 600)
    from confida import subject as subjects

    with vault.engine.connect() as conn:
        sid = subjects.require(vault, conn, SUBJECT).id
    return {"training_record": training.record_id, "subject_id": sid, "overdue_request": overdue.id,
            "staff_key": key, "link": link}


def in_next_training_export(vault: Vault, subject_id: str, tmp_path) -> bool:  # type: ignore[no-untyped-def]
    """Run the real training export into a fresh directory: does it take this subject?"""
    import uuid

    from confida.web import ports

    return subject_id in ports.training_export(vault, tmp_path / f"ds-{uuid.uuid4().hex[:8]}")
