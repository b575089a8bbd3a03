"""Witnessed checkpoints: a log shortened, wiped or forked in the database fails verification.

The attacker here has write access to the database (and, for the fork, even the signing key)
but not to the witness file or to notes kept by an external witness. Each attack is first shown
to pass a verification that sees only the database, then to fail ``confida audit verify``,
which requires the live tree to extend every witnessed checkpoint. Runs on SQLite and, with
CONFIDA_TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, update

from confida.audit.checkpoint import (
    AuditSigner,
    VerifierKey,
    format_checkpoint,
    open_note,
    parse_checkpoint,
    sign_note,
)
from confida.audit.sink import LogSink, load_signer
from confida.audit.witness import WitnessFile, read_note_file, split_notes
from confida.authz import authorise
from confida.config import Config
from confida.errors import StoreUnavailable
from confida.operation import Operation
from confida.server.app import create_app
from confida.store.schema import audit_tables as T
from confida.vault import Vault
from tests.actors import ADMIN
from tests.apihelp import auth, setup
from tests.conftest import cli, make_config

EVERY = 5  # a checkpoint every 5 entries: sizes 1, 6, 11, 16, 21


@pytest.fixture
def cfg(tmp_path: Path, database_url: str) -> Config:
    return make_config(tmp_path / "data", database_url, checkpoint_every_entries=EVERY)


@pytest.fixture
def vault(cfg: Config) -> Iterator[Vault]:
    v = Vault.open(cfg)
    try:
        yield v
    finally:
        v.close()


def operate(vault: Vault, count: int) -> None:
    """``count`` audited operations, each in its own transaction, as the vault runs them."""
    for i in range(count):
        with vault.operation(Operation("test.witness", ADMIN, details={"n": i})) as (_c, op):
            authorise(ADMIN, "audit", register=vault.register, op=op)


def witnessed_sizes(cfg: Config) -> list[int]:
    return [json.loads(line)["tree_size"]
            for line in cfg.audit_witness_file.read_text().splitlines()]


def db_only_verify(vault: Vault) -> Any:
    """What verification saw before witnesses: the database and the public key alone."""
    with vault.engine.connect() as conn:
        return vault.audit.log.verify_live(conn, load_signer(vault.config).verifier)


def truncate(vault: Vault, size: int) -> None:
    """Delete the newer checkpoints, the entries and nodes after ``size``, set the head: a
    shortened log as consistent as the real one was at ``size``."""
    with vault.engine.begin() as conn:
        conn.execute(delete(T.checkpoint).where(T.checkpoint.c.tree_size > size))
        conn.execute(delete(T.entry).where(T.entry.c.idx >= size))
        conn.execute(delete(T.node).where((T.node.c.idx + 1) * 2**T.node.c.level > size))
        conn.execute(update(T.head).values(size=size))


def verify_cli(cfg: Config, *args: str) -> tuple[int, dict[str, Any]]:
    r = cli(cfg.data_dir, "audit", "verify", "--json", *args)
    return r.exit_code, json.loads(r.stdout)


@pytest.fixture
def witnessed(vault: Vault, cfg: Config) -> Vault:
    """21 operations; five checkpoints, each witnessed after its transaction committed."""
    operate(vault, 21)
    assert witnessed_sizes(cfg) == [1, 6, 11, 16, 21]
    assert stat.S_IMODE(os.stat(cfg.audit_witness_file).st_mode) == 0o600
    return vault


# ------------------------------------------------------------------ attacks on the database


def test_shortened_log_fails_naming_the_witnessed_size(witnessed: Vault, cfg: Config) -> None:
    truncate(witnessed, 6)
    assert db_only_verify(witnessed).ok  # the attack works against the database alone
    code, out = verify_cli(cfg)
    assert code == 1 and not out["ok"], out
    assert any("the log has 6 entries but a witnessed checkpoint covers 21" in e
               for e in out["errors"]), out["errors"]
    assert out["first_bad_index"] == 6


def test_wiped_log_fails(witnessed: Vault, cfg: Config) -> None:
    with witnessed.engine.begin() as conn:
        for table in (T.checkpoint, T.node, T.entry, T.head):
            conn.execute(delete(table))
    assert db_only_verify(witnessed).ok  # an empty log: a "fresh history"
    code, out = verify_cli(cfg)
    assert code == 1, out
    assert any("the log has 0 entries but a witnessed checkpoint covers 21" in e
               for e in out["errors"]), out["errors"]


def test_forked_log_resigned_with_the_real_key_fails(witnessed: Vault, cfg: Config) -> None:
    """Rewrite everything after entry 11 and sign a new checkpoint with the real key."""
    truncate(witnessed, 11)
    log, signer = witnessed.audit.log, load_signer(cfg)
    with witnessed.engine.begin() as conn:
        log.append_many(conn, [{"time": "2026-11-29T00:00:00+00:00", "actor": "svc:rewriter",
                                "action": "test.witness", "outcome": "allowed",
                                "details": {"n": i}} for i in range(11, 21)])
        log.checkpoint(conn, signer)  # size 21 again, another root; not witnessed
    assert db_only_verify(witnessed).ok
    code, out = verify_cli(cfg)
    assert code == 1, out
    assert any("root at the witnessed size 21 differs" in e for e in out["errors"]), out
    assert 11 <= out["first_bad_index"] <= 15


def test_rewritten_witness_kept_by_an_external_witness_still_catches_it(
    witnessed: Vault, cfg: Config, tmp_path: Path
) -> None:
    """The attacker also deletes the local witness file; a note kept elsewhere remains."""
    kept = tmp_path / "external" / "checkpoints.txt"
    kept.parent.mkdir()
    with witnessed.engine.connect() as conn:
        latest = witnessed.audit.log.latest_checkpoint(conn)
    assert latest is not None
    kept.write_text(latest[1])
    truncate(witnessed, 11)
    cfg.audit_witness_file.unlink()
    code, out = verify_cli(cfg)
    assert code == 0 and any("no witness file" in n for n in out["notes"])  # only a warning
    code, out = verify_cli(cfg, "--checkpoint", str(kept))
    # 12: the first verification is itself an audited act, logged after the truncation
    assert code == 1 and any("has 12 entries but a witnessed checkpoint covers 21" in e
                             for e in out["errors"]), out


# ------------------------------------------------------------------ older checkpoints


def test_intact_log_verified_with_an_older_checkpoint_passes(
    witnessed: Vault, cfg: Config, tmp_path: Path
) -> None:
    """The bug: an older published checkpoint made an intact log fail ("smaller than the
    previous"); each witnessed checkpoint is now proved consistent with the log on its own."""
    code, out = verify_cli(cfg)  # the intact log extends all five witnessed checkpoints
    assert code == 0 and out["witnessed_size"] == 21 and out["witnessed"] == 5, out
    with witnessed.engine.connect() as conn:
        old = witnessed.audit.log.checkpoint_at(conn, 11)
        assert old is not None
        r = witnessed.audit.log.verify_live(conn, load_signer(cfg).verifier,
                                            trusted_checkpoints=[old])
    assert r.ok and r.witnessed == 1 and r.witnessed_size == 11, r.errors
    path = tmp_path / "old.txt"
    path.write_text(old)
    operate(witnessed, 5)  # the log moved on (another checkpoint at 26) since it was kept
    code, out = verify_cli(cfg, "--checkpoint", str(path))
    assert code == 0, out
    assert out["witnessed_size"] == 26 and not out["errors"]


def test_newer_witnessed_checkpoint_than_the_log_fails(
    witnessed: Vault, cfg: Config, tmp_path: Path
) -> None:
    with witnessed.engine.connect() as conn:
        newest = witnessed.audit.log.checkpoint_at(conn, 21)
    assert newest is not None
    path = tmp_path / "new.txt"
    path.write_text(newest)
    truncate(witnessed, 16)
    cfg.audit_witness_file.write_text("")  # the local witness is gone too
    code, out = verify_cli(cfg, "--witness", str(path))
    assert code == 1 and any("has 16 entries but a witnessed checkpoint covers 21" in e
                             for e in out["errors"]), out


def test_witnessed_note_under_another_key_fails(
    witnessed: Vault, cfg: Config, tmp_path: Path
) -> None:
    other = AuditSigner.generate(tmp_path / "other.pem", cfg.audit_origin)
    with witnessed.engine.connect() as conn:
        forged = sign_note(format_checkpoint(cfg.audit_origin, 21,
                                             witnessed.audit.log.root(conn, 21)), other)
    path = tmp_path / "forged.txt"
    path.write_text(forged)
    code, out = verify_cli(cfg, "--checkpoint", str(path))
    assert code == 1 and any("not signed by the trusted key" in e for e in out["errors"])


# ------------------------------------------------------------------ the witness file itself


def test_rolled_back_checkpoint_is_never_witnessed(vault: Vault, cfg: Config) -> None:
    """A checkpoint signed in a transaction that then fails must not reach the witness."""
    operate(vault, 5)
    assert witnessed_sizes(cfg) == [1]
    sink = vault.audit
    assert isinstance(sink, LogSink)
    signed: list[str] = []
    real_append = sink.append

    def failing_append(conn: Any, entry: Any) -> str | None:
        note = real_append(conn, entry)
        if note is not None and not signed:
            signed.append(note)
            raise StoreUnavailable("database unavailable: injected after signing")
        return note

    sink.append = failing_append  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable):
        operate(vault, 1)  # the 6th entry signs a checkpoint, then the transaction fails
    assert signed and parse_checkpoint(signed[0][: signed[0].rfind("\n\n") + 1]).size == 6
    text = cfg.audit_witness_file.read_text()
    assert signed[0] not in text.replace("\\n", "\n")
    # The failure itself was logged in a new transaction (size 6 again, another entry), and
    # that checkpoint, committed, was witnessed: verification passes.
    assert witnessed_sizes(cfg) == [1, 6]
    code, out = verify_cli(cfg)
    assert code == 0, out


