"""File permissions of an installation: who may read the keys and who may change the data dir.

Encryption at rest protects nothing if another local user can read the key-encryption key, the
key store or the audit signing key, or can swap a file in a directory Confida trusts. So every
command that opens the vault (and ``confida serve``) refuses to start when:

- the data directory or a key directory is owned by another user, or writable by group/other;
- a secret file (KEK files, audit signing key, TLS private key, SQLite key store and record store
  with their ``-wal``/``-shm``/``-journal``) is owned by another user or has any group/other bit;
- ``confida.toml`` or ``register.yaml`` (they decide what is enforced) is owned by another user
  or writable by group/other, and ``confida.toml`` holds a database password but is readable
  by group/other.

Paths that do not exist are skipped: PostgreSQL installs have no SQLite file, PKCS#11 installs
no KEK file. The compliance check ``file-permissions`` reports the same list
(``confida.compliance.files``), so a file changed while the server runs shows in the next audit.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from confida.config import CONFIG_FILE, Config
from confida.errors import ConfidaError

SECRET = "secret file"
DIRECTORY = "directory"
SETTINGS = "settings file"


class UnsafePermissions(ConfidaError):
    """A key, a store or a trusted directory is open to other users: refuse to run."""

    code = "unsafe-permissions"
    exit_code = 1
    http_status = 503


@dataclass(frozen=True)
class PathCheck:
    """One inspected path: what it is, its mode and owner, and the problem if any."""

    path: Path
    kind: str  # SECRET | DIRECTORY | SETTINGS
    mode: int
    uid: int
    problem: str | None = None
    fix: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def line(self) -> str:
        """One line naming the path, what is wrong and the command that fixes it."""
        if self.ok:
            return f"{self.path}: {self.kind}, mode {self.mode:o}, owner uid {self.uid}"
        return f"{self.path}: {self.problem}; run `{self.fix}`"


def _sqlite_file(url: str) -> Path | None:
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _has_password(url: object) -> bool:
    if not isinstance(url, str):
        return False
    try:
        return make_url(url).password is not None
    except ArgumentError:
        return False


def _settings_hold_password(path: Path) -> bool:
    try:
        values = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return any(_has_password(values.get(k)) for k in ("database_url", "keystore_url"))


def secret_files(config: Config, extra: list[Path] | None = None) -> list[Path]:
    """The files that must be 0600 and ours, where they exist."""
    files: list[Path] = []
    if config.kek_dir.is_dir():
        files += sorted(p for p in config.kek_dir.iterdir() if not p.is_dir())
    files += [config.audit_key_path, config.tls_key]
    for url in (config.keystore_url, config.database_url):
        db = _sqlite_file(url)
        if db is not None:
            files += [db, *(db.with_name(db.name + s) for s in ("-wal", "-shm", "-journal"))]
    files += list(extra or [])
    return list(dict.fromkeys(files))  # once each, in order


def _inspect(path: Path, kind: str, uid: int, password: bool = False) -> PathCheck | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return PathCheck(path, kind, 0, -1, f"cannot be inspected ({exc.strerror})",
                         f"ls -ld {path}")
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid != uid:
        return PathCheck(path, kind, mode, st.st_uid,
                         f"{kind} owned by uid {st.st_uid}, not by the user running Confida "
                         f"(uid {uid})", f"chown {uid} {path}")
    if kind == SECRET and mode & 0o077:
        return PathCheck(path, kind, mode, st.st_uid,
                         f"{kind} has mode {mode:o}; group and others must have no access",
                         f"chmod 600 {path}")
    if kind == DIRECTORY and mode & 0o022:
        return PathCheck(path, kind, mode, st.st_uid,
                         f"{kind} has mode {mode:o}; group or others can write to it",
                         f"chmod go-w {path}")
    if kind == SETTINGS and mode & 0o022:
        return PathCheck(path, kind, mode, st.st_uid,
                         f"{kind} has mode {mode:o}; group or others can change it",
                         f"chmod go-w {path}")
    if kind == SETTINGS and password and mode & 0o077:
        return PathCheck(path, kind, mode, st.st_uid,
                         f"{kind} holds a database password and has mode {mode:o}",
                         f"chmod 600 {path}")
    return PathCheck(path, kind, mode, st.st_uid)


def inspect(config: Config, *, extra_secrets: list[Path] | None = None) -> list[PathCheck]:
    """Every path the rules cover that exists, each with its problem (None when fine)."""
    uid = os.geteuid()
    dirs = [config.data_dir, config.keys_dir, config.kek_dir, config.tls_key.parent]
    out: list[PathCheck] = []
    for d in dirs:
        if (c := _inspect(d, DIRECTORY, uid)) is not None:
            out.append(c)
    settings = config.data_dir / CONFIG_FILE
    if (c := _inspect(settings, SETTINGS, uid, _settings_hold_password(settings))) is not None:
        out.append(c)
    if (c := _inspect(config.register_path, SETTINGS, uid)) is not None:
        out.append(c)
    for f in secret_files(config, extra_secrets):
        if (c := _inspect(f, SECRET, uid)) is not None:
            out.append(c)
    return out


def problems(config: Config, *, extra_secrets: list[Path] | None = None) -> list[PathCheck]:
    return [c for c in inspect(config, extra_secrets=extra_secrets) if not c.ok]


def require_safe(config: Config, *, extra_secrets: list[Path] | None = None) -> None:
    """Refuse (exit 1) when any covered path is open to other users: one line, with the fix."""
    bad = problems(config, extra_secrets=extra_secrets)
    if not bad:
        return
    more = f" (and {len(bad) - 1} more unsafe path(s))" if len(bad) > 1 else ""
    raise UnsafePermissions(f"unsafe file permissions, refusing to run: {bad[0].line()}{more}")


__all__ = ["PathCheck", "UnsafePermissions", "inspect", "problems", "require_safe",
           "secret_files"]


def require_ready(config: Config) -> None:
    """Every opener of the vault calls this: an initialised data dir whose keys and
    directories no other user can read or change."""
    config.require_initialised()
    require_safe(config)
