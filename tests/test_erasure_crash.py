"""Crash safety of erasure: SIGKILL a process in the middle of an erasure, at seeded
random moments; after the restart (the journal's replay, as `confida serve` runs it) the erasure
has completed, or had not begun, and nothing is half-done. The other subject is untouched.

The erasing process is a real second process (forked after setup, so it skips the slow imports)
with its own vault; the kill moment is a seeded choice of a point in the erasure (right after
"go", after a step reported, or inside a delete chunk) plus a seeded delay of up to 4 ms, so the
kills land before, inside and between the erasure's transactions.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

from confida import erasure_replay, record
from confida.config import Config
from confida.operation import system_actor
from confida.record import CollectItem
from confida.store.schema import subject as subject_t
from confida.store.schema import subject_request
from tests.actors import ADMIN
from tests.journal_support import (
    assert_erased,
    assert_intact,
    counts,
    open_vault,
    populate,
    quiet_vault,
)

SEEDS = (1, 2, 5, 7, 9, 10, 14, 17)  # seeds whose draws cover every kind of moment
RECORDS = 120
CHUNK = 20  # several delete chunks, so a kill can land between and inside them
# where a kill may land: right after "go", after a step reported, or inside a delete chunk
MARKS = ("go", "begin", "shred", "notify", "chunk", "chunk", "delete")


def _erase_in_child(data_dir: Path, who: str, request_id: str, go: int, status: int) -> None:
    """The child process: its own vault, waits for "go", erases, reports its progress."""
    from confida.rights import erase, erasure
    from confida.vault import Vault, no_scan

    def say(what: str) -> None:
        os.write(status, what.encode() + b"\n")

    erasure.CHUNK = CHUNK
    real_chunk = erasure.delete_records_chunk

    def chunk(conn: Any, sid: str, n: int) -> int:
        say("chunk")  # inside the chunk's transaction
        return real_chunk(conn, sid, n)

    erasure.delete_records_chunk = chunk
    v = Vault.open(Config.load(data_dir), scanner=no_scan)
    say("ready")
    os.read(go, 1)
    erase(v, who, verified_by="session:test", request_id=request_id, progress=say, actor=ADMIN)
    say("done")


def _fork(data_dir: Path, who: str, request_id: str) -> tuple[int, int, int]:
    """pid, "go" pipe, status pipe. The parent holds no database connection while forking."""
    go_r, go_w = os.pipe()
    st_r, st_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            os.close(go_w)
            os.close(st_r)
            _erase_in_child(data_dir, who, request_id, go_r, st_w)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(go_r)
    os.close(st_w)
    return pid, go_w, st_r


def _lines(fd: int) -> Iterator[str]:
    buf = b""
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line.decode()


def _status(v: Any, subject_id: str) -> str:
    with v.engine.connect() as conn:
        return str(conn.execute(select(subject_t.c.status)
                                .where(subject_t.c.id == subject_id)).scalar_one())


def _request_id(v: Any, subject_id: str) -> str:
    with v.engine.connect() as conn:
        return str(conn.execute(select(subject_request.c.id)
                                .where(subject_request.c.subject_id == subject_id)).scalar_one())


def test_erasure_killed_at_random_moments_completes_after_restart(data_dir: Path) -> None:
    with quiet_vault(data_dir) as v:
        victims = {}
        for seed in SEEDS:
            who = f"victim-{seed}"
            record.collect_many(v, [
                CollectItem(who, "conversation_message",
                            {"conversation_id": f"c{i}", "text": f"t{i}"}, "service")
                for i in range(RECORDS)
            ], actor=ADMIN)
            victims[seed] = populate(v, who, n=2)
        populate(v, "bystander")
    children = {seed: _fork(data_dir, f"victim-{seed}", f"req-{seed}") for seed in SEEDS}
    seen = []
    try:
        with open_vault(data_dir) as v:
            for seed in SEEDS:
                rng = random.Random(seed)
                mark = rng.choice(MARKS)
                nth = rng.randint(1, RECORDS // CHUNK) if mark == "chunk" else 1
                delay = rng.uniform(0.0, 0.004)
                s = victims[seed]
                pid, go, status = children[seed]
                lines = _lines(status)
                assert next(lines) == "ready"
                os.write(go, b"g")
                count = 0
                if mark != "go":
                    for line in lines:
                        count += line == mark
                        if count >= nth or line == "done":
                            break
                time.sleep(delay)
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                before = _status(v, s.id)
                seen.append((seed, mark, nth, before))

                # the restart: `confida serve` replays the journal before it serves
                erasure_replay.replay(v, actor=system_actor("restore-replay"))
                if before == "active":  # killed before the erasure's first commit: nothing done
                    assert v.keys.has_key(s.id)
                    assert counts(v, s.id)["records"] == RECORDS + 3
                    assert erasure_replay.read_all(v)[0].get(s.id) is None
                else:
                    assert_erased(v, s, f"victim-{seed}", _request_id(v, s.id))
                    e = erasure_replay.read_all(v)[0][s.id]
                    assert e.completed and e.notice_id is not None
                assert_intact(v, "bystander")
    finally:
        for pid, go, status in children.values():
            for fd in (go, status):
                os.close(fd)
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
    # the kills did land in the middle of erasures, not only before or after them
    assert sum(before == "erasing" for *_, before in seen) >= 3, seen
