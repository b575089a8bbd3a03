"""Configuration: one object, built once and passed in (no module-level state).

The data directory holds everything an embedded installation needs. Its layout::

    confida.toml          settings written by ``confida init`` (all optional)
    register.yaml         the processing register
    confida.db            the record store (SQLite, WAL) unless ``database_url`` points elsewhere
    keys/                 0700; never inside the record store, so a database backup holds no key
      kek/v1.key          key-encryption key versions (file provider), 0600
      keystore.db         subject data keys, wrapped by the KEK; erasure deletes from here
      audit-ed25519.pem   the audit log's checkpoint signing key
    audit/witness.jsonl   every signed checkpoint, appended outside the database
                          (``audit_witness_path`` puts it elsewhere, e.g. on another volume)
    tls/cert.pem, key.pem the server certificate created by init
    journal/erasures.jsonl the erasure journal (``erasure_journal_path`` moves it, e.g. to
                          another volume, so that it outlives a restore of the stores)
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from confida.errors import BadInput, NotInitialised

DEFAULT_DATA_DIR = "./confida-data"
CONFIG_FILE = "confida.toml"


@dataclass(frozen=True)
class PKCS11Settings:
    module: str = "/usr/lib/softhsm/libsofthsm2.so"
    token_label: str = "confida"
    pin_env: str = "CONFIDA_PKCS11_PIN"
    key_label_prefix: str = "confida-kek"


@dataclass(frozen=True)
class OidcSettings:
    """Bearer JWTs from an OpenID Connect issuer (``[oidc]`` in confida.toml).

    Off unless ``issuer`` is set. Keys come from ``jwks_file`` (a JWKS JSON file) or
    ``jwks_url`` (fetched and cached); ``role_claim`` names the claim holding the Confida role.
    """

    issuer: str = ""
    audience: str = ""
    jwks_url: str = ""
    jwks_file: str = ""
    role_claim: str = "confida_role"
    algorithms: tuple[str, ...] = ("RS256", "PS256", "ES256", "EdDSA")
    leeway_seconds: int = 30

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)


@dataclass(frozen=True)
class ApiSettings:
    """Limits of the HTTP API (``[api]`` in confida.toml)."""

    max_body_bytes: int = 8 * 1024 * 1024
    rate_per_second: float = 100.0
    rate_burst: int = 200
    request_timeout_seconds: float = 30.0
    subject_token_minutes: int = 15
    # On SIGTERM/SIGINT: how long requests in flight may take to finish before they are cut
    # off and the process exits (``confida serve --shutdown-timeout`` overrides it).
    shutdown_timeout_seconds: float = 10.0
    # How long an idle keep-alive connection stays open. Longer than the pool expiry of common
    # clients (httpx: 5 s), so that the client, not the server, closes it: when both give up at
    # the same moment, a request sent on a connection the server is closing gets no answer.
    keep_alive_seconds: float = 30.0
    # Server processes (``confida serve --workers`` overrides it); 0: one per CPU on
    # PostgreSQL, one on SQLite (a single writer: more processes only queue on its lock).
    workers: int = 0
    # Requests in flight per process before new ones are answered 503 with Retry-After
    # (backpressure, ``confida.server.backpressure``).
    max_in_flight: int = 32
    # Threads per process that run the synchronous routes (and so the most database
    # connections one process uses at once; the pools are sized to match). More only queue on
    # the interpreter lock: see the README's "Sizing the server".
    threads: int = 16
    # --- observability (docs/operations.md#observability): "text" or "json" (one JSON object a
    # line, with the request id); spans for each request when opentelemetry-sdk is installed
    log_format: str = "text"
    tracing: bool = False


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str = ""
    keystore_url: str = ""
    kek_provider: str = "file"
    pkcs11: PKCS11Settings = field(default_factory=PKCS11Settings)
    max_record_bytes: int = 64 * 1024
    audit_origin: str = "confida.local/audit"
    checkpoint_every_entries: int = 1000
    checkpoint_every_seconds: int = 300
    audit_witness_path: str = ""  # default <data dir>/audit/witness.jsonl; relative: to data dir
    key_rotation_days: int = 365
    # how long a retired KEK version is kept before ``keys retire`` may destroy it: the bound on
    # how old a key-store backup can be and still open anything (duration, e.g. "30 days")
    kek_retire_after: str = "30 days"
    # The append-only erasure journal (confida.erasure_journal); relative paths are taken from
    # the data dir. Put it on another volume than the stores: it is what a restore replays.
    erasure_journal_path: str = ""
    oidc: OidcSettings = field(default_factory=OidcSettings)
    api: ApiSettings = field(default_factory=ApiSettings)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.data_dir / 'confida.db'}")
        if not self.keystore_url:
            object.__setattr__(self, "keystore_url", f"sqlite:///{self.keys_dir / 'keystore.db'}")

    @property
    def kek_retire_window(self) -> Any:
        """``kek_retire_after`` parsed (a register ``Duration``); bad text is bad input."""
        from confida.register.duration import Duration

        try:
            return Duration.parse(self.kek_retire_after)
        except ValueError as exc:
            raise BadInput(f"kek_retire_after: {exc}") from None

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def kek_dir(self) -> Path:
        return self.keys_dir / "kek"

    @property
    def erasure_journal(self) -> Path:
        if not self.erasure_journal_path:
            return self.data_dir / "journal" / "erasures.jsonl"
        p = Path(self.erasure_journal_path).expanduser()
        return p if p.is_absolute() else self.data_dir / p

    @property
    def erasure_journal_is_default(self) -> bool:
        return not self.erasure_journal_path

    @property
    def register_path(self) -> Path:
        return self.data_dir / "register.yaml"

    @property
    def audit_key_path(self) -> Path:
        return self.keys_dir / "audit-ed25519.pem"

    @property
    def audit_witness_file(self) -> Path:
        """Where signed checkpoints are witnessed outside the database."""
        if not self.audit_witness_path:
            return self.data_dir / "audit" / "witness.jsonl"
        return self.data_dir / Path(self.audit_witness_path).expanduser()

    @property
    def tls_cert(self) -> Path:
        return self.data_dir / "tls" / "cert.pem"

    @property
    def tls_key(self) -> Path:
        return self.data_dir / "tls" / "key.pem"

    @property
    def is_initialised(self) -> bool:
        return (self.data_dir / CONFIG_FILE).exists()

    @classmethod
    def load(cls, data_dir: str | Path | None = None, **overrides: Any) -> Config:
        """Read ``confida.toml`` from the data dir; environment and arguments override it."""
        ddir = Path(data_dir or os.environ.get("CONFIDA_DATA_DIR") or DEFAULT_DATA_DIR)
        values: dict[str, Any] = {}
        cfg_file = ddir / CONFIG_FILE
        if cfg_file.exists():
            try:
                values = tomllib.loads(cfg_file.read_text("utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise BadInput(f"{cfg_file}: {exc}") from None
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise BadInput(f"{cfg_file}: unknown settings {', '.join(sorted(unknown))}")
        if isinstance(values.get("pkcs11"), dict):
            values["pkcs11"] = PKCS11Settings(**values["pkcs11"])
        for section, cls_ in (("oidc", OidcSettings), ("api", ApiSettings)):
            if isinstance(values.get(section), dict):
                sec = dict(values[section])
                bad = set(sec) - {f.name for f in fields(cls_)}
                if bad:
                    raise BadInput(
                        f"{cfg_file}: unknown [{section}] settings {', '.join(sorted(bad))}"
                    )
                if "algorithms" in sec:
                    sec["algorithms"] = tuple(sec["algorithms"])
                values[section] = cls_(**sec)
        for name, env in (("database_url", "CONFIDA_DATABASE_URL"),
                          ("kek_provider", "CONFIDA_KEK_PROVIDER")):
            if os.environ.get(env):
                values[name] = os.environ[env]
        values.update({k: v for k, v in overrides.items() if v is not None})
        values.pop("data_dir", None)
        return cls(data_dir=ddir, **values)

    def require_initialised(self) -> None:
        """An initialised data dir. Openers call :func:`confida.permissions.require_ready`,
        which adds the check that no other user can read or change its keys."""
        if not self.is_initialised:
            raise NotInitialised(
                f"{self.data_dir} is not a Confida data directory; run `confida init` first "
                "or pass --data-dir"
            )