def test_witness_write_failure_is_visible(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    cfg = make_config(tmp_path / "data", database_url, checkpoint_every_entries=EVERY,
                      audit_witness_path=str(blocker / "witness.jsonl"))
    with Vault.open(cfg) as v, caplog.at_level(logging.ERROR, logger="confida.audit"):
        operate(v, 3)  # succeeds: the operations are durable even when the witness is not
        sink = v.audit
        assert isinstance(sink, LogSink)
        assert sink.witness_failures == 1 and sink.witness_error is not None
    assert any("NOT witnessed" in r.getMessage() for r in caplog.records)
    (cfg.data_dir / "confida.toml").write_text(
        f'database_url = "{database_url}"\naudit_witness_path = "{blocker / "witness.jsonl"}"\n')
    r = cli(cfg.data_dir, "audit", "checkpoint")
    assert r.exit_code == 1 and "NOT witnessed" in r.output


def test_torn_last_line_is_tolerated_and_not_extended(witnessed: Vault, cfg: Config) -> None:
    path = cfg.audit_witness_file
    with open(path, "ab") as fh:
        fh.write(b'{"note": "confida.local/audit\\n26\\nAAAA')  # a crash mid-write
    code, out = verify_cli(cfg)
    assert code == 0 and out["witnessed_size"] == 21, out
    assert any("torn" in n for n in out["notes"])
    operate(witnessed, 5)  # the next checkpoint (26) starts on a line of its own
    lines = path.read_bytes().split(b"\n")
    assert json.loads(lines[-2])["tree_size"] == 26 and lines[-1] == b""
    code, out = verify_cli(cfg)
    assert code == 0 and out["witnessed_size"] == 26, out
    assert any("not a witness record" in n for n in out["notes"])  # the ended torn line
    # and the shortened-log attack is still caught past the torn line
    truncate(witnessed, 21)
    code, out = verify_cli(cfg)
    assert code == 1 and any("covers 26" in e for e in out["errors"]), out


def test_same_note_is_witnessed_once(tmp_path: Path, vault: Vault, cfg: Config) -> None:
    operate(vault, 1)
    with vault.engine.connect() as conn:
        latest = vault.audit.log.latest_checkpoint(conn)
    assert latest is not None
    assert WitnessFile(cfg.audit_witness_file).append(latest[1]) is False
    assert witnessed_sizes(cfg) == [1]


def test_split_notes_reads_appended_responses_and_skips_a_torn_one(tmp_path: Path) -> None:
    signer = AuditSigner.generate(tmp_path / "k.pem", "test.confida.example/audit")
    notes = [sign_note(format_checkpoint(signer.name, size, bytes([size]) * 32), signer)
             for size in (3, 7, 9)]
    text = "".join(notes)  # what `curl ... >> checkpoints.txt` leaves
    assert split_notes(text) == (notes, False)
    assert split_notes(text + notes[0][:30]) == (notes, True)
    path = tmp_path / "appended.txt"
    path.write_text(text + notes[-1][: notes[-1].index("\n\n") + 2])
    read = read_note_file(path)
    assert [w.note for w in read.notes] == notes and read.warnings


# ------------------------------------------------------------------ the endpoint


def test_endpoint_serves_the_latest_note_for_external_witnesses(
    tmp_path: Path, database_url: str
) -> None:
    cfg, keys = setup(tmp_path, database_url)
    with TestClient(create_app(cfg)) as c:
        for i in range(3):
            r = c.post("/v1/records", headers=auth(keys["service"]), json={
                "subject": f"u{i}", "kind": "account", "purpose": "service",
                "data": {"email": "a@example.org"}})
            assert r.status_code == 201, r.text
        assert cli(cfg.data_dir, "audit", "checkpoint").exit_code == 0
        r = c.get("/v1/audit/checkpoints/latest", headers=auth(keys["dpo"]))
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        note = r.text
        # An external witness needs only the public key to check what it keeps.
        vkey = VerifierKey.from_vkey(cfg.audit_key_path.with_suffix(".vkey").read_text())
        text, _ = open_note(note, vkey)
        cp = parse_checkpoint(text)
        assert cp.origin == cfg.audit_origin and cp.size >= 4
        j = c.get("/v1/audit/checkpoints/latest",
                  headers={**auth(keys["dpo"]), "Accept": "application/json"})
        assert j.headers["content-type"].startswith("application/json")
        assert j.json()["note"] == note and j.json()["tree_size"] == cp.size
        assert c.get("/v1/audit/checkpoints/latest",
                     headers=auth(keys["support"])).status_code == 403
    kept = tmp_path / "kept.txt"
    kept.write_text(note)
    r = cli(cfg.data_dir, "audit", "verify", "--checkpoint", str(kept))
    assert r.exit_code == 0 and "witnessed" in r.stdout, r.output


def test_console_audit_verify_reads_the_witness_too(witnessed: Vault, cfg: Config) -> None:
    """The console's "verify" (``web.ports.audit_status``) must not be the weaker verifier."""
    from confida.web import ports

    staff = ADMIN
    assert ports.audit_status(witnessed, staff, verify=True)["verify"]["ok"]
    truncate(witnessed, 6)
    out = ports.audit_status(witnessed, staff, verify=True)["verify"]
    assert not out["ok"]
    assert any("a witnessed checkpoint covers 21" in e for e in out["errors"]), out["errors"]


def test_compliance_check_reads_the_witness_before_its_snapshot(
    witnessed: Vault, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint committed and witnessed by another process while the compliance check runs
    is not a log "shortened below its witness": the witness is read before the snapshot (and
    on PostgreSQL the snapshot is REPEATABLE READ), so the two always agree."""
    from sqlalchemy import text

    from confida.compliance import run as compliance_run
    from confida.compliance.checks import PASS, CheckResult

    def meanwhile(ctx: Any) -> CheckResult:
        ctx.conn.execute(text("SELECT 1 FROM audit_entry LIMIT 1"))  # the snapshot begins
        with Vault.open(cfg) as other:
            operate(other, 3)
        r = cli(cfg.data_dir, "audit", "checkpoint")
        assert r.exit_code == 0, r.output
        return CheckResult("meanwhile", "another process writes", "-", PASS)

    monkeypatch.setattr(compliance_run, "CHECKS", [("meanwhile", meanwhile),
                                                   *compliance_run.CHECKS])
    results = compliance_run.run_checks(witnessed, only=["meanwhile", "audit-log"], actor=ADMIN)
    audit = next(r for r in results if r.id == "audit-log")
    assert audit.status == PASS, audit.evidence
    assert max(witnessed_sizes(cfg)) > 21  # the concurrent checkpoint was witnessed
