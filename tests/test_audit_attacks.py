"""Each attack the log must reveal, made directly in the database (or in an export), as an
insider with write access but without the signing key would make it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from confida.audit import AuditEntry, AuditLog, AuditSigner, LogCorrupted, verify_export
from confida.audit.checkpoint import format_checkpoint, sign_note
from confida.audit.merkle import leaf_hash
from confida.audit.verify import VerifyResult
from tests.audit_data import Db, make_entry

pytest_plugins = ["tests.audit_fixtures"]

N = 40  # checkpoints at 10, 20, 30 and 40


@pytest.fixture
def filled(db: Db, log: AuditLog, signer: AuditSigner) -> tuple[Db, AuditLog, AuditSigner]:
    for start in range(0, N, 10):
        with db.engine.begin() as conn:
            log.append_many(conn, [make_entry(i) for i in range(start, start + 10)])
            log.checkpoint(conn, signer)
    with db.engine.connect() as conn:
        assert log.verify_live(conn, signer.verifier).ok
    return db, log, signer


def live(db: Db, log: AuditLog, signer: AuditSigner) -> VerifyResult:
    with db.engine.connect() as conn:
        return log.verify_live(conn, signer.verifier)


def canonical(i: int, **over: object) -> str:
    return AuditEntry.model_validate(make_entry(i, **over)).canonical_json().decode()


def set_entry(db: Db, log: AuditLog, idx: int, text: str, rehash: bool) -> None:
    e = log.tables.entry
    values: dict[str, object] = {"entry": text}
    if rehash:
        values["leaf_hash"] = leaf_hash(text.encode())
    with db.engine.begin() as conn:
        conn.execute(update(e).where(e.c.idx == idx).values(**values))


def test_edit_entry(filled: tuple[Db, AuditLog, AuditSigner]) -> None:
    db, log, signer = filled
    set_entry(db, log, 17, canonical(17, outcome="allowed", actor="svc:other"), rehash=False)
    r = live(db, log, signer)
    assert not r.ok and r.first_bad_index == 17 and r.exact


def test_edit_entry_and_its_leaf_hash(filled: tuple[Db, AuditLog, AuditSigner]) -> None:
    db, log, signer = filled
    set_entry(db, log, 17, canonical(17, actor="svc:other"), rehash=True)
    r = live(db, log, signer)
    # The leaf pair's parent is signed; which of its two leaves changed cannot be told apart
    # once the stored leaf hash was rewritten too, so the answer is a bound within one entry.
    assert not r.ok and r.first_bad_index in (16, 17)


def test_edit_entry_and_every_stored_hash(filled: tuple[Db, AuditLog, AuditSigner]) -> None:
    """The attacker rebuilds the whole tree: only the signed checkpoints remain to catch it."""
    db, log, signer = filled
    e, nd, head = log.tables.entry, log.tables.node, log.tables.head
    with db.engine.begin() as conn:
        texts = [t for (t,) in conn.execute(select(e.c.entry).order_by(e.c.idx))]
        texts[23] = canonical(23, outcome="allowed", actor="svc:other")
        conn.execute(delete(nd))
        conn.execute(delete(e))
        conn.execute(update(head).values(size=0))
        log.append_many(conn, [json.loads(t) for t in texts])
    r = live(db, log, signer)
    assert not r.ok
    assert r.first_bad_index is not None and 20 <= r.first_bad_index <= 23  # since checkpoint 20


def test_delete_entry(filled: tuple[Db, AuditLog, AuditSigner]) -> None:
    db, log, signer = filled
    with db.engine.begin() as conn:
        conn.execute(delete(log.tables.entry).where(log.tables.entry.c.idx == 12))
    r = live(db, log, signer)
    assert not r.ok and r.first_bad_index == 12 and r.exact


def test_delete_last_entries(filled: tuple[Db, AuditLog, AuditSigner]) -> None:
    db, log, signer = filled
    with db.engine.begin() as conn:
        conn.execute(delete(log.tables.entry).where(log.tables.entry.c.idx >= 38))
    r = live(db, log, signer)
    assert not r.ok and r.first_bad_index == 38


def test_reorder_entries(filled: tuple[Db, AuditLog, AuditSigner]) -> None:
    db, log, signer = filled
    e = log.tables.entry
    with db.engine.begin() as conn:
        a = conn.execute(select(e.c.entry).where(e.c.idx == 5)).scalar_one()
        b = conn.execute(select(e.c.entry).where(e.c.idx == 29)).scalar_one()
    set_entry(db, log, 5, b, rehash=False)
    set_entry(db, log, 29, a, rehash=False)
    r = live(db, log, signer)
    assert not r.ok and r.first_bad_index == 5 and r.exact


def test_reorder_whole_rows(filled: tuple[Db, AuditLog, AuditSigner]) -> None:
    db, log, signer = filled
    e = log.tables.entry
    with db.engine.begin() as conn:
        conn.execute(update(e).where(e.c.idx == 6).values(idx=-1))
        conn.execute(update(e).where(e.c.idx == 29).values(idx=6))
        conn.execute(update(e).where(e.c.idx == -1).values(idx=29))
    r = live(db, log, signer)
    assert not r.ok and r.first_bad_index in (6, 7)


def test_insert_entry_in_the_middle(filled: tuple[Db, AuditLog, AuditSigner]) -> None:
    db, log, signer = filled
    e = log.tables.entry
    forged = canonical(999)
    with db.engine.begin() as conn:
        conn.execute(update(e).where(e.c.idx >= 14).values(idx=e.c.idx + 1_000_000))
        conn.execute(update(e).where(e.c.idx >= 1_000_000).values(idx=e.c.idx - 999_999))
        conn.execute(
            e.insert().values(idx=14, entry=forged, leaf_hash=leaf_hash(forged.encode()))
        )
    r = live(db, log, signer)
    assert not r.ok and r.first_bad_index in (14, 15)


def test_insert_entry_at_the_end_outside_the_log(filled: tuple[Db, AuditLog, AuditSigner]) -> None:
    db, log, signer = filled
    forged = canonical(999)
    with db.engine.begin() as conn:
        conn.execute(
            log.tables.entry.insert().values(
                idx=N, entry=forged, leaf_hash=leaf_hash(forged.encode())
            )
        )
    r = live(db, log, signer)
    assert not r.ok and r.first_bad_index == N


def test_truncate_and_re_extend(filled: tuple[Db, AuditLog, AuditSigner]) -> None:
    db, log, signer = filled
    e, nd, head = log.tables.entry, log.tables.node, log.tables.head
    with db.engine.begin() as conn:
        conn.execute(delete(e).where(e.c.idx >= 25))
        for level in range(1, 7):
            conn.execute(delete(nd).where(nd.c.level == level, (nd.c.idx + 1) * 2**level > 25))
        conn.execute(update(head).values(size=25))
        log.append_many(conn, [make_entry(i, actor="svc:rewriter") for i in range(25, 45)])
    r = live(db, log, signer)
    assert not r.ok
    assert r.first_bad_index is not None and 20 <= r.first_bad_index <= 25
    with db.engine.begin() as conn, pytest.raises(LogCorrupted, match="refusing to sign"):
        log.checkpoint(conn, signer)


def test_truncate_only(filled: tuple[Db, AuditLog, AuditSigner]) -> None:
    db, log, signer = filled
    e, nd, head = log.tables.entry, log.tables.node, log.tables.head
    with db.engine.begin() as conn:
        conn.execute(delete(e).where(e.c.idx >= 33))
        conn.execute(delete(nd).where(nd.c.idx * 0 == 0, (nd.c.idx + 1) * 2**nd.c.level > 33))
        conn.execute(update(head).values(size=33))
    r = live(db, log, signer)
    assert not r.ok and r.first_bad_index == 33


def test_replace_whole_log_with_forged_consistent_one(
    filled: tuple[Db, AuditLog, AuditSigner], tmp_path: Path
) -> None:
    db, log, signer = filled
    e, nd, head, cp = log.tables.entry, log.tables.node, log.tables.head, log.tables.checkpoint
    with db.engine.begin() as conn:
        for t in (e, nd, cp):
            conn.execute(delete(t))
        conn.execute(update(head).values(size=0))
        log.append_many(conn, [make_entry(i, actor="svc:forger") for i in range(N)])
    # Without any checkpoint nothing vouches for the log.
    r = live(db, log, signer)
    assert not r.ok and r.first_bad_index == 0
    # With checkpoints the forger signed with a key of their own (same name), still refused.
    forger = AuditSigner.generate(tmp_path / "forger.pem", signer.name)
    with db.engine.begin() as conn:
        log.checkpoint(conn, forger)
    r = live(db, log, signer)
    assert not r.ok and any("not signed by the trusted key" in m for m in r.errors)


def test_forged_log_is_caught_by_checkpoints_kept_elsewhere(
    filled: tuple[Db, AuditLog, AuditSigner],
) -> None:
    db, log, signer = filled
    with db.engine.connect() as conn:
        published = log.checkpoints(conn)[-1]
    e, nd, head, cp = log.tables.entry, log.tables.node, log.tables.head, log.tables.checkpoint
    with db.engine.begin() as conn:
        for t in (e, nd, cp):
            conn.execute(delete(t))
        conn.execute(update(head).values(size=0))
        log.append_many(conn, [make_entry(i, actor="svc:forger") for i in range(N)])
    with db.engine.connect() as conn:
        r = log.verify_live(conn, signer.verifier, trusted_checkpoints=[published])
    assert not r.ok and r.first_bad_index == 0


def test_checkpoint_signed_with_another_key(
    filled: tuple[Db, AuditLog, AuditSigner], tmp_path: Path
) -> None:
    db, log, signer = filled
    other = AuditSigner.generate(tmp_path / "other.pem", signer.name)
    with db.engine.begin() as conn:
        log.append(conn, make_entry(N))
        note = sign_note(format_checkpoint(log.origin, N + 1, log.root(conn)), other)
        conn.execute(
            log.tables.checkpoint.insert().values(
                tree_size=N + 1, root=log.root(conn), note=note, created_at=datetime.now(UTC)
            )
        )
    r = live(db, log, signer)
    assert not r.ok and r.verified_size == N
    assert any("not signed by the trusted key" in m for m in r.errors)


def test_tampered_stored_node_is_reported(filled: tuple[Db, AuditLog, AuditSigner]) -> None:
    db, log, signer = filled
    nd = log.tables.node
    with db.engine.begin() as conn:
        conn.execute(update(nd).where(nd.c.level == 2, nd.c.idx == 3).values(hash=bytes(32)))
    r = live(db, log, signer)
    assert not r.ok and any("stored node (2, 3)" in m for m in r.errors)


# ------------------------------------------------------------------ attacks on an export


@pytest.fixture
def export(filled: tuple[Db, AuditLog, AuditSigner], tmp_path: Path) -> tuple[Path, str]:
    db, log, signer = filled
    with db.engine.connect() as conn:
        out = log.export(conn, tmp_path / "export", signer)
    vkey = signer.verifier.to_vkey()
    assert verify_export(out, vkey).ok
    return out, vkey


def tamper_lines(out: Path, edit: Callable[[list[bytes]], None]) -> None:
    """Edit the exported entries.jsonl in place, as a list of its lines."""
    path = out / "entries.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    edit(lines)
    path.write_bytes(b"".join(lines))


def _set(i: int, line: bytes) -> Callable[[list[bytes]], None]:
    def edit(lines: list[bytes]) -> None:
        lines[i] = line

    return edit


def test_export_edit_line(export: tuple[Path, str]) -> None:
    out, vkey = export
    tamper_lines(out, _set(31, (canonical(31, outcome="allowed") + "\n").encode()))
    r = verify_export(out, vkey)
    assert not r.ok and r.first_bad_index == 31 and r.exact


def test_export_delete_line(export: tuple[Path, str]) -> None:
    out, vkey = export
    tamper_lines(out, lambda lines: lines.pop(8))
    r = verify_export(out, vkey)
    assert not r.ok and r.first_bad_index == 8 and r.exact


def test_export_reorder_lines(export: tuple[Path, str]) -> None:
    out, vkey = export
    tamper_lines(out, lambda lines: lines.insert(2, lines.pop(3)))
    r = verify_export(out, vkey)
    assert not r.ok and r.first_bad_index == 2 and r.exact


def test_export_without_hints_gives_a_bound(export: tuple[Path, str]) -> None:
    out, vkey = export
    (out / "tree-hashes.bin").unlink()
    tamper_lines(out, _set(31, (canonical(31, outcome="allowed") + "\n").encode()))
    r = verify_export(out, vkey)
    assert not r.ok and r.first_bad_index == 30 and not r.exact  # after checkpoint 30


def test_export_non_canonical_line(export: tuple[Path, str]) -> None:
    out, vkey = export
    spaced = json.dumps(json.loads(canonical(4)), indent=1).replace("\n", "") + "\n"
    tamper_lines(out, _set(4, spaced.encode()))
    r = verify_export(out, vkey)
    assert not r.ok and r.first_bad_index == 4


def test_export_checkpoint_with_flipped_bit(export: tuple[Path, str]) -> None:
    out, vkey = export
    rows = [json.loads(x) for x in (out / "checkpoints.jsonl").read_text().splitlines()]
    rows[1]["note"] = rows[1]["note"].replace("\n20\n", "\n21\n")
    (out / "checkpoints.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = verify_export(out, vkey)
    assert not r.ok and any("checkpoint 2" in m for m in r.errors)


def test_export_verified_with_wrong_key(export: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = export
    other = AuditSigner.generate(tmp_path / "x.pem", "test.confida.example/audit")
    r = verify_export(out, other.verifier)
    assert not r.ok and r.checkpoints == 0


def test_checkpoint_columns_must_match_the_note(filled: tuple[Db, AuditLog, AuditSigner]) -> None:
    db, log, signer = filled
    cp = log.tables.checkpoint
    with db.engine.begin() as conn:
        conn.execute(update(cp).where(cp.c.tree_size == 40).values(tree_size=41))
    r = live(db, log, signer)
    assert not r.ok and any("columns differ" in m for m in r.errors)
