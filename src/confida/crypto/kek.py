"""Key-encryption key providers behind one small interface.

A provider wraps and unwraps 32-byte data keys; the KEK itself never leaves it (for PKCS#11 it
never leaves the HSM). Versions let ``keys rotate`` re-wrap data keys under a new KEK while
records stay untouched.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Protocol

from confida.crypto import aead
from confida.errors import BadInput, KeyUnavailable

_VERSION_RE = re.compile(r"^v\d{1,6}$")


class KekProvider(Protocol):
    name: str

    def create_version(self, version: str) -> None:
        """Create the KEK for ``version``; never overwrite an existing one."""

    def has_version(self, version: str) -> bool: ...

    def wrap(self, version: str, key: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, version: str, wrapped: bytes, aad: bytes) -> bytes: ...


def check_private_file(path: Path, what: str) -> None:
    """Refuse a key file that others can read: a leaked KEK undoes every other protection."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyUnavailable(f"{what} {path} is missing; nothing was changed") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyUnavailable(
            f"{what} {path} is readable by others (mode {stat.S_IMODE(st.st_mode):o}); "
            f"run `chmod 600 {path}`"
        )


def write_private_file(path: Path, data: bytes) -> None:
    """Create a 0600 file atomically; fail if it exists (keys are never overwritten)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _left_empty(path: Path) -> bool:
    """An empty key file is what a creation killed before writing the key leaves behind. No
    key was ever wrapped under it (wrapping refuses a file that holds no 256-bit key), so it is
    not a version: a resumed rotation replaces it."""
    try:
        return path.stat().st_size == 0
    except FileNotFoundError:
        return False


class FileKek:
    """KEK versions as 32-byte files ``<dir>/<version>.key`` with mode 0600."""

    name = "file"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._cache: dict[str, bytes] = {}

    def _path(self, version: str) -> Path:
        if not _VERSION_RE.match(version):
            raise BadInput(f"invalid KEK version {version!r}")
        return self.directory / f"{version}.key"

    def has_version(self, version: str) -> bool:
        path = self._path(version)
        return path.exists() and not _left_empty(path)

    def create_version(self, version: str) -> None:
        path = self._path(version)
        if _left_empty(path):
            path.unlink()
        try:
            write_private_file(path, aead.new_key())
        except FileExistsError:
            raise KeyUnavailable(f"KEK {path} already exists; refusing to overwrite it") from None

    def _key(self, version: str) -> bytes:
        if version not in self._cache:
            path = self._path(version)
            check_private_file(path, "key-encryption key")
            raw = path.read_bytes()
            if len(raw) != aead.KEY_BYTES:
                raise KeyUnavailable(f"key-encryption key {path} is not a 256-bit key")
            self._cache[version] = raw
        return self._cache[version]

    def wrap(self, version: str, key: bytes, aad: bytes) -> bytes:
        return aead.seal(self._key(version), key, aad)

    def unwrap(self, version: str, wrapped: bytes, aad: bytes) -> bytes:
        return aead.open_sealed(self._key(version), wrapped, aad, what="wrapped data key")
