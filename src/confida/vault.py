"""The vault: configuration, register, record store and key store, opened together.

Domain modules (``subject``, ``consent``, ``record`` ...) hold the rules and take a ``Vault`` as
their context; the vault itself holds no rule. It opens the stores, hands out keys, and runs
each :class:`~confida.operation.Operation` in one transaction with its audit entry, refusing to
commit one in which no access decision (:func:`confida.authz.authorise`) was made. Nothing here
is global: tests open as many vaults as they like side by side.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from confida.audit.group_commit import GroupCommit
from confida.audit.sink import init_signing_key, open_sink
from confida.clock import utcnow
from confida.config import Config
from confida.crypto.kek import FileKek, KekProvider
from confida.crypto.keystore import INDEX_KEY, SYSTEM_PREFIX, KeyStore
from confida.errors import AccessDenied, BadInput, ConfidaError, NotFound, StoreUnavailable
from confida.operation import AuditSink, Operation, notify_observers
from confida.permissions import require_ready
from confida.pii import detect, summarize
from confida.register import Register, load_register
from confida.store import migrate
from confida.store.engine import make_engine, read_transaction, transaction
from confida.transparency.notice import backup_days, notice_version

PiiScanner = Callable[[str], dict[str, int]]


def no_scan(_text: str) -> dict[str, int]:
    return {}


def _pii_scanner() -> PiiScanner:
    def scan(text: str) -> dict[str, int]:
        return summarize(detect(text))

    return scan


class Vault:
    def __init__(
        self,
        config: Config,
        *,
        register: Register | None = None,
        kek: KekProvider | None = None,
        clock: Callable[[], datetime] = utcnow,
        audit: AuditSink | None = None,
        scanner: PiiScanner | None = None,
        check_schema: bool = True,
    ) -> None:
        self.config = config
        self.clock = clock
        self.register = register or load_register(config.register_path)
        self.engine: Engine = make_engine(config.database_url, secure_delete=True)
        self.key_engine: Engine = make_engine(config.keystore_url, secure_delete=True)
        if check_schema:
            migrate.require_current(self.engine, "store")
            migrate.require_current(self.key_engine, "keystore")
        self.keys = KeyStore(self.key_engine, kek or kek_provider(config), clock=clock)
        self.audit: AuditSink = audit if audit is not None else open_sink(config)
        self.scan: PiiScanner = scanner or _pii_scanner()
        self._index_key: bytes | None = None
        # the audit group commit of reads (``read_operation``); holds nothing until used
        self.group_commit = GroupCommit(self.engine, self._append_batch, self._witness)

    @classmethod
    def open(cls, config: Config, **kwargs: Any) -> Vault:
        require_ready(config)
        return cls(config, **kwargs)

    def close(self) -> None:
        self.engine.dispose()
        self.key_engine.dispose()

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- helpers shared by the domain modules -------------------------------------------------

    def subject_ref(self, external_id: str) -> str:
        """HMAC of the host application's subject id: an index that reveals nothing by itself."""
        if not isinstance(external_id, str) or not external_id.strip():
            raise BadInput("a subject id must be a non-empty string")
        if len(external_id) > 256:
            raise BadInput("a subject id is at most 256 characters")
        if self._index_key is None:
            self._index_key = self.keys.get_key(INDEX_KEY)
        return hmac.new(self._index_key, external_id.encode("utf-8"), hashlib.sha256).hexdigest()

    def system_key(self, name: str) -> bytes:
        """A named 256-bit key of the installation (token signing, keyed masking), from the key
        store, created on first use. Kept apart from subject keys by the ``system:`` prefix."""
        key_id = SYSTEM_PREFIX + name
        try:
            return self.keys.get_key(key_id)
        except NotFound:
            try:
                return self.keys.create_key(key_id)
            except (StoreUnavailable, IntegrityError):
                return self.keys.get_key(key_id)  # created concurrently by another process

    def notice_version(self) -> str:
        """The version of the privacy notice consents are recorded against."""
        return notice_version(self.register, backup_days(self.config))

    @contextmanager
    def operation(self, op: Operation) -> Iterator[tuple[Connection, Operation]]:
        """Run ``op`` in one transaction whose audit entry commits with it.

        A refused or failed attempt rolls back the operation and is then logged on its own, so
        the log holds every attempt, and never a change without its entry.
        """
        try:
            with transaction(self.engine) as conn:
                yield conn, op
                _require_decision(op)
                signed = self.audit.append(conn, self._entry(op, "allowed"))
        except ConfidaError as exc:
            entry = self._failure_entry(op, exc)
            try:
                with transaction(self.engine) as conn:
                    signed = self.audit.append(conn, entry)
                self._witness(signed)
            except ConfidaError:
                pass  # the store itself is down: the original error is the one to report
            notify_observers(op, entry["outcome"])
            raise
        self._witness(signed)
        notify_observers(op, "allowed")

    @contextmanager
    def read_operation(self, op: Operation) -> Iterator[tuple[Connection, Operation]]:
        """Run ``op``, which only reads, on a read-only transaction; its audit entry goes
        through the group commit (:mod:`confida.audit.group_commit`).

        The same guarantees as :meth:`operation`: no decision, no success; a refusal or
        failure is logged; and the caller returns only after its entry is committed, so an
        answer whose entry could not be written is never given. A write in the body raises:
        an operation that changes something must use :meth:`operation`.
        """
        try:
            with read_transaction(self.engine) as conn:
                yield conn, op
                _require_decision(op)
            self.group_commit.append(self._entry(op, "allowed"))
        except ConfidaError as exc:
            entry = self._failure_entry(op, exc)
            with contextlib.suppress(ConfidaError):  # the store is down: report the original
                self.group_commit.append(entry)
            notify_observers(op, entry["outcome"])
            raise
        notify_observers(op, "allowed")

    def _append_batch(self, conn: Connection, entries: Sequence[Mapping[str, Any]]
                      ) -> str | None:
        """The group commit's append: one ``append_many`` on the audit log; a sink with only
        ``append`` (a test's) gets the entries one by one."""
        append_many = getattr(self.audit, "append_many", None)
        if append_many is not None:
            return append_many(conn, entries)  # type: ignore[no-any-return]
        notes = [self.audit.append(conn, e) for e in entries]
        return next((n for n in reversed(notes) if n), None)

    def _witness(self, note: str | None) -> None:
        """After commit: a checkpoint signed in the transaction goes to the witness file."""
        if isinstance(note, str):
            self.audit.committed(note)

    def _failure_entry(self, op: Operation, exc: ConfidaError) -> dict[str, Any]:
        """The entry of an attempt that raised: denied (a rule said no, or the request was
        wrong) or failed (the system could not do it)."""
        refused = op.decision is not None and op.decision["decision"] == "denied"
        outcome = (
            "denied" if refused or (exc.exit_code == 1 and exc.http_status < 500) else "failed"
        )
        op.details["error"] = exc.code
        return self._entry(op, outcome)

    def _entry(self, op: Operation, outcome: str) -> dict[str, Any]:
        details = op.details if op.decision is None else {**op.details, "authz": op.decision}
        if op.request_id is not None:  # the adapter's request id (confida.operation.request_id)
            details = {**details, "request_id": op.request_id}
        return {
            "time": self.clock().isoformat(),
            "actor": op.actor.id,
            "role": op.actor.role,
            "source": op.actor.source,
            "action": op.action,
            "purpose": op.purpose,
            "subjects": op.subject_pseudonyms,
            "objects": op.object_ids,
            "outcome": outcome,
            "details": details,
        }


