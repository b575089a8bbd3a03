"""Crash safety: SIGKILL a real process at seeded random moments, then open the store afresh.

Four kinds of work are killed: batch collect (``collect_many`` and a loop of ``confida collect``
commands), key rotation (``confida keys rotate``), training export (``confida export training``)
and retention (``confida retention run``). After each kill a fresh process proves that

- every write the child acknowledged is present and decrypts to what was written;
- nothing is half-done: every data key unwraps and a resumed rotation completes; a training
  dataset directory exists only complete (manifest and shards that match it) and only for a
  dataset the vault has recorded, and a rerun leaves no partial directory behind; a retention run
  left each record either gone (and only if it was due) or intact and readable;
- ``PRAGMA integrity_check`` is ``ok`` on every SQLite file and ``confida audit verify`` passes.

Kill times are drawn from ``random.Random(seed)`` over the measured length of the work; every
assertion names its seed. ``CONFIDA_CRASH_SEEDS=1,2,3,...`` runs more seeds than the default two.
Runs on SQLite and, with ``CONFIDA_TEST_DATABASE_URL``, on PostgreSQL.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from confida import consent, record
from confida.crypto import aead
from confida.export.manifest import MANIFEST_NAME, Manifest, verify
from confida.record import CollectItem, decrypt_row
from confida.store.keyschema import data_key, kek_version
from confida.store.schema import record as record_t
from confida.store.schema import subject as subject_t
from confida.store.schema import training_dataset
from tests.actors import ADMIN
from tests.conftest import cli
from tests.crash_support import SEEDS, assert_store_sound, cli_child, open_vault, run_and_kill

# --- batch collect -----------------------------------------------------------------------------

COLLECT_CHILD = r"""
import json, random, sys
from confida.config import Config
from confida.record import CollectItem, collect_many
from confida.operation import Actor
from confida.vault import Vault
data_dir, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
v = Vault.open(Config.load(data_dir))
print("READY", flush=True)
for i in range(1_000_000):
    items = []
    for j in range(rng.randint(1, 8)):
        # mostly known subjects, sometimes a new one (its key is created mid-batch)
        subj = f"s{rng.randrange(30)}" if rng.random() < 0.8 else f"new-{seed}-{i}-{j}"
        items.append(CollectItem(subj, "conversation_message",
                                 {"conversation_id": f"c{i}", "text": f"note m{seed}-{i}-{j}"},
                                 "service"))
    out = collect_many(v, items, actor=Actor(id="test-admin", role="admin", source="cli"))
    print("ACK " + json.dumps([[c.record_id, it.subject, it.data["text"]]
                               for c, it in zip(out, items, strict=True)]), flush=True)
"""

CLI_LOOP_CHILD = r"""
import json, subprocess, sys
data_dir, seed = sys.argv[1], int(sys.argv[2])
print("READY", flush=True)
for i in range(1_000_000):
    text = f"cli m{seed}-{i}"
    p = subprocess.run([sys.executable, "-c", "from confida.cli import main; main()",
                        "--data-dir", data_dir, "--json", "collect", f"cli{i % 3}",
                        "conversation_message", "--purpose", "service", "--data",
                        json.dumps({"conversation_id": "k", "text": text})],
                       capture_output=True, text=True)
    if p.returncode == 0:
        rid = json.loads(p.stdout)["record_id"]
        print("ACK " + json.dumps([[rid, f"cli{i % 3}", text]]), flush=True)
    else:
        print("FAIL " + p.stderr.strip().replace("\n", " | "), flush=True)
