"""Helpers for the erasure-journal, backup and restore tests: a populated installation, a
PostgreSQL dump and restore with the real pg_dump/pg_restore, and the "stays erased" checks."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from confida import consent, downstream, record, rights
from confida import subject as subjects
from confida.config import Config
from confida.record import CollectItem
from confida.store.schema import consent_event, erasure_notice, subject_request
from confida.store.schema import record as record_t
from confida.store.schema import subject as subject_t
from confida.vault import Vault, no_scan
from tests.actors import ADMIN

V = "session:password+totp"
SECRET = "QUOKKA-LANTERN-7781"


def open_vault(data_dir: Path, **kw: Any) -> Vault:
    return Vault.open(Config.load(data_dir), **kw)


def populate(vault: Vault, who: str, n: int = 5, *, refs: bool = True) -> subjects.Subject:
    record.collect_many(vault, [
        CollectItem(who, "conversation_message",
                    {"conversation_id": f"c{i}", "text": f"{SECRET} {who} {i}"}, "service")
        for i in range(n)
    ], actor=ADMIN)
    record.collect(vault, who, "account", {"email": f"{who}@example.org", "display_name": who}, "service", actor=ADMIN)
    consent.grant(vault, who, "model_training", actor=ADMIN)
    with vault.engine.connect() as conn:
        s = subjects.require(vault, conn, who)
    if refs:
        with vault.engine.begin() as conn:
            downstream.record_refs(vault, conn, "dataset:train-1", [(s.id, "ds-" + who[::-1])])
    return s


def quiet_vault(data_dir: Path) -> Vault:
    """A vault without the PII scanner (bulk setup only)."""
    return open_vault(data_dir, scanner=no_scan)


def counts(vault: Vault, subject_id: str) -> dict[str, int]:
    with vault.engine.connect() as conn:
        return {
            "records": conn.execute(select(func.count()).select_from(record_t)
                                    .where(record_t.c.subject_id == subject_id)).scalar_one(),
            "consents": conn.execute(select(func.count()).select_from(consent_event)
                                     .where(consent_event.c.subject_id == subject_id)
                                     ).scalar_one(),
            "pii_summaries": conn.execute(
                select(func.count()).select_from(record_t)
                .where(record_t.c.subject_id == subject_id)
                .where(record_t.c.pii_summary.is_not(None))).scalar_one(),
        }


def assert_erased(vault: Vault, s: subjects.Subject, who: str, request_id: str,
                  notice_id: int | None = None) -> None:
    """Nothing of ``who`` is back: no findable subject, no rows, no key; request and notice are."""
    assert not vault.keys.has_key(s.id)
    assert counts(vault, s.id) == {"records": 0, "consents": 0, "pii_summaries": 0}
    with vault.engine.connect() as conn:
        assert subjects.find(vault, conn, who) is None
        row = conn.execute(select(subject_t).where(subject_t.c.id == s.id)).one()
        assert row.status == "erased" and row.ref is None
        for table in ("downstream_ref", "objection", "token_map"):
            n = conn.execute(text(f"SELECT count(*) FROM {table} WHERE subject_id = :s"),
                             {"s": s.id}).scalar()
            assert n == 0, table
        req = conn.execute(select(subject_request)
                           .where(subject_request.c.id == request_id)).one()
        assert req.type == "erasure" and req.status == "completed" and req.subject_id == s.id
        notice = conn.execute(select(erasure_notice)
                              .where(erasure_notice.c.request_id == request_id)).one()
        if notice_id is not None:
            assert notice.id == notice_id
        assert s.id not in str(notice.refs)


def assert_intact(vault: Vault, who: str, n: int = 5) -> None:
    recs = record.list_records(vault, who, actor=ADMIN)
    assert len(recs) == n + 1
    for r in recs:
        assert record.read(vault, r.id if hasattr(r, "id") else r["id"], "service", actor=ADMIN)
    assert consent.show(vault, who, actor=ADMIN)[0]["model_training"]["granted"] is True


def erase(vault: Vault, who: str, request_id: str) -> Any:
    return rights.erase(vault, who, verified_by=V, request_id=request_id, actor=ADMIN)


# --- PostgreSQL: the real pg_dump / pg_restore of the test's schema ---------------------------


def _pg_parts(url: str) -> tuple[str, str]:
    u = make_url(url)
    schema = dict(u.query)["options"].removeprefix("-csearch_path=")
    plain = u.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    return plain, schema


def pg_dump(url: str, out: Path) -> None:
    plain, schema = _pg_parts(url)
    subprocess.run(["pg_dump", "--format=custom", f"--schema={schema}", f"--file={out}", plain],
                   check=True, capture_output=True, timeout=60)


def pg_restore(url: str, dump: Path) -> None:
    plain, schema = _pg_parts(url)
    subprocess.run(["pg_restore", "--clean", "--if-exists", f"--schema={schema}",
                    f"--dbname={plain}", str(dump)],
                   check=True, capture_output=True, timeout=60)
