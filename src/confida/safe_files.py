"""Writing output files safely: never over an existing file by accident, never half-written,
never through a planted symlink.

Every ``--out`` of every command goes through here:

- the target's directory must exist (one line, exit 2 otherwise: a typo in a path must not
  scatter personal data into newly made directories);
- an existing file, or a non-empty directory, is replaced only with ``force`` (``--force``);
- the content is written to a temporary file created in the same directory with
  ``O_CREAT|O_EXCL|O_NOFOLLOW`` under an unpredictable name (0600 when it holds personal data),
  fsynced, then renamed into place; a failure leaves no temporary file behind. Without ``force``
  the final step is a hard link, which fails rather than replace a file that appeared meanwhile.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from confida.errors import BadInput

PRIVATE_MODE = 0o600  # anything that holds personal data
PUBLIC_MODE = 0o666  # narrowed by the umask, like any file the user creates
_TRIES = 16


def _temp_name(name: str) -> str:
    """An unpredictable name beside the target (a separate function so tests can force one)."""
    return f".{name}.{secrets.token_hex(8)}.tmp"


def _exists_message(path: Path, what: str = "overwrite it") -> str:
    return f"{path} exists; pass --force to {what}"


def check_target(path: str | os.PathLike[str], *, force: bool = False,
                 directory: bool = False) -> Path:
    """Refuse an output path that cannot or may not be written; return it as a Path.

    Called by commands before any work is done, and again at write time.
    """
    p = Path(path)
    if not p.name or p.name in (".", ".."):
        raise BadInput(f"{p} is not a usable output path")
    parent = p.parent
    if not parent.is_dir():
        raise BadInput(f"cannot write {p}: directory {parent} does not exist")
    if not os.path.lexists(p):
        return p
    if directory:
        if p.is_symlink() or not p.is_dir():
            raise BadInput(f"{p} exists and is not a directory")
        if any(p.iterdir()) and not force:
            raise BadInput(_exists_message(p, "replace it") + " (it is not empty)")
    elif p.is_dir() and not p.is_symlink():
        raise BadInput(f"{p} is a directory; give a file name")
    elif not force:
        raise BadInput(_exists_message(p))
    return p


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in ``directory`` durable.

    The errors that some file systems give for fsync on a directory (EINVAL, EBADF) are not
    worth failing a write for; any other error is raised: a durability promise that was not
    kept must not pass silently.
    """
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _create_temp(target: Path, mode: int) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_TRIES):
        tmp = target.with_name(_temp_name(target.name))
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue  # someone else's file or link: never opened, try another name
        except OSError as exc:
            raise BadInput(f"cannot write {target}: {exc.strerror}") from None
    raise BadInput(f"cannot write {target}: no free temporary name in {target.parent}")


def _publish(tmp: Path, target: Path, force: bool) -> None:
    if force:
        os.replace(tmp, target)
    else:
        try:
            os.link(tmp, target, follow_symlinks=False)
        except FileExistsError:
            raise BadInput(_exists_message(target)) from None
        except OSError:  # a file system without hard links: check, then rename
            if os.path.lexists(target):
                raise BadInput(_exists_message(target)) from None
            os.replace(tmp, target)
        else:
            os.unlink(tmp)
    fsync_dir(target.parent)


@contextlib.contextmanager
def open_output(
    path: str | os.PathLike[str], *, force: bool = False, private: bool = True,
    text: bool = False, **text_options: Any,
) -> Iterator[IO[Any]]:
    """A file object to write ``path`` through; it appears whole when the block ends, or not
    at all when the block raises."""
    target = check_target(path, force=force)
    fd, tmp = _create_temp(target, PRIVATE_MODE if private else PUBLIC_MODE)
    try:
        if text:
            text_options.setdefault("encoding", "utf-8")
        f = os.fdopen(fd, "w" if text else "wb", **(text_options if text else {}))
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        _publish(tmp, target, force)
    except OSError as exc:
        raise BadInput(f"cannot write {target}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike[str], data: bytes, *, force: bool = False,
                private: bool = True) -> None:
    with open_output(path, force=force, private=private) as f:
        f.write(data)


def write_text(path: str | os.PathLike[str], text: str, *, force: bool = False,
               private: bool = True) -> None:
    with open_output(path, force=force, private=private, text=True, newline="") as f:
        f.write(text)


def _never_replaced(target: Path) -> None:
    """``--force`` replaces an output directory, never one the user lives in."""
    resolved = target.resolve()
    for keep in (Path("/"), Path.home(), Path.cwd()):
        with contextlib.suppress(OSError):
            if resolved == keep.resolve() or resolved in keep.resolve().parents:
                raise BadInput(f"refusing to replace {target}: it is or contains {keep}")


def _partial_dir_name(name: str) -> str:
    """Named after the writing process, so that a later writer can tell a killed one's leftovers
    from a live one's work in progress."""
    return f".{name}.partial-{os.getpid()}-{secrets.token_hex(8)}"


def _clear_stale_dirs(target: Path) -> None:
    """Remove what a killed writer of the same directory left behind.

    A partial directory whose process is gone will never be published, and it must not linger
    (anonymised or not, it is data meant to leave only complete). A live writer's is left alone.
    """
    for p in target.parent.glob(f".{glob.escape(target.name)}.partial-*"):
        pid = p.name.rsplit(".partial-", 1)[1].split("-", 1)[0]
        if not pid.isdigit() or _process_alive(int(pid)) or p.is_symlink():
            continue
        shutil.rmtree(p, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutputDir:
    """A directory written under a temporary name beside the target, then renamed into place.

    ``path`` is where to write meanwhile; call :meth:`publish` when complete and
    :meth:`discard` on failure (or use it as a context manager).
    """

    def __init__(self, target: str | os.PathLike[str], *, force: bool = False) -> None:
        self.target = check_target(target, force=force, directory=True)
        self.force = force
        if force and os.path.lexists(self.target):
            _never_replaced(self.target)
        _clear_stale_dirs(self.target)
        for _ in range(_TRIES):
            tmp = self.target.with_name(_partial_dir_name(self.target.name))
            try:
                tmp.mkdir(mode=0o700)  # mkdir never follows a planted link: it fails
            except FileExistsError:
                continue
            except OSError as exc:
                raise BadInput(f"cannot write {self.target}: {exc.strerror}") from None
            self.path = tmp
            break
        else:
            raise BadInput(f"cannot write {self.target}: no free temporary name")
        self.published = False

    def publish(self) -> None:
        target = check_target(self.target, force=self.force, directory=True)
        old: Path | None = None
        if os.path.lexists(target):
            if any(target.iterdir()):
                _never_replaced(target)
                old = target.with_name(_temp_name(target.name + ".old"))
                os.rename(target, old)
            else:
                target.rmdir()
        os.rename(self.path, target)
        self.published = True
        fsync_dir(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        if not self.published:
            shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            if exc_type is None:
                self.publish()
        finally:
            self.discard()


__all__ = ["OutputDir", "check_target", "open_output", "write_bytes", "write_text"]