def _require_decision(op: Operation) -> None:
    """Every public core function calls ``authz.authorise`` first; an operation that would
    succeed without a decision is a bug, never a silent allow."""
    if op.decision is None:
        raise AccessDenied(f"{op.action}: no access decision was made")


def _private(path: Path) -> None:
    """SQLite files (and their WAL) are readable by the owner only."""
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if p.exists():
            os.chmod(p, 0o600)


def kek_provider(config: Config) -> KekProvider:
    if config.kek_provider == "file":
        return FileKek(config.kek_dir)
    if config.kek_provider == "pkcs11":
        from confida.crypto.pkcs11_kek import Pkcs11Kek

        return Pkcs11Kek(config.pkcs11)
    raise BadInput(f"unknown KEK provider {config.kek_provider!r}; use 'file' or 'pkcs11'")


def initialise_stores(config: Config, kek: KekProvider | None = None) -> None:
    """Create or migrate both databases and the first keys (idempotent)."""
    engine = make_engine(config.database_url, secure_delete=True, create_dir=True)
    key_engine = make_engine(config.keystore_url, secure_delete=True, create_dir=True)
    try:
        migrate.upgrade(engine, "store")
        migrate.upgrade(key_engine, "keystore")
        KeyStore(key_engine, kek or kek_provider(config)).initialise()
        init_signing_key(config)
        for url in (config.database_url, config.keystore_url):
            if url.startswith("sqlite:///"):
                _private(Path(url.removeprefix("sqlite:///")))
    finally:
        engine.dispose()
        key_engine.dispose()
