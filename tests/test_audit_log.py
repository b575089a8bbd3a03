"""The database-backed log: appends, proofs from stored nodes, checkpoints, export, policy."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import func, select

from confida.audit import (
    AuditEntry,
    AuditLog,
    AuditSigner,
    CheckpointPolicy,
    LogCorrupted,
    verify_export,
)
from confida.audit.checkpoint import open_note, parse_checkpoint
from confida.audit.merkle import (
    ProofError,
    leaf_hash,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)
from tests.audit_data import ORIGIN, Db, make_entry

pytest_plugins = ["tests.audit_fixtures"]


def fill(db: Db, log: AuditLog, n: int, start: int = 0, batch: int = 50) -> None:
    with db.engine.begin() as conn:
        for s in range(start, start + n, batch):
            log.append_many(conn, [make_entry(i) for i in range(s, min(s + batch, start + n))])


def test_append_returns_indices_and_hashes_canonical_json(db: Db, log: AuditLog) -> None:
    with db.engine.begin() as conn:
        assert log.append(conn, make_entry(0)) == 0
        assert log.append_many(conn, [make_entry(1), make_entry(2)]) == [1, 2]
        assert log.append_many(conn, []) == []
        raw = log.entry(conn, 1)
        assert raw == AuditEntry.model_validate(make_entry(1)).canonical_json()
        assert json.loads(raw)["outcome"] == "denied"
        assert b" " not in raw.replace(b"svc:chat-api", b"")
        assert log.leaf_hash(conn, 1) == leaf_hash(raw)
        assert log.size(conn) == 3


def test_entry_model_is_closed_and_canonical() -> None:
    with pytest.raises(ValidationError):
        AuditEntry.model_validate({**make_entry(0), "email": "a@b.example"})
    with pytest.raises(ValidationError):
        AuditEntry.model_validate({**make_entry(0), "outcome": "maybe"})
    e = AuditEntry.model_validate(make_entry(0, time="2026-11-28T01:00:00+01:00"))
    text = e.canonical_json().decode()
    assert '"time":"2026-11-28T00:00:00.000000Z"' in text
    assert list(json.loads(text)) == sorted(json.loads(text))


def test_entry_model_accepts_the_vault_shape() -> None:
    """The vault's Operation entries: role, source, several subjects, ``objects``."""
    e = AuditEntry.model_validate(
        {
            "time": "2026-11-28T00:00:00+00:00",
            "actor": "cli:root",
            "role": "admin",
            "source": "cli",
            "action": "records.collect",
            "purpose": "service",
            "subjects": ["psn_1", "psn_2"],
            "objects": ["rec_1", "rec_2"],
            "outcome": "allowed",
            "details": {"count": 2, "fields": ["a", "b"], "error": None},
        }
    )
    assert e.object_ids == ("rec_1", "rec_2") and e.subjects == ("psn_1", "psn_2")
    assert AuditEntry.model_validate(make_entry(3)).subjects == ("psn_000003",)


def test_root_matches_recomputation_at_every_size(db: Db, log: AuditLog) -> None:
    fill(db, log, 37, batch=5)
    with db.engine.connect() as conn:
        leaves = [log.leaf_hash(conn, i) for i in range(37)]
        for m in range(38):
            assert log.root(conn, m) == root_from_leaves(leaves[:m])
        with pytest.raises(ProofError):
            log.root(conn, 38)


def test_single_and_batched_appends_build_the_same_tree(db: Db, log: AuditLog) -> None:
    fill(db, log, 40, batch=1)
    with db.engine.connect() as conn:
        single_root = log.root(conn)
        single_nodes = conn.execute(select(func.count()).select_from(log.tables.node)).scalar()
    entries = [AuditEntry.model_validate(make_entry(i)).canonical_json() for i in range(40)]
    assert single_root == root_from_leaves([leaf_hash(e) for e in entries])
    assert single_nodes == 20 + 10 + 5 + 2 + 1


