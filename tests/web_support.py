"""Shared seeding for the web tests (HTTP-level and browser)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from confida import consent, credential, record, request, subject_token
from confida.config import Config
from confida.server.app import create_app
from confida.vault import Vault
from tests.actors import ADMIN

#: A fixed moment the clock-driven session tests start from.
START = datetime(2033, 5, 18, 3, 33, 20, tzinfo=UTC)

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
    link = new_link(vault)
    from confida import subject as subjects

    with vault.engine.connect() as conn:
        sid = subjects.require(vault, conn, SUBJECT).id
    return {"training_record": training.record_id, "subject_id": sid, "overdue_request": overdue.id,
            "staff_key": key, "link": link}


def new_link(vault: Vault, subject: str = SUBJECT, minutes: int = 10) -> str:
    """A fresh single-use privacy-center link token for ``subject``."""
    return subject_token.issue(vault, subject, minutes=minutes, use=subject_token.LINK,
                               actor=ADMIN).token


def in_next_training_export(vault: Vault, subject_id: str, tmp_path) -> bool:  # type: ignore[no-untyped-def]
    """Run the real training export into a fresh directory: does it take this subject?"""
    import uuid

    from confida.web import ports

    return subject_id in ports.training_export(vault, tmp_path / f"ds-{uuid.uuid4().hex[:8]}", actor=ADMIN)


class FixedClock:
    """A vault whose clock reads ``now``, which the test moves."""

    def __init__(self, config: Config) -> None:
        self.now = START
        self.vault = Vault.open(config, clock=lambda: self.now)


@contextmanager
def fixed_clock_vault(config: Config, person: str) -> Iterator[FixedClock]:
    """A vault on a movable clock, holding one account for ``person``."""
    f = FixedClock(config)
    record.collect(f.vault, person, "account", {"email": person}, "service", actor=ADMIN)
    try:
        yield f
    finally:
        f.vault.close()


@contextmanager
def https_client(config: Config) -> Iterator[TestClient]:
    """The whole app (API, privacy center, console) as a browser on HTTPS sees it."""
    with TestClient(create_app(config), base_url="https://testserver") as c:
        yield c
