"""Training export end to end, on the real store (SQLite file or PostgreSQL) and real keys.

Erasure and objection are the real ``confida.rights`` calls: the erasure feed must name the
erased subject's dataset pseudonym, and ``revocations`` the pseudonyms withdrawn, restricted or
objected after the export.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select, update

from confida import consent, record
from confida.audit.entry import AuditEntry
from confida.downstream import refs_of
from confida.errors import BadInput, PurposeNotAllowed
from confida.export.manifest import MANIFEST_NAME, Manifest, verify
from confida.export.training import Selection, export_training, revocations
from confida.pii import detect
from confida.rights.erasure import erase
from confida.rights.feed import erasure_feed
from confida.rights.objection import object_to
from confida.store.schema import subject as subject_t
from confida.store.schema import training_dataset
from confida.vault import Vault
from tests.actors import ADMIN

PLANTED = {
    "alice": ("Hi, I am Anna Schmidt, mail anna.schmidt@example.com or call +49 30 901820. "
              "My IBAN is DE89 3704 0044 0532 0130 00 and card 4111 1111 1111 1111, "
              "born 17 March 1982."),
    "bob": "Bob Lindqvist here, bob.lindqvist@example.org, please help with my essay.",
    "carol": "I'm Carla Rossi, reach me at carla.rossi@example.net about the trip.",
    "eve": "Eva Novak writes: my number is +49 30 901821, thanks.",
    "dave": "David Okafor, david.okafor@example.com, restricted.",
}
VALUES = ["Anna Schmidt", "anna.schmidt@example.com", "+49 30 901820",
          "DE89 3704 0044 0532 0130 00",
          "4111 1111 1111 1111", "17 March 1982", "Bob Lindqvist", "bob.lindqvist@example.org",
          "Carla Rossi", "carla.rossi@example.net", "Eva Novak", "+49 30 901821",
          "David Okafor", "david.okafor@example.com", "temporary secret plan"]


class ListSink:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def append(self, conn: Any, entry: Any) -> None:
        AuditEntry.model_validate(dict(entry))  # what the real log accepts
        self.entries.append(dict(entry))


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def av(config, sink) -> Vault:
    v = Vault.open(config, audit=sink)
    yield v
    v.close()


def _msg(v: Vault, who: str, text: str, kind: str = "conversation_message") -> None:
    record.collect(v, who, kind, {"conversation_id": f"conv-{who}", "role": "user", "text": text,
                          "created_at": "2026-11-01T10:11:12Z"}, "service", actor=ADMIN)


def _rows(directory: Path) -> list[dict[str, Any]]:
    out = []
    for p in sorted(directory.glob("*.jsonl")):
        out += [json.loads(line) for line in p.read_text("utf-8").splitlines()]
    return out


def test_export_end_to_end(av: Vault, config, sink: ListSink, tmp_path: Path) -> None:
    for who in ("alice", "bob", "carol", "eve", "dave"):
        consent.grant(av, who, "model_training", actor=ADMIN)
        _msg(av, who, PLANTED[who])
    record.collect(av, "alice", "temporary_chat", {"conversation_id": "tmp-1",
                   "text": "temporary secret plan"}, "service", actor=ADMIN)
    consent.withdraw(av, "bob", "model_training", actor=ADMIN)
    with av.engine.begin() as conn:
        conn.execute(update(subject_t).where(subject_t.c.ref == av.subject_ref("dave"))
                     .values(status="restricted"))
    # a message older than the training purpose's retention (1 year) but within service's
    old = Vault.open(config, clock=lambda: datetime.now(UTC) - timedelta(days=500))
    _msg(old, "alice", "An old message from Anna Schmidt.")
    old.close()

    out = tmp_path / "ds1"
    res = export_training(av, out, shard_size=2, actor=ADMIN)
    rows = _rows(out)
    assert res.record_count == len(rows) == 3  # alice, carol, eve
    assert res.subject_count == 3
    assert res.excluded == {"no_consent": 1, "subject_restricted": 1,
                            "past_purpose_retention": 1}
    assert {r["kind"] for r in rows} == {"conversation_message"}
    assert set(rows[0]) == {"subject", "record", "kind", "conversation_id", "role", "text",
                            "model", "created_at"}
    assert {r["created_at"] for r in rows} == {"2026-11-01"}

    # no planted value survives, by exact search over every byte and the parsed Parquet
    blob = "".join(p.read_text("utf-8") for p in out.glob("*.jsonl"))
    table_text = json.dumps([pq.read_table(p).to_pylist() for p in sorted(out.glob("*.parquet"))])
    for value in VALUES:
        assert value not in blob and value not in table_text, value
    for r in rows:
        labels = {f.label for f in detect(r["text"])}
        assert not labels & {"EMAIL", "PHONE", "IBAN", "CREDIT_CARD", "NATIONAL_ID"}, labels
        assert "conv-" not in r["conversation_id"]
    alice_text = next(r["text"] for r in rows if "<IBAN>" in r["text"])
    assert "<PERSON_" in alice_text and "<EMAIL>" in alice_text and "1982" in alice_text

    # manifest: shards with hashes that verify, record count, register version
    m = Manifest.from_json((out / MANIFEST_NAME).read_text())
    assert m.dataset_id == res.dataset_id and m.record_count == 3
    assert {s.format for s in m.shards} == {"jsonl", "parquet"} and len(m.shards) == 4
    assert verify(out) == []
    (out / m.shards[0].path).write_text("tampered\n")
    assert verify(out) == [f"{m.shards[0].path}: hash mismatch"]

    # the audit entry: criteria and counts, no value
    entry = [e for e in sink.entries if e["action"] == "export.training"][-1]
    assert entry["outcome"] == "allowed" and entry["details"]["record_count"] == 3
    assert entry["details"]["criteria"]["kinds"] == "conversation_message"
    assert "Anna" not in json.dumps(entry)

    # after the export: carol is erased, eve withdraws
    eve_pseudo = {r["subject"] for r in rows
                  if "<PHONE>" in r["text"] and "<IBAN>" not in r["text"]}
    with av.engine.connect() as conn:
        carol_id = conn.execute(select(subject_t.c.id).where(
            subject_t.c.ref == av.subject_ref("carol"))).scalar_one()
        refs = refs_of(conn, carol_id)
    assert [x["system"] for x in refs] == [f"dataset:{res.dataset_id}"]
    carol_pseudo = refs[0]["reference"]
    assert carol_pseudo in {r["subject"] for r in rows}
    erase(av, "carol", verified_by="test: signed-in session", actor=ADMIN)
    consent.withdraw(av, "eve", "model_training", actor=ADMIN)
    notices = erasure_feed(av, actor=ADMIN)
    assert [n.references for n in notices] == [
        [{"system": f"dataset:{res.dataset_id}", "reference": carol_pseudo}]]
    assert not av.keys.has_key(carol_id)
    revoked = {x.pseudonym: x.reason for x in revocations(av, res.dataset_id, actor=ADMIN)}
    assert revoked == {eve_pseudo.pop(): "consent_withdrawn"}  # carol: in the feed

    # a new export holds only alice, under new pseudonyms
    res2 = export_training(av, tmp_path / "ds2", formats=["parquet"], actor=ADMIN)
    rows2 = pq.read_table(next((tmp_path / "ds2").glob("*.parquet"))).to_pylist()
    assert res2.record_count == 1 and "<IBAN>" in rows2[0]["text"]
    assert rows2[0]["subject"] not in {r["subject"] for r in rows}
    with av.engine.connect() as conn:
        assert conn.execute(select(training_dataset.c.record_count)
                            .order_by(training_dataset.c.created_at)).scalars().all() == [3, 1]


def test_temporary_chat_never_exported(av: Vault, tmp_path: Path) -> None:
    with pytest.raises(PurposeNotAllowed):
        export_training(av, tmp_path / "x", selection=Selection(kinds=("temporary_chat",)), actor=ADMIN)
    with pytest.raises(PurposeNotAllowed):  # a purpose on another legal basis
        export_training(av, tmp_path / "y", selection=Selection(purpose="service"), actor=ADMIN)
    assert not (tmp_path / "x").exists()


def test_refuses_non_empty_dir_and_bad_format(av: Vault, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(BadInput):
        export_training(av, tmp_path / "full", actor=ADMIN)
    with pytest.raises(BadInput):
        export_training(av, tmp_path / "z", formats=["csv"], actor=ADMIN)


def test_same_key_same_output(av: Vault, tmp_path: Path) -> None:
    consent.grant(av, "alice", "model_training", actor=ADMIN)
    _msg(av, "alice", PLANTED["alice"])
    key = bytes(range(32))
    a = export_training(av, tmp_path / "a", dataset_key=key, formats=["jsonl"], actor=ADMIN)
    b = export_training(av, tmp_path / "b", dataset_key=key, formats=["jsonl"], actor=ADMIN)
    assert a.shards[0].sha256 == b.shards[0].sha256
    c = export_training(av, tmp_path / "c", formats=["jsonl"], actor=ADMIN)
    assert _rows(tmp_path / "c")[0]["subject"] != _rows(tmp_path / "a")[0]["subject"]
    assert c.record_count == 1


def test_legitimate_interest_objection_and_restriction(av: Vault, tmp_path: Path) -> None:
    """On legitimate interests, an objection (Art. 21) excludes, and later revokes, a subject."""
    for who in ("ann", "ben", "cat"):
        _msg(av, who, f"Message from {who}.")
    # safety covers temporary chats, but they never leave for training
    record.collect(av, "ben", "temporary_chat", {"conversation_id": "t", "text": "temporary"},
                   "service", actor=ADMIN)
    object_to(av, "ann", "safety", verified_by="test", actor=ADMIN)
    res = export_training(av, tmp_path / "li", selection=Selection(purpose="safety"), actor=ADMIN)
    assert res.record_count == 2 and res.excluded == {"objected": 1}
    assert "temporary" not in "".join(p.read_text() for p in (tmp_path / "li").glob("*.jsonl"))
    object_to(av, "ben", "safety", verified_by="test", actor=ADMIN)
    with av.engine.begin() as conn:
        conn.execute(update(subject_t).where(subject_t.c.ref == av.subject_ref("cat")).values(
            status="restricted", status_changed_at=av.clock() + timedelta(seconds=1)))
    assert sorted(r.reason for r in revocations(av, res.dataset_id, actor=ADMIN)) == ["objected",
                                                                         "restricted"]
    between = av.clock()
    object_to(av, "cat", "safety", verified_by="test", actor=ADMIN)
    assert [r.reason for r in revocations(av, res.dataset_id, since=between, actor=ADMIN)] == ["restricted"]
    later = av.clock() + timedelta(days=1)
    assert revocations(av, res.dataset_id, since=later, actor=ADMIN) == []