@pytest.fixture
def big_log(db: Db, log: AuditLog) -> tuple[Db, AuditLog]:
    fill(db, log, 300, batch=64)
    return db, log


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_log_proofs_verify_and_bit_flips_are_rejected(
    big_log: tuple[Db, AuditLog], data: st.DataObject
) -> None:
    db, log = big_log
    size = data.draw(st.integers(1, 300), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    size1 = data.draw(st.integers(1, size), label="size1")
    with db.engine.connect() as conn:
        root = log.root(conn, size)
        leaf = log.leaf_hash(conn, index)
        proof = log.inclusion_proof(conn, index, size)
        root1 = log.root(conn, size1)
        cproof = log.consistency_proof(conn, size1, size)
    verify_inclusion(leaf, index, size, proof, root)
    verify_consistency(size1, size, root1, root, cproof)
    for which, p in (("inclusion", proof), ("consistency", cproof)):
        if not p:
            continue
        i = data.draw(st.integers(0, len(p) - 1), label=f"{which} element")
        bit = data.draw(st.integers(0, 255), label=f"{which} bit")
        flipped = list(p)
        b = bytearray(flipped[i])
        b[bit // 8] ^= 1 << (bit % 8)
        flipped[i] = bytes(b)
        with pytest.raises(ProofError):
            if which == "inclusion":
                verify_inclusion(leaf, index, size, flipped, root)
            else:
                verify_consistency(size1, size, root1, root, flipped)


def test_proof_arguments_out_of_range(big_log: tuple[Db, AuditLog]) -> None:
    db, log = big_log
    with db.engine.connect() as conn:
        with pytest.raises(ProofError):
            log.inclusion_proof(conn, 300, 300)
        with pytest.raises(ProofError):
            log.inclusion_proof(conn, 0, 301)
        with pytest.raises(ProofError):
            log.consistency_proof(conn, 10, 5)


def test_checkpoint_is_signed_and_stored(db: Db, log: AuditLog, signer: AuditSigner) -> None:
    fill(db, log, 13)
    with db.engine.begin() as conn:
        note = log.checkpoint(conn, signer)
        assert log.checkpoint(conn, signer) == note  # unchanged tree: no new checkpoint
        cp = parse_checkpoint(open_note(note, signer.verifier)[0])
        assert (cp.origin, cp.size, cp.root) == (ORIGIN, 13, log.root(conn))
        assert log.checkpoints(conn) == [note]
        assert log.verify_live(conn, signer.verifier).ok


def test_checkpoint_policy(db: Db, log: AuditLog, signer: AuditSigner) -> None:
    now = [1_000_000.0]
    log.policy = CheckpointPolicy(every_entries=10, every_seconds=60)
    log.clock = lambda: now[0]
    with db.engine.begin() as conn:
        log.append_many(conn, [make_entry(i) for i in range(3)])
        assert log.maybe_checkpoint(conn, signer) is not None  # first checkpoint: due at once
        log.append_many(conn, [make_entry(i) for i in range(3, 8)])
        assert log.maybe_checkpoint(conn, signer) is None  # 5 new entries, 0 s
        log.append_many(conn, [make_entry(i) for i in range(8, 13)])
        assert log.maybe_checkpoint(conn, signer) is not None  # 10 new entries
        log.append(conn, make_entry(13))
        now[0] += 59
        assert log.maybe_checkpoint(conn, signer) is None
        now[0] += 2
        assert log.maybe_checkpoint(conn, signer) is not None  # age
        assert log.maybe_checkpoint(conn, signer) is None  # nothing new
        assert len(log.checkpoints(conn)) == 3


def test_export_verifies_with_only_the_public_key(
    db: Db, log: AuditLog, signer: AuditSigner, tmp_path: Path
) -> None:
    fill(db, log, 25)
    with db.engine.begin() as conn:
        log.checkpoint(conn, signer)
    fill(db, log, 10, start=25)
    with db.engine.begin() as conn:
        log.checkpoint(conn, signer)
        log.append(conn, make_entry(35))
        out = log.export(conn, tmp_path / "export", signer)
    assert sorted(p.name for p in out.iterdir()) == [
        "audit.vkey", "checkpoints.jsonl", "entries.jsonl", "manifest.json", "tree-hashes.bin"
    ]
    vkey = (out / "audit.vkey").read_text().strip()
    result = verify_export(out, vkey, origin=ORIGIN)
    assert result.ok, result.errors
    assert (result.size, result.checkpoints, result.verified_size) == (36, 2, 35)
    assert result.warnings  # entry 35 is not yet covered by a checkpoint
    assert not verify_export(out, vkey, origin="other.example/log").ok


def test_log_without_checkpoint_does_not_verify(db: Db, log: AuditLog, signer: AuditSigner) -> None:
    fill(db, log, 3)
    with db.engine.connect() as conn:
        result = log.verify_live(conn, signer.verifier)
    assert not result.ok and "no valid signed checkpoint" in result.errors[0]


def test_concurrent_appends_are_serialised(db: Db, log: AuditLog, signer: AuditSigner) -> None:
    """Several threads, each appending in its own transactions: no lost or duplicated index."""
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            for j in range(10):
                for attempt in range(50):
                    try:
                        with db.engine.begin() as conn:
                            log.append_many(conn, [make_entry(w * 100 + j), make_entry(w)])
                        break
                    except Exception as exc:  # SQLite may report "database is locked"
                        if "locked" not in str(exc) or attempt == 49:
                            raise
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with db.engine.begin() as conn:
        assert log.size(conn) == 80
        log.checkpoint(conn, signer)
        result = log.verify_live(conn, signer.verifier)
    assert result.ok, result.errors


def test_empty_log(db: Db, log: AuditLog, signer: AuditSigner, tmp_path: Path) -> None:
    with db.engine.begin() as conn:
        log.create(conn)  # idempotent
        assert log.size(conn) == 0 and log.verify_live(conn, signer.verifier).ok
        note = log.checkpoint(conn, signer)
        assert "\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n" in note
        out = log.export(conn, tmp_path / "empty", signer)
    assert verify_export(out, signer.verifier).ok


def test_checkpoint_refuses_a_foreign_previous_checkpoint(
    db: Db, log: AuditLog, signer: AuditSigner, tmp_path: Path
) -> None:
    fill(db, log, 5)
    other = AuditSigner.generate(tmp_path / "other.pem", signer.name)
    with db.engine.begin() as conn:
        log.checkpoint(conn, other)
        log.append(conn, make_entry(5))
        with pytest.raises(LogCorrupted, match="does not verify"):
            log.checkpoint(conn, signer)


def test_verification_leaves_the_callers_connection_as_it_was(
    db: Db, log: AuditLog, signer: AuditSigner
) -> None:
    fill(db, log, 3)
    with db.engine.begin() as conn:
        log.checkpoint(conn, signer)
        before = dict(conn.get_execution_options())
        assert log.verify_live(conn, signer.verifier).ok
        assert dict(conn.get_execution_options()) == before
        log.append(conn, make_entry(3))  # a plain statement still works on this connection
