"""Readiness: may a load balancer send this process traffic right now?

``/health`` says the process answers (liveness). ``/ready`` says it can also do its work: the
record store and the key store answer on a *fresh* connection (a pooled one can outlive the file
or server it was opened on), the key-encryption key opens the key store's index key (so the KEK
file is there and right, or the HSM answers), and every background job of the server is alive and
its last run succeeded. Each check reports ``ok`` or a short reason made of names only: never a
database message, a path or a value, which could carry secrets or personal data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from confida.config import Config
from confida.crypto.kek import FileKek, KekProvider
from confida.crypto.keystore import INDEX_KEY, KeyStore
from confida.store import migrate
from confida.store.keyschema import data_key

OK = "ok"


class BackgroundJob(Protocol):
    """What a server job (e.g. periodic retention) tells readiness about itself."""

    name: str

    def health(self) -> tuple[bool, str]:
        """(healthy, status): status is a word and at most an exception type name."""
        ...


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(v == OK for v in self.checks.values())

    def reasons(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.checks.items() if v != OK)


def _probe_engine(url: str) -> Engine:
    """An engine whose every connection is new, and which never creates a missing SQLite file
    (``mode=rw``): a store that was moved away is unreachable, not silently empty."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database or ""
        return create_engine(f"sqlite:///file:{db}?mode=rw&uri=true", poolclass=NullPool,
                             connect_args={"timeout": 2})
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, poolclass=NullPool, connect_args={"connect_timeout": 3})


def _reason(exc: BaseException, what: str) -> str:
    return f"{what} ({type(exc).__name__})"


def check_store(url: str, which: str) -> str:
    engine = _probe_engine(url)
    try:
        if not migrate.is_current(engine, which):
            return "schema not current"
        return OK
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", by type only
        return _reason(exc, "unreachable")
    finally:
        engine.dispose()


def check_kek(url: str, kek: KekProvider) -> str:
    """Unwrap the subject-index key with a KEK provider that has not cached it."""
    engine = _probe_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                select(data_key.c.key_id).where(data_key.c.key_id == INDEX_KEY)
            ).first()
        if row is None:
            return "index key missing"
        KeyStore(engine, kek).get_key(INDEX_KEY)  # a new key store: nothing cached
        return OK
    except Exception as exc:  # noqa: BLE001
        return _reason(exc, "cannot unwrap the index key")
    finally:
        engine.dispose()


class ReadinessProbe:
    """Runs the checks for one server. The file KEK is re-read on every probe (a provider that
    cached it would say "usable" after the file is gone); an HSM provider is kept, since each
    unwrap asks the HSM anyway."""

    def __init__(self, config: Config,
                 jobs: Callable[[], Sequence[BackgroundJob]] = tuple) -> None:
        self.config = config
        self.jobs = jobs
        self._hsm: KekProvider | None = None

    def _kek(self) -> KekProvider:
        if self.config.kek_provider == "file":
            return FileKek(self.config.kek_dir)
        if self._hsm is None:
            from confida.vault import kek_provider

            self._hsm = kek_provider(self.config)
        return self._hsm

    def run(self) -> Readiness:
        checks: dict[str, str] = {}
        checks["record_store"] = check_store(self.config.database_url, "store")
        checks["key_store"] = check_store(self.config.keystore_url, "keystore")
        if checks["key_store"] == OK:
            try:
                checks["kek"] = check_kek(self.config.keystore_url, self._kek())
            except Exception as exc:  # noqa: BLE001 - e.g. the HSM module cannot load
                checks["kek"] = _reason(exc, "provider unavailable")
        else:
            checks["kek"] = "not checked (key store unreachable)"
        for job in self.jobs():
            healthy, status = job.health()
            checks[job.name] = OK if healthy else status
        return Readiness(checks)


def problem_body(result: Readiness) -> dict[str, Any]:
    """RFC 9457 problem details with one extension member, ``checks``."""
    from confida.server.problems import PROBLEM_BASE

    return {
        "type": PROBLEM_BASE + "not-ready",
        "title": "Service unavailable",
        "status": 503,
        "detail": "not ready: " + result.reasons(),
        "checks": result.checks,
    }
