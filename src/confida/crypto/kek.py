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

    def destroy_version(self, version: str) -> bool:
        """Destroy the KEK of ``version`` for good; False when it was already gone."""


def check_private_file(path: Path, what: str) -> os.stat_result:
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
    return st


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
        # version -> (identity of the file it was read from, key bytes)
        self._cache: dict[str, tuple[tuple[int, int, int, int], bytes]] = {}
        self._paths: dict[str, str] = {}

    def _path(self, version: str) -> Path:
        if not _VERSION_RE.match(version):
            raise BadInput(f"invalid KEK version {version!r}")
        return self.directory / f"{version}.key"

    def has_version(self, version: str) -> bool:
        """One ``stat``: asked on every use of a cached data key, so kept cheap. An empty file
        (see ``_left_empty``) is no version."""
        try:
            st = os.stat(self._paths[version])
        except KeyError:
            if not _VERSION_RE.match(version):
                raise BadInput(f"invalid KEK version {version!r}") from None
            self._paths[version] = str(self._path(version))
            return self.has_version(version)
        except FileNotFoundError:
            return False
        return st.st_size > 0

    def create_version(self, version: str) -> None:
        path = self._path(version)
        if _left_empty(path):
            path.unlink()
        try:
            write_private_file(path, aead.new_key())
        except FileExistsError:
            raise KeyUnavailable(f"KEK {path} already exists; refusing to overwrite it") from None

    def _key(self, version: str) -> bytes:
        """The KEK bytes, re-checked against the file on every use (one ``stat``): a version
        that ``keys retire`` destroyed in another process is unusable here at once."""
        path = self._path(version)
        st = check_private_file(path, "key-encryption key")
        ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        hit = self._cache.get(version)
        if hit is not None and hit[0] == ident:
            return hit[1]
        raw = path.read_bytes()
        if len(raw) != aead.KEY_BYTES:
            raise KeyUnavailable(f"key-encryption key {path} is not a 256-bit key")
        self._cache[version] = (ident, raw)
        return raw

    def destroy_version(self, version: str) -> bool:
        """Overwrite the key file with zeros, flush, then unlink it and flush the directory.

        The overwrite is best effort (copy-on-write file systems and SSDs may keep the old
        block); unlinking is what makes the version unusable to every process from now on.
        """
        self._cache.pop(version, None)
        path = self._path(version)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return False
        try:
            os.write(fd, b"\0" * max(os.fstat(fd).st_size, aead.KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        path.unlink()
        dfd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        return True

    def wrap(self, version: str, key: bytes, aad: bytes) -> bytes:
        return aead.seal(self._key(version), key, aad)

    def unwrap(self, version: str, wrapped: bytes, aad: bytes) -> bytes:
        return aead.open_sealed(self._key(version), wrapped, aad, what="wrapped data key")
