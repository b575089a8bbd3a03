"""Checkpoints kept outside the database: the witness file and notes fetched by outside witnesses.

Signed checkpoints stored in the record store stop an insider who lacks the signing key from
rewriting what they cover, but not from *removing* them: delete the newer checkpoints, truncate
the entries, fix the head, and what is left verifies. A copy of every checkpoint kept elsewhere
(a file, ideally on another volume, and whatever external witnesses poll from
``GET /v1/audit/checkpoints/latest``) is what the log can no longer contradict: ``audit verify``
requires the live tree to extend every one of them.

The witness file is append-only JSON lines, one record per checkpoint::

    {"note": "<the signed note>", "tree_size": 40, "witnessed_at": "2026-11-29T20:00:00Z"}

Only ``note`` is trusted (its signature is checked); the other fields are for people reading the
file. A restore from a backup (``confida restore``) appends a signed restore record instead::

    {"restore": "<the signed restore note>", "restored_at": "...", "witnessed_before": 40,
     "restored_size": 20}

It says, under the same key, that the log was put back to an older state on purpose, and which
witnessed entries that lost (``confida.audit.restore_record``); ``audit verify`` then accepts
the witnessed checkpoints *before* that record which the restored log no longer reaches, and
reports the loss.

Appends are single ``write`` calls on an ``O_APPEND`` descriptor under ``flock``, followed by
``fsync``; a crash can at worst leave the last line torn, which readers skip with a warning.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from confida.audit.checkpoint import SIG_PREFIX, NoteError, parse_checkpoint
from confida.safe_files import fsync_dir

__all__ = [
    "WitnessFile",
    "WitnessedRestore",
    "WitnessRead",
    "WitnessedNote",
    "dedupe",
    "read_note_file",
    "split_notes",
]

_TAIL_BYTES = 64 * 1024  # larger than any record (a note is at most a few hundred bytes)
MAX_WITNESS_BYTES = 1 << 30


@dataclass(frozen=True)
class WitnessedNote:
    """A signed note kept outside the database, and where it came from (for messages)."""

    note: str
    source: str
    order: tuple[str, int] | None = None  # (witness file, line): what came before a restore


@dataclass(frozen=True)
class WitnessedRestore:
    """A signed restore record from a witness file (``confida.audit.restore_record``)."""

    note: str
    source: str
    order: tuple[str, int] | None = None


@dataclass
class WitnessRead:
    """The notes found in a witness source, and what was skipped (torn or foreign lines)."""

    notes: list[WitnessedNote] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    restores: list[WitnessedRestore] = field(default_factory=list)

    def trusted(self) -> list[WitnessedNote | WitnessedRestore]:
        """Checkpoints and restore records, as ``verify_live(trusted_checkpoints=...)`` takes."""
        return [*self.notes, *self.restores]


def _note_size(note: str) -> int:
    """The tree size a note claims (unverified: for the record's readable field only)."""
    return parse_checkpoint(note[: note.rfind("\n\n") + 1]).size


class WitnessFile:
    """The append-only witness file of one installation (``Config.audit_witness_file``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def append(self, note: str, now: datetime | None = None) -> bool:
        """Append ``note`` unless it is already the last record; True when written.

        Call only once the transaction that stored the checkpoint has committed: a witnessed
        checkpoint is a promise that the log will always extend it. Raises ``OSError`` when the
        file cannot be written; the caller decides how loudly to report it.
        """
        try:
            size = _note_size(note)
        except NoteError as exc:
            raise ValueError(f"not a checkpoint note: {exc}") from None
        stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        record = json.dumps(
            {"note": note, "tree_size": size, "witnessed_at": stamp},
            ensure_ascii=False,
            sort_keys=True,
        )
        return self._append(record, skip_if_last=note)

    def append_restore(self, note: str, fields: dict[str, object]) -> None:
        """Append a signed restore record (``fields`` are readable copies, never trusted)."""
        record = json.dumps({**fields, "restore": note}, ensure_ascii=False, sort_keys=True)
        self._append(record)

    def _append(self, record: str, skip_if_last: str | None = None) -> bool:
        """Append one line under an exclusive lock (0600, no link followed); with
        ``skip_if_last``, not when the last whole line already holds that note."""
        new_dir = not self.path.parent.exists()
        if new_dir:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.path, flags | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # serialises the tail check with other processes
            if os.fstat(fd).st_mode & 0o077:  # made by hand or restored with a wider mode
                os.fchmod(fd, 0o600)
            last, torn = _tail(self.path)
            if (skip_if_last is not None and last is not None and not torn
                    and _record_note(last) == skip_if_last):
                return False
            _write_line(fd, record, torn)
        finally:
            os.close(fd)  # also releases the flock
        if new_dir:
            fsync_dir(self.path.parent)
        return True

    def read(self) -> WitnessRead:
        """Every witnessed note; a missing file reads as empty (the caller reports that)."""
        out = WitnessRead()
        try:
            with open(self.path, "rb") as fh:
                data = fh.read(MAX_WITNESS_BYTES + 1)
        except FileNotFoundError:
            return out
        if len(data) > MAX_WITNESS_BYTES:
            raise ValueError(f"witness file {self.path} is larger than {MAX_WITNESS_BYTES} bytes")
        lines = data.split(b"\n")
        torn = lines.pop()  # after the last newline: empty unless the last write was torn
        if torn:
            out.warnings.append(
                f"{self.path}: the last line is incomplete (torn write), ignored"
            )
        where = str(self.path.resolve())
        for number, line in enumerate(lines, start=1):
            note = _record_note(line)
            restore = None if note is not None else _record_note(line, "restore")
            if restore is not None:
                out.restores.append(
                    WitnessedRestore(restore, f"{self.path.name} line {number}", (where, number))
                )
                continue
            if note is None:
                if line.strip():
                    out.warnings.append(
                        f"{self.path} line {number}: not a witness record (torn write?), ignored"
                    )
                continue
            out.notes.append(
                WitnessedNote(note, f"{self.path.name} line {number}", (where, number))
            )
        return out


def _record_note(line: bytes, key: str = "note") -> str | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get(key), str):
        return None
    return str(value[key])


def _write_line(fd: int, record: str, torn: bool) -> None:
    data = ("\n" if torn else "") + record + "\n"  # end a torn line, never extend it
    view = memoryview(data.encode("utf-8"))
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


def _tail(path: Path) -> tuple[bytes | None, bool]:
    """(last complete line, whether the file ends in a torn line)."""
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        if end == 0:
            return None, False
        fh.seek(max(0, end - _TAIL_BYTES))
        chunk = fh.read()
    torn = not chunk.endswith(b"\n")
    lines = chunk.split(b"\n")
    lines.pop()  # the torn part, or the empty string after the final newline
    return (lines[-1] if lines else None), torn



def split_notes(text: str) -> tuple[list[str], bool]:
    """Split concatenated signed notes (e.g. responses appended with ``curl >>``).

    A note is its text lines, a blank line, then one or more signature lines; the next line that
    is not a signature line starts the next note. Returns the notes and whether the text ended
    inside an incomplete one (a torn last note).
    """
    notes: list[str] = []
    lines = text.split("\n")
    trailing = lines.pop()  # "" when the text ends with a newline
    i, n = 0, len(lines)
    while i < n:
        start = i
        while i < n and lines[i] != "":
            i += 1
        if i >= n:  # no blank line: the note was cut before its signatures
            return notes, True
        i += 1
        sig_start = i
        while i < n and lines[i].startswith(SIG_PREFIX):
            i += 1
        if i == sig_start:
            return notes, True
        notes.append("\n".join(lines[start:i]) + "\n")
    return notes, bool(trailing)


def read_note_file(path: str | os.PathLike[str]) -> WitnessRead:
    """Signed notes from a file: one note, several appended, or a witness file (JSON lines)."""
    p = Path(path)
    with open(p, "rb") as fh:
        data = fh.read(MAX_WITNESS_BYTES + 1)
    if len(data) > MAX_WITNESS_BYTES:
        raise ValueError(f"{p} is larger than {MAX_WITNESS_BYTES} bytes")
    if data.lstrip().startswith(b"{"):
        return WitnessFile(p).read()
    out = WitnessRead()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{p} is not UTF-8 text") from None
    notes, torn = split_notes(text)
    if torn:
        out.warnings.append(f"{p}: the last note is incomplete, ignored")
    label = p.name if len(notes) == 1 else None
    out.notes = [
        WitnessedNote(note, label or f"{p.name} note {k}") for k, note in enumerate(notes, 1)
    ]
    return out


def dedupe(
    notes: Iterable[WitnessedNote | WitnessedRestore],
) -> list[WitnessedNote | WitnessedRestore]:
    """The first occurrence of each distinct note, in order."""
    seen: set[str] = set()
    out: list[WitnessedNote | WitnessedRestore] = []
    for w in notes:
        if w.note not in seen:
            seen.add(w.note)
            out.append(w)
    return out
