"""The key store: one data key per subject, stored only wrapped by the KEK.

It is a database apart from the records (by default ``keys/keystore.db``) so that a backup of the
record store holds no key. Destroying a subject's row here is what erasure means: every record,
backup, export or token map sealed under that key becomes unreadable at once.

Key state is one truth for every process. A process keeps only the result of the expensive KEK
unwrap, keyed by the exact wrapped blob it came from; every use reads the key's row (one
primary-key select, joined with its KEK version's state) and uses the cached key only if that row
still holds the same blob under a KEK version that still exists. So once another process erases
a subject, deletes a row or destroys a KEK version, the next use here refuses, whatever was
cached. ``bench/keycache.py`` measures what this costs on the read path.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine, Row, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from confida.clock import utcnow
from confida.crypto import aead
from confida.crypto.kek import KekProvider
from confida.errors import KeyUnavailable, NotFound, Refused, StoreUnavailable
from confida.store.engine import reading, require_checkpoint, transaction
from confida.store.keyschema import data_key, kek_version

SYSTEM_PREFIX = "system:"
INDEX_KEY = SYSTEM_PREFIX + "subject-index"

#: KEK version states: ``rotating`` (new keys are wrapped with it while a rotation runs),
#: ``active``, ``retired`` (nothing wrapped with it any more; kept until the retire window ends)
#: and ``destroyed`` (the KEK is gone from its provider; nothing can ever be unwrapped with it).
ROTATING, ACTIVE, RETIRED, DESTROYED = "rotating", "active", "retired", "destroyed"

# One key row and its KEK version's state: the read every use of a key makes.
_KEY_ROWS = select(
    data_key.c.key_id, data_key.c.kek_version, data_key.c.wrapped, kek_version.c.state
).select_from(data_key.outerjoin(kek_version, kek_version.c.version == data_key.c.kek_version))


# The same read for the hot path, straight to the driver (placeholder style per driver).
_ONE_KEY_SQL = {
    "qmark": "SELECT d.kek_version, d.wrapped, k.state FROM data_key d LEFT OUTER JOIN "
             "kek_version k ON k.version = d.kek_version WHERE d.key_id = ?",
    "format": "SELECT d.kek_version, d.wrapped, k.state FROM data_key d LEFT OUTER JOIN "
              "kek_version k ON k.version = d.kek_version WHERE d.key_id = %s",
}


class _KeyRow(NamedTuple):
    key_id: str
    kek_version: str
    wrapped: bytes
    state: str | None


class KeyRefused(Refused):
    """``keys retire`` will not destroy a KEK version something still needs."""

    code = "kek-in-use"


#: States of the KEK version new keys are wrapped with, in order of preference: a rotation in
#: progress wins over the active version.
CURRENT_STATES = ("rotating", "active")


def current_of(versions: Iterable[Mapping[str, object]]) -> str | None:
    """The current version among ``versions`` rows (``version``, ``state``), if any."""
    rows = list(versions)
    for want in CURRENT_STATES:
        for r in rows:
            if r["state"] == want:
                return str(r["version"])
    return None


class KeyStore:
    def __init__(
        self,
        engine: Engine,
        kek: KekProvider,
        *,
        clock: Callable[[], datetime] = utcnow,
        cache_size: int = 4096,
    ) -> None:
        self.engine = engine
        self.kek = kek
        self.clock = clock
        # key_id -> (KEK version, wrapped blob, unwrapped key): the unwrap, never the key's state
        self._cache: OrderedDict[str, tuple[str, bytes, bytes]] = OrderedDict()
        self._cache_size = cache_size
        self._one_sql = _ONE_KEY_SQL["qmark" if engine.dialect.paramstyle == "qmark" else "format"]

    # --- KEK versions -----------------------------------------------------------------------

    def versions(self) -> list[dict[str, object]]:
        with reading(self.engine) as conn:
            rows = conn.execute(select(kek_version).order_by(kek_version.c.created_at)).all()
        return [dict(r._mapping) for r in rows]

    def current_version(self) -> str:
        """The version new keys are wrapped with: a rotation in progress wins over active."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(kek_version.c.version, kek_version.c.state).where(
                    kek_version.c.state.in_(CURRENT_STATES)
                )
            ).all()
        current = current_of([{"version": v, "state": s} for v, s in rows])
        if current is None:
            raise KeyUnavailable(
                "the key store has no active key-encryption key; run `confida init`"
            )
        return current

    def initialise(self) -> None:
        """First KEK version and the subject-index key, for a new installation."""
        with self.engine.connect() as conn:
            existing = conn.execute(select(kek_version.c.version)).first()
        if existing:
            return
        if not self.kek.has_version("v1"):
            self.kek.create_version("v1")
        with transaction(self.engine) as conn:
            conn.execute(
                insert(kek_version).values(
                    version="v1", provider=self.kek.name, state="active", created_at=self.clock()
                )
            )
        self.create_key(INDEX_KEY)

    # --- data keys --------------------------------------------------------------------------

    @staticmethod
    def _aad(key_id: str, version: str) -> bytes:
        return aead.associated_data("dek", key_id, version)

    def create_key(self, key_id: str) -> bytes:
        key = aead.new_key()
        version = self.current_version()
        wrapped = self.kek.wrap(version, key, self._aad(key_id, version))
        with transaction(self.engine) as conn:
            conn.execute(
                insert(data_key).values(
                    key_id=key_id, kek_version=version, wrapped=wrapped, created_at=self.clock()
                )
            )
        self._remember(key_id, version, wrapped, key)
        return key

    def create_keys(self, key_ids: Iterable[str]) -> dict[str, bytes]:
        ids = list(key_ids)
        if not ids:
            return {}
        version = self.current_version()
        now = self.clock()
        keys = {k: aead.new_key() for k in ids}
        rows = [
            {
                "key_id": k,
                "kek_version": version,
                "wrapped": self.kek.wrap(version, v, self._aad(k, version)),
                "created_at": now,
            }
            for k, v in keys.items()
        ]
        with transaction(self.engine) as conn:
            conn.execute(insert(data_key), rows)
        for row in rows:
            self._remember(row["key_id"], version, row["wrapped"], keys[row["key_id"]])
        return keys

    def _remember(self, key_id: str, version: str, wrapped: bytes, key: bytes) -> None:
        if self._cache_size <= 0:
            return
        # server threads share this cache: a concurrent pop must not turn into an error here
        self._cache[key_id] = (version, wrapped, key)
        with suppress(KeyError):
            self._cache.move_to_end(key_id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _open_row(self, row: _KeyRow | Row[Any], alive: dict[str, bool] | None = None) -> bytes:
        """The data key of one current key row: from the cache when the row still holds the
        blob the cached key came from and its KEK version still exists; else unwrapped."""
        version, wrapped = row.kek_version, row.wrapped
        if row.state == DESTROYED or row.state is None:
            self._cache.pop(row.key_id, None)
            raise KeyUnavailable(
                f"a data key is wrapped under KEK version {version}, which was destroyed"
            )
        hit = self._cache.get(row.key_id)
        if hit is not None and hit[0] == version and hit[1] == wrapped:
            # the provider is the truth for a KEK's existence, whatever a restored store says
            memo = {} if alive is None else alive  # one provider check per version and call
            if version not in memo:
                memo[version] = self.kek.has_version(version)
            if not memo[version]:
                self._cache.pop(row.key_id, None)
                raise KeyUnavailable(f"KEK version {version} is no longer in its provider")
            with suppress(KeyError):
                self._cache.move_to_end(row.key_id)
            return hit[2]
        key = self.kek.unwrap(version, wrapped, self._aad(row.key_id, version))
        self._remember(row.key_id, version, wrapped, key)
        return key

    def get_key(self, key_id: str) -> bytes:
        """The data key, valid as of this call: one primary-key read of the key store per use.

        The read goes straight to the driver (a pooled connection, one prepared statement, no
        transaction of its own on SQLite): through the full SQL layer it cost several times more.
        """
        dbapi = self.engine.dialect.loaded_dbapi
        try:
            raw = self.engine.raw_connection()
            try:
                cur = raw.cursor()
                cur.execute(self._one_sql, (key_id,))
                found = cur.fetchone()
                cur.close()
            finally:
                raw.close()
        except (dbapi.Error, DBAPIError) as exc:
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "error"
            raise StoreUnavailable(f"key store unavailable: {reason}") from None
        if found is None:
            self._cache.pop(key_id, None)
            raise NotFound("no data key: the subject was erased or never existed")
        return self._open_row(_KeyRow(key_id, found[0], bytes(found[1]), found[2]))

    def get_keys(self, key_ids: Iterable[str]) -> dict[str, bytes]:
        """Many data keys in one query, each validated as ``get_key`` does; absent ids (erased
        subjects) are left out of the result."""
        ids = set(key_ids)
        if not ids:
            return {}
        with reading(self.engine) as conn:
            rows = conn.execute(_KEY_ROWS.where(data_key.c.key_id.in_(ids))).all()
        alive: dict[str, bool] = {}
        out = {r.key_id: self._open_row(r, alive) for r in rows}
        for gone in ids - set(out):
            self._cache.pop(gone, None)
        return out

    def has_key(self, key_id: str) -> bool:
        with reading(self.engine) as conn:
            return (
                conn.execute(select(data_key.c.key_id).where(data_key.c.key_id == key_id)).first()
                is not None
            )

    def destroy(self, key_id: str) -> bool:
        """Crypto-shred: delete the wrapped key (zeroed on disk by secure_delete).

        On SQLite the write-ahead log still holds the page as it was until a checkpoint copies
        the zeroed page back and truncates the log; ``require_checkpoint`` insists on that (or
        raises, and a re-run of the erasure finishes it), so no copy of the key stays on disk.
        """
        self._cache.pop(key_id, None)
        with transaction(self.engine) as conn:
            n = conn.execute(delete(data_key).where(data_key.c.key_id == key_id)).rowcount
        require_checkpoint(self.engine)
        return bool(n)

    def forget_cached(self, key_id: str) -> None:
        self._cache.pop(key_id, None)

    # --- rotation ---------------------------------------------------------------------------

    def rotate(
        self, *, batch: int = 500, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, object]:
        """Re-wrap every data key under a new KEK version; records are not touched.

        Resumable and idempotent: a rotation interrupted by a crash leaves its version in state
        ``rotating``; the next call resumes that version instead of starting another, and each
        batch commits on its own, so finished work is never redone.
        """
        with self.engine.connect() as conn:
            rows = conn.execute(select(kek_version.c.version, kek_version.c.state)).all()
        states = dict(rows)
        target = next((v for v, s in states.items() if s == "rotating"), None)
        resumed = target is not None
        if target is None:
            n = max((int(v[1:]) for v in states), default=0) + 1
            target = f"v{n}"
            if not self.kek.has_version(target):
                self.kek.create_version(target)
            with transaction(self.engine) as conn:
                conn.execute(
                    insert(kek_version).values(
                        version=target, provider=self.kek.name, state="rotating",
                        created_at=self.clock(),
                    )
                )
        with self.engine.connect() as conn:
            total = conn.execute(
                select(data_key.c.key_id).where(data_key.c.kek_version != target)
            ).all()
        todo = len(total)
        done = 0
        if progress:
            progress(0, todo)
        while True:
            with transaction(self.engine) as conn:
                rows = conn.execute(
                    select(data_key.c.key_id, data_key.c.kek_version, data_key.c.wrapped)
                    .where(data_key.c.kek_version != target)
                    .limit(batch)
                ).all()
                if not rows:
                    break
                for r in rows:
                    key = self.kek.unwrap(
                        r.kek_version, r.wrapped, self._aad(r.key_id, r.kek_version)
                    )
                    conn.execute(
                        update(data_key)
                        .where(data_key.c.key_id == r.key_id)
                        .where(data_key.c.kek_version == r.kek_version)
                        .values(
                            kek_version=target,
                            wrapped=self.kek.wrap(target, key, self._aad(r.key_id, target)),
                        )
                    )
            done += len(rows)
            if progress:
                progress(done, todo)
        with transaction(self.engine) as conn:
            conn.execute(
                update(kek_version)
                .where(kek_version.c.version != target)
                .where(kek_version.c.state.in_((ACTIVE, ROTATING)))
                .values(state=RETIRED, retired_at=self.clock())
            )
            conn.execute(
                update(kek_version).where(kek_version.c.version == target).values(state=ACTIVE)
            )
        return {"version": target, "rewrapped": done, "resumed": resumed}

    # --- retirement -------------------------------------------------------------------------

    def retired_since(self) -> dict[str, datetime]:
        """When each retired or destroyed version stopped wrapping anything. A version retired
        before this was recorded counts from the creation of the version that replaced it
        (the rotation started then, so this errs towards keeping the key longer, never less)."""
        rows = sorted(self.versions(), key=lambda r: int(str(r["version"])[1:]))
        out: dict[str, datetime] = {}
        for i, r in enumerate(rows):
            if r["state"] not in (RETIRED, DESTROYED):
                continue
            since = r.get("retired_at")
            if since is None:
                later = [n["created_at"] for n in rows[i + 1:]]
                since = min(later) if later else r["created_at"]
            out[str(r["version"])] = since  # type: ignore[assignment]
        return out

    def retire(self, destroyable: Callable[[datetime], bool]) -> dict[str, object]:
        """Destroy every retired KEK version whose retirement ``destroyable`` accepts.

        Refused (nothing destroyed) while a due version still wraps a data key, which only a
        rotation left unfinished or a key store put back from a backup can cause: finish the
        rotation first. The active and rotating versions are never candidates. The state
        ``destroyed`` commits before the provider destroys the KEK, so an interrupted retire is
        finished by running it again, and no process unwraps with the version meanwhile.
        """
        since = self.retired_since()
        states = {str(r["version"]): str(r["state"]) for r in self.versions()}
        due = sorted(v for v, t in since.items() if states[v] == RETIRED and destroyable(t))
        with self.engine.connect() as conn:
            in_use = dict(conn.execute(
                select(data_key.c.kek_version, func.count())
                .where(data_key.c.kek_version.in_(due))
                .group_by(data_key.c.kek_version)
            ).all()) if due else {}
        if in_use:
            v, n = sorted(in_use.items())[0]
            raise KeyRefused(
                f"KEK version {v} still wraps {n} data key(s); run `confida keys rotate` to "
                "finish the rotation, then retire"
            )
        now = self.clock()
        with transaction(self.engine) as conn:
            for v in due:
                left = conn.execute(
                    select(func.count()).select_from(data_key)
                    .where(data_key.c.kek_version == v)
                ).scalar_one()
                if left:  # wrapped meanwhile (a key store put back): keep it, refuse
                    raise KeyRefused(f"KEK version {v} still wraps {left} data key(s)")
                conn.execute(
                    update(kek_version).where(kek_version.c.version == v)
                    .where(kek_version.c.state == RETIRED)
                    .values(state=DESTROYED, destroyed_at=now)
                )
        # the provider objects of every destroyed version go, including those an interrupted
        # earlier run marked but did not reach
        gone = sorted(v for v, st in states.items() if st == DESTROYED) + due
        removed = [v for v in gone if self.kek.destroy_version(v)]
        require_checkpoint(self.engine)
        return {"destroyed": due, "provider_objects_removed": removed,
                "kept": sorted(v for v in since if states[v] == RETIRED and v not in due)}