"""


def _check_acked(data_dir: Path, acked: list[tuple[str, str, str]], why: str) -> None:
    """Every acknowledged record is there, belongs to its subject and decrypts to its text;
    every record and every active subject in the store still has its key."""
    with open_vault(data_dir) as v, v.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(record_t))}
        missing = [rid for rid, _, _ in acked if rid not in rows]
        assert not missing, f"{why}: {len(missing)} of {len(acked)} acknowledged records lost"
        refs = {r.id: r.ref for r in conn.execute(select(subject_t.c.id, subject_t.c.ref))}
        for rid, subj, text in acked:
            row = rows[rid]
            assert refs[row.subject_id] == v.subject_ref(subj), f"{why}: {rid} wrong subject"
            assert decrypt_row(v, row)["text"] == text, f"{why}: {rid} decrypts to other text"
        for row in rows.values():  # unacknowledged but committed writes must be whole too
            decrypt_row(v, row)
        active = [s for s, ref in refs.items() if ref is not None]
        assert len(v.keys.get_keys(active)) == len(active), f"{why}: a subject lost its key"


def test_batch_collect_survives_sigkill(data_dir: Path, tmp_path: Path) -> None:
    acked: list[tuple[str, str, str]] = []
    for seed in SEEDS:
        rng = random.Random(seed)
        why = f"collect_many seed={seed}"
        run = run_and_kill([sys.executable, "-c", COLLECT_CHILD, str(data_dir), str(seed)],
                           rng.uniform(0.2, 1.5), tmp=tmp_path)
        assert run.killed, f"{why}: the child ended on its own: {run.tail()}"
        acked += [tuple(x) for a in run.acks for x in json.loads(a)]  # type: ignore[misc]
        _check_acked(data_dir, acked, why)
        assert_store_sound(data_dir, why)
    assert acked, "no write was acknowledged before the kills"


def test_cli_collect_loop_survives_sigkill(data_dir: Path, tmp_path: Path) -> None:
    seed = SEEDS[0]
    why = f"cli collect loop seed={seed}"
    rng = random.Random(seed)
    run = run_and_kill([sys.executable, "-c", CLI_LOOP_CHILD, str(data_dir), str(seed)],
                       rng.uniform(2.5, 5.0), tmp=tmp_path, group=True)
    fails = [x for x in run.lines if x.startswith("FAIL")]
    assert not fails, f"{why}: {fails}"
    acked = [tuple(x) for a in run.acks for x in json.loads(a)]
    _check_acked(data_dir, acked, why)  # type: ignore[arg-type]
    assert_store_sound(data_dir, why)


# --- key rotation ------------------------------------------------------------------------------


def _seed_many_subjects(data_dir: Path, n: int, prefix: str) -> list[str]:
    """``n`` subjects, each with one record (and so one data key); returns the record ids."""
    with open_vault(data_dir) as v:
        items = [CollectItem(f"{prefix}{i}", "usage_event", {"event": f"e{i}"}, "analytics")
                 for i in range(n)]
        return [c.record_id for c in record.collect_many(v, items, actor=ADMIN)]


def _all_records_decrypt(data_dir: Path, record_ids: list[str], why: str) -> None:
    with open_vault(data_dir) as v, v.engine.connect() as conn:
        rows = conn.execute(select(record_t).where(record_t.c.id.in_(record_ids))).all()
        assert len(rows) == len(record_ids), f"{why}: records lost"
        keys = v.keys.get_keys({r.subject_id for r in rows})
        for r in rows:
            assert decrypt_row(v, r, keys[r.subject_id])["event"].startswith("e"), why


def _kek_states(data_dir: Path) -> dict[str, str]:
    with open_vault(data_dir) as v, v.key_engine.connect() as kc:
        return {r.version: r.state for r in kc.execute(select(kek_version))}


def test_key_rotation_resumes_after_sigkill(data_dir: Path, tmp_path: Path) -> None:
    records = _seed_many_subjects(data_dir, 800, "r")
    # One uninterrupted rotation measures how long the work takes; kills land inside it.
    calib = run_and_kill(cli_child(data_dir, "--json", "keys", "rotate"), None, tmp=tmp_path)
    assert calib.rc == 0, calib.tail()
    span = calib.ready_to_exit_s
    killed = 0
    for seed in SEEDS:
        rng = random.Random(seed)
        why = f"keys rotate seed={seed} (span {span:.2f}s)"
        run = run_and_kill(cli_child(data_dir, "--json", "keys", "rotate"),
                           rng.uniform(0.1, span), tmp=tmp_path)
        killed += run.killed
        if not run.killed:
            assert run.rc == 0, f"{why}: {run.tail()}"
        states = _kek_states(data_dir)
        was_rotating = "rotating" in states.values()
        assert_store_sound(data_dir, why)  # every data key unwraps under its recorded version
        _all_records_decrypt(data_dir, records, why)
        r = cli(data_dir, "--json", "keys", "rotate")  # the resume (or a fresh rotation)
        assert r.exit_code == 0, f"{why}: resumed rotation failed: {r.output}"
        res = json.loads(r.output)
        assert res["resumed"] == was_rotating, f"{why}: {res} after states {states}"
        states = _kek_states(data_dir)
        active = [ver for ver, s in states.items() if s == "active"]
        assert len(active) == 1 and set(states.values()) <= {"active", "retired"}, (
            f"{why}: {states}")
        with open_vault(data_dir) as v, v.key_engine.connect() as kc:
            stale = kc.execute(select(data_key.c.key_id).where(
                data_key.c.kek_version != active[0])).all()
        assert not stale, f"{why}: {len(stale)} data keys not re-wrapped after the resume"
        _all_records_decrypt(data_dir, records, why)
    assert killed, f"no kill landed inside a rotation (span {span:.2f}s)"


# --- training export ---------------------------------------------------------------------------


def _seed_training(data_dir: Path, subjects: int, per: int) -> None:
    with open_vault(data_dir) as v:
        for i in range(subjects):
            consent.grant(v, f"t{i}", "model_training", actor=ADMIN)
        record.collect_many(v, [
            CollectItem(f"t{i}", "conversation_message",
                        {"conversation_id": f"c{i}", "text": f"Hello, I am t{i}, message {j}."},
                        "service")
            for i in range(subjects) for j in range(per)
        ], actor=ADMIN)


def _datasets(data_dir: Path) -> dict[str, str]:
    with open_vault(data_dir) as v, v.engine.connect() as conn:
        return {r.id: r.manifest_sha256 for r in conn.execute(select(training_dataset))}


def _assert_export_whole(data_dir: Path, out: Path, why: str) -> None:
    """A dataset directory is complete and known to the vault, or it is not there at all."""
    import hashlib

    partials = sorted(p.name for p in out.parent.glob(f".{out.name}.partial-*"))
    if not out.exists():
        return
    assert (out / MANIFEST_NAME).is_file(), f"{why}: {out} exists without a manifest"
    assert verify(out) == [], f"{why}: {verify(out)}"
    raw = (out / MANIFEST_NAME).read_bytes()
    m = Manifest.from_json(raw.decode())
    known = _datasets(data_dir)
    assert m.dataset_id in known, (
        f"{why}: dataset {m.dataset_id} was delivered but the vault has no record of it, so "
        f"revocations can never name its rows (partials: {partials})")
    assert known[m.dataset_id] == hashlib.sha256(raw).hexdigest(), why


def _export(data_dir: Path, out: Path) -> list[str]:
    return cli_child(data_dir, "--json", "export", "training", "--out", str(out),
                     "--format", "jsonl", "--shard-size", "10")


def test_training_export_is_whole_or_absent_after_sigkill(data_dir: Path, tmp_path: Path) -> None:
    _seed_training(data_dir, 30, 6)
    calib = run_and_kill(_export(data_dir, tmp_path / "calib"), None, tmp=tmp_path)
    assert calib.rc == 0, calib.tail()
    span = calib.ready_to_exit_s
    for seed in SEEDS:
        rng = random.Random(seed)
        out = tmp_path / f"ds-{seed}"
        why = f"export training seed={seed} (span {span:.2f}s)"
        run = run_and_kill(_export(data_dir, out), rng.uniform(0.1, span), tmp=tmp_path)
        if not run.killed:
            assert run.rc == 0, f"{why}: {run.tail()}"
        _assert_export_whole(data_dir, out, why)
        assert_store_sound(data_dir, why)
        if not out.exists():  # the rerun a user would do
            r = cli(data_dir, "--json", "export", "training", "--out", str(out), "--format",
                    "jsonl", "--shard-size", "10")
            assert r.exit_code == 0, f"{why}: rerun failed: {r.output}"
            _assert_export_whole(data_dir, out, why)
            assert json.loads(r.output)["record_count"] == 180, why
        left = sorted(p.name for p in tmp_path.glob(f".{out.name}.partial-*"))
        assert not left, f"{why}: partial output left behind after the rerun: {left}"


KILL_AFTER_MOVE_CHILD = r"""
import os, signal, sys
out = sys.argv[-5]
def then_die(real):
    def move(src, dst, *a, **k):
        real(src, dst, *a, **k)
        if os.fspath(dst) == out:
            os.kill(os.getpid(), signal.SIGKILL)
    return move
