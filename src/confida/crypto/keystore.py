"""The key store: one data key per subject, stored only wrapped by the KEK.

It is a database apart from the records (by default ``keys/keystore.db``) so that a backup of the
record store holds no key. Destroying a subject's row here is what erasure means: every record,
backup, export or token map sealed under that key becomes unreadable at once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select, update

from confida.clock import utcnow
from confida.crypto import aead
from confida.crypto.kek import KekProvider
from confida.errors import KeyUnavailable, NotFound
from confida.store.engine import sqlite_checkpoint, transaction
from confida.store.keyschema import data_key, kek_version

SYSTEM_PREFIX = "system:"
INDEX_KEY = SYSTEM_PREFIX + "subject-index"


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
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_size = cache_size

    # --- KEK versions -----------------------------------------------------------------------

    def versions(self) -> list[dict[str, object]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(kek_version).order_by(kek_version.c.created_at)).all()
        return [dict(r._mapping) for r in rows]

    def current_version(self) -> str:
        """The version new keys are wrapped with: a rotation in progress wins over active."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(kek_version.c.version, kek_version.c.state).where(
                    kek_version.c.state.in_(("rotating", "active"))
                )
            ).all()
        states = {v: s for v, s in rows}
        for want in ("rotating", "active"):
            for v, s in states.items():
                if s == want:
                    return v
        raise KeyUnavailable("the key store has no active key-encryption key; run `confida init`")

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
        self._remember(key_id, key)
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
        for k, v in keys.items():
            self._remember(k, v)
        return keys

    def _remember(self, key_id: str, key: bytes) -> None:
        self._cache[key_id] = key
        self._cache.move_to_end(key_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def get_key(self, key_id: str) -> bytes:
        cached = self._cache.get(key_id)
        if cached is not None:
            return cached
        with self.engine.connect() as conn:
            row = conn.execute(
                select(data_key.c.kek_version, data_key.c.wrapped).where(
                    data_key.c.key_id == key_id
                )
            ).first()
        if row is None:
            raise NotFound("no data key: the subject was erased or never existed")
        key = self.kek.unwrap(row.kek_version, row.wrapped, self._aad(key_id, row.kek_version))
        self._remember(key_id, key)
        return key

    def get_keys(self, key_ids: Iterable[str]) -> dict[str, bytes]:
        ids = set(key_ids)
        out = {k: self._cache[k] for k in ids if k in self._cache}
        missing = ids - set(out)
        if missing:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(data_key.c.key_id, data_key.c.kek_version, data_key.c.wrapped).where(
                        data_key.c.key_id.in_(missing)
                    )
                ).all()
            for r in rows:
                key = self.kek.unwrap(r.kek_version, r.wrapped, self._aad(r.key_id, r.kek_version))
                self._remember(r.key_id, key)
                out[r.key_id] = key
        return out

    def has_key(self, key_id: str) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(select(data_key.c.key_id).where(data_key.c.key_id == key_id)).first()
                is not None
            )

    def destroy(self, key_id: str) -> bool:
        """Crypto-shred: delete the wrapped key (zeroed on disk by secure_delete)."""
        self._cache.pop(key_id, None)
        with transaction(self.engine) as conn:
            n = conn.execute(delete(data_key).where(data_key.c.key_id == key_id)).rowcount
        sqlite_checkpoint(self.engine)
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
                .values(state="retired")
            )
            conn.execute(
                update(kek_version).where(kek_version.c.version == target).values(state="active")
            )
        return {"version": target, "rewrapped": done, "resumed": resumed}
