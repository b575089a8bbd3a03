"""The audit log after a restore: said openly, verified, never silently shorter.

A restore from a backup brings back a shorter audit log than the witness file vouches for.
``confida restore`` (and ``restore --replay-only`` after pg_restore) signs a restore record into
the witness file, logs ``backup.restore`` and witnesses a fresh checkpoint; ``audit verify`` then
passes and names the witnessed entries that are gone. Without the record, or with a forged one,
the shortened log fails as before; so does the compliance ``audit-log`` check, which reads the
witness file too. SQLite with ``confida restore``; PostgreSQL with real pg_dump / pg_restore
followed by ``confida restore --replay-only``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from confida.audit.checkpoint import AuditSigner, sign_note
from confida.audit.restore_record import parse_restore
from confida.authz import authorise
from confida.compliance.run import run_checks
from confida.config import Config
from confida.operation import Operation
from confida.vault import Vault
from tests.actors import ADMIN
from tests.conftest import cli
from tests.journal_support import open_vault, pg_dump, pg_restore
from tests.test_audit_witness import truncate

LATER = 30  # audited operations after the backup: what the restore loses


def operate(v: Vault, count: int) -> None:
    for i in range(count):
        with v.operation(Operation("test.restore", ADMIN, details={"n": i})) as (_c, op):
            authorise(ADMIN, "audit", register=v.register, op=op)


def checkpoint(data_dir: Path) -> int:
    r = cli(data_dir, "audit", "checkpoint", "--json")
    assert r.exit_code == 0, r.output
    return int(json.loads(r.stdout)["tree_size"])


def verify(data_dir: Path, *args: str) -> tuple[int, dict[str, Any]]:
    r = cli(data_dir, "audit", "verify", "--json", *args)
    return r.exit_code, json.loads(r.stdout)


def compliance_ok(data_dir: Path) -> tuple[bool, list[str]]:
    with open_vault(data_dir) as v:
        (res,) = run_checks(v, only=["audit-log"], actor=ADMIN)
    return res.status == "pass", list(res.evidence)


def witness_lines(data_dir: Path) -> list[dict[str, Any]]:
    path = Config.load(data_dir).audit_witness_file
    return [json.loads(line) for line in path.read_text().splitlines()]


def rewrite_witness(data_dir: Path, lines: list[dict[str, Any]]) -> None:
    path = Config.load(data_dir).audit_witness_file
    path.write_text("".join(json.dumps(o) + "\n" for o in lines))


def restore_from_backup(data_dir: Path, tmp_path: Path, backend: str, database_url: str) -> dict:
    """Back up, do more audited work and witness it, then restore the backup."""
    with open_vault(data_dir) as v:
        operate(v, 5)
    checkpoint(data_dir)
    with open_vault(data_dir) as v:
        with v.engine.connect() as conn:
            backed_up = v.audit.log.size(conn)  # what the snapshot holds
    dump = tmp_path / "store.dump"
    if backend == "postgresql":
        pg_dump(database_url, dump)
    # the backup's KEK rotation after its snapshot is itself audited, in the live log only
    r = cli(data_dir, "--json", "backup", "--out", str(tmp_path / "bk"))
    assert r.exit_code == 0, r.output
    with open_vault(data_dir) as v:
        operate(v, LATER)
    witnessed = checkpoint(data_dir)
    assert witnessed >= backed_up + LATER
    if backend == "postgresql":
        pg_restore(database_url, dump)
        r = cli(data_dir, "--json", "restore", "--replay-only")
    else:
        r = cli(data_dir, "--json", "restore", str(tmp_path / "bk"), "--force")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout.strip().splitlines()[-1])
    audit = out["audit"]
    assert audit["witnessed_before"] == witnessed
    assert audit["restored_size"] == backed_up
    assert audit["lost_entries"] == [backed_up, witnessed - 1]
    assert (audit["backup"] is None) == (backend == "postgresql")
    return {"backed_up": backed_up, "witnessed": witnessed}


def test_restore_is_acknowledged_and_verify_reports_the_loss(
    data_dir: Path, tmp_path: Path, backend: str, database_url: str
) -> None:
    sizes = restore_from_backup(data_dir, tmp_path, backend, database_url)
    m, n = sizes["backed_up"], sizes["witnessed"]
    code, out = verify(data_dir)
    assert code == 0 and out["ok"], out
    assert out["restore"]["lost_entries"] == [m, n - 1]
    assert out["lost_witnessed"] >= 1
    assert f"entries {m}..{n - 1} witnessed before the restore are not in this log" in (
        out["restore_message"])
    human = cli(data_dir, "audit", "verify")
    assert human.exit_code == 0 and "restored at " in human.stdout, human.stdout
    # the witness file: the restore record, then a checkpoint of the log with its entry
    lines = witness_lines(data_dir)
    kinds = ["restore" if "restore" in o else "note" for o in lines]
    assert kinds.index("restore") < len(kinds) - 1, kinds
    rec = parse_restore(next(o["restore"] for o in lines if "restore" in o).split("\n\n")[0]
                        + "\n")
    assert (rec.before_size, rec.restored_size) == (n, m)
    with open_vault(data_dir) as v, v.engine.connect() as conn:
        entry = json.loads(v.audit.log.entry(conn, m))
    assert entry["action"] == "backup.restore" and entry["details"]["restored_size"] == m
    assert compliance_ok(data_dir)[0]

    # work goes on after the restore; the log must keep extending what is witnessed since
    with open_vault(data_dir) as v:
        operate(v, 3)
    checkpoint(data_dir)
    assert verify(data_dir)[0] == 0

    # the same log without the restore record fails, exactly as a shortened log does
    lines = witness_lines(data_dir)
    at = next(i for i, o in enumerate(lines) if "restore" in o)
    genuine = lines[at]["restore"]

    def with_record(note: str) -> list[dict[str, Any]]:
        return [*lines[:at], {**lines[at], "restore": note}, *lines[at + 1:]]

    rewrite_witness(data_dir, lines[:at] + lines[at + 1:])
    code, out = verify(data_dir)
    assert code == 1 and not out["ok"], out
    assert any(f"witnessed checkpoint covers {n}" in e or "differs from the witnessed root" in e
               for e in out["errors"]), out["errors"]
    ok, evidence = compliance_ok(data_dir)
    assert not ok, evidence

    # a forged restore record: the same text signed by another key of the same name
    text = genuine.split("\n\n")[0] + "\n"
    forger = AuditSigner.generate(tmp_path / "forger.pem", Config.load(data_dir).audit_origin)
    rewrite_witness(data_dir, with_record(sign_note(text, forger)))
    code, out = verify(data_dir)
    assert code == 1 and any("restore record" in e for e in out["errors"]), out
    assert not compliance_ok(data_dir)[0]

    # a genuine record, altered to claim a larger loss, no longer verifies either
    rewrite_witness(data_dir, with_record(genuine.replace(f"restored {m} ", f"restored {m - 1} ")))
    code, out = verify(data_dir)
    assert code == 1 and any("restore record" in e for e in out["errors"]), out

    # the genuine record back: passes again
    rewrite_witness(data_dir, with_record(genuine))
    assert verify(data_dir)[0] == 0

    # the restore explains only what was witnessed before it: cutting the log below a
    # checkpoint witnessed after the restore fails, though that size lies in the lost range
    with open_vault(data_dir) as v:
        operate(v, 3)
    after = checkpoint(data_dir)
    assert m < after <= n
    with open_vault(data_dir) as v:
        truncate(v, after - 1)
    code, out = verify(data_dir)
    assert code == 1 and any(f"witnessed checkpoint covers {after}" in e
                             for e in out["errors"]), out


def test_compliance_audit_check_fails_a_log_shortened_below_its_witness(data_dir: Path) -> None:
    with open_vault(data_dir) as v:
        operate(v, 10)
    size = checkpoint(data_dir)
    assert compliance_ok(data_dir)[0]
    with open_vault(data_dir) as v:
        truncate(v, 3)
        operate(v, 1)
        with v.engine.begin() as conn:  # re-signed in the database: only the witness knows
            v.audit.log.checkpoint(conn, v.audit.signer)
    ok, evidence = compliance_ok(data_dir)
    assert not ok and any(f"witnessed checkpoint covers {size}" in e for e in evidence), evidence