os.replace = then_die(os.replace)
os.rename = then_die(os.rename)
from confida.cli import app
print("READY", flush=True)
app(args=sys.argv[1:], prog_name="confida")
"""


def test_training_export_killed_right_after_the_move(data_dir: Path, tmp_path: Path) -> None:
    """The riskiest instant: the dataset directory is in place but the process dies before
    anything else happens. A directory the vault does not know would be data that left the
    vault with nothing to name its rows when people later withdraw or are erased."""
    _seed_training(data_dir, 5, 2)
    out = tmp_path / "ds"
    args = _export(data_dir, out)
    args[2] = KILL_AFTER_MOVE_CHILD
    assert args[-5] == str(out)
    run = run_and_kill(args, None, tmp=tmp_path)
    assert run.rc == -9, f"the injected kill did not happen: {run.tail()}"
    _assert_export_whole(data_dir, out, "killed right after the move")
    assert_store_sound(data_dir, "killed right after the move")


# --- retention ---------------------------------------------------------------------------------


def _seed_retention(data_dir: Path, prefix: str) -> tuple[set[str], set[str]]:
    """Records of three kinds of subject: only due records (the subject expires and its key is
    destroyed), mixed due and kept records, and due records with consent in force (the subject
    stays). Returns (due record ids, kept record ids)."""
    with open_vault(data_dir) as v:
        items = []
        for i in range(40):
            items.append(CollectItem(f"{prefix}a{i}", "usage_event", {"event": f"e{i}"},
                                     "analytics"))
            items.append(CollectItem(f"{prefix}b{i}", "usage_event", {"event": f"e{i}"},
                                     "analytics"))
            items.append(CollectItem(f"{prefix}b{i}", "usage_event", {"event": f"e{i}k"},
                                     "analytics"))
        for i in range(10):
            consent.grant(v, f"{prefix}c{i}", "model_training", actor=ADMIN)
            items.append(CollectItem(f"{prefix}c{i}", "usage_event", {"event": f"e{i}"},
                                     "analytics"))
        out = record.collect_many(v, items, actor=ADMIN)
        due = {c.record_id for c, it in zip(out, items, strict=True)
               if not it.data["event"].endswith("k")}
        kept = {c.record_id for c in out} - due
        past = v.clock() - timedelta(days=1)
        with v.engine.begin() as conn:
            # the deadline is authenticated with the record: moving it re-seals the row, as
            # every change of it in the core does
            rows = conn.execute(select(record_t).where(record_t.c.id.in_(sorted(due)))).all()
            for row in rows:
                key = v.keys.get_key(row.subject_id)
                plain = aead.open_sealed(key, row.ciphertext, record.row_aad(row))
                conn.execute(update(record_t).where(record_t.c.id == row.id).values(
                    **record.reseal_values(row, key, plain, retain_until=past)))
    return due, kept


def _assert_retention_state(data_dir: Path, due: set[str], kept: set[str], why: str,
                            *, finished: bool) -> None:
    with open_vault(data_dir) as v, v.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(
            select(record_t).where(record_t.c.id.in_(sorted(due | kept))))}
        lost = kept - set(rows)
        assert not lost, f"{why}: {len(lost)} records not yet due were deleted"
        for r in rows.values():  # whatever is still there is intact and readable
            assert decrypt_row(v, r)["event"].startswith("e"), why
        if finished:
            assert not (due & set(rows)), f"{why}: due records survived a completed run"
        expired = [s for (s,) in conn.execute(
            select(subject_t.c.id).where(subject_t.c.status == "expired"))]
        holders = {r.subject_id for r in rows.values()}
        assert not holders & set(expired), f"{why}: an expired subject still has records"
        with v.key_engine.connect() as kc:
            keyed = {k for (k,) in kc.execute(
                select(data_key.c.key_id).where(data_key.c.key_id.in_(expired)))}
        if finished:
            assert not keyed, f"{why}: {len(keyed)} expired subjects still have a data key"
        for rid, r in rows.items():  # a present record's subject has its key
            assert v.keys.has_key(r.subject_id), f"{why}: record {rid} lost its key"


def test_retention_run_is_all_or_nothing_after_sigkill(data_dir: Path, tmp_path: Path) -> None:
    due, kept = _seed_retention(data_dir, "calib-")
    calib = run_and_kill(cli_child(data_dir, "--json", "retention", "run"), None, tmp=tmp_path)
    assert calib.rc == 0, calib.tail()
    _assert_retention_state(data_dir, due, kept, "retention calibration", finished=True)
    span = calib.ready_to_exit_s
    for seed in SEEDS:
        rng = random.Random(seed)
        why = f"retention run seed={seed} (span {span:.2f}s)"
        due, kept = _seed_retention(data_dir, f"s{seed}-")
        run = run_and_kill(cli_child(data_dir, "--json", "retention", "run"),
                           rng.uniform(0.1, span), tmp=tmp_path)
        if not run.killed:
            assert run.rc == 0, f"{why}: {run.tail()}"
        _assert_retention_state(data_dir, due, kept, why, finished=not run.killed)
        assert_store_sound(data_dir, why)
        r = cli(data_dir, "--json", "retention", "run")
        assert r.exit_code == 0, f"{why}: rerun failed: {r.output}"
        _assert_retention_state(data_dir, due, kept, why + " after rerun", finished=True)


KILL_IN_KEK_WRITE_CHILD = r"""
import os, signal, sys
real = os.write
def write_then_die(fd, data):
    if os.readlink(f"/proc/self/fd/{fd}").endswith(".key"):
        os.kill(os.getpid(), signal.SIGKILL)  # the KEK file exists, its key is not written yet
    return real(fd, data)
os.write = write_then_die
from confida.cli import app
print("READY", flush=True)
app(args=sys.argv[1:], prog_name="confida")
"""


def test_key_rotation_killed_while_creating_the_new_kek(data_dir: Path, tmp_path: Path) -> None:
    """The new KEK file is created, then the process dies before the key is in it. Nothing can
    have been wrapped under an empty file, so the rotation run again must complete."""
    records = _seed_many_subjects(data_dir, 20, "k")
    args = cli_child(data_dir, "--json", "keys", "rotate")
    args[2] = KILL_IN_KEK_WRITE_CHILD
    run = run_and_kill(args, None, tmp=tmp_path)
    assert run.rc == -9, f"the injected kill did not happen: {run.tail()}"
    r = cli(data_dir, "--json", "keys", "rotate")
    assert r.exit_code == 0, f"rotation after a kill in the KEK write: {r.output}"
    assert set(_kek_states(data_dir).values()) == {"active", "retired"}
    _all_records_decrypt(data_dir, records, "killed while creating the KEK")
    assert_store_sound(data_dir, "killed while creating the KEK")
