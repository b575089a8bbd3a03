"""The signed restore record: a restore from a backup, said openly in the witness file.

Restoring the record store from a backup brings back an older, shorter audit log. The witnessed
checkpoints outside the database still cover the lost entries, so without more ``audit verify``
would fail forever, and rightly: a shortened log is exactly what an attacker would produce.
``confida restore`` therefore says what it did, under the audit signing key, in the witness file::

    confida.local/audit
    restore
    restored-at 2026-11-29T20:00:00Z
    witnessed-before 40 <base64 root, or ->
    restored 20 <base64 root of the restored log>
    backup sha256:<hex of the backup manifest, or ->

then appends a ``backup.restore`` audit entry and witnesses a fresh checkpoint. The verifier
accepts a witnessed checkpoint the log no longer reaches only when a valid restore record that
comes after it in the witness file covers its size (``restored < size <= witnessed-before``),
requires the log to extend the restored state, and reports the lost range. This does not make
a shortened log trustworthy: whoever holds the signing key can write such a record. It makes the
loss visible and attributable instead of silent (see docs/audit.md).

The body's second line is ``restore``, not a number, so a restore note never parses as a
checkpoint, and a checkpoint never parses as a restore record.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

from confida.audit.checkpoint import (
    AuditSigner,
    NoteError,
    VerifierKey,
    open_note,
    sign_note,
)
from confida.audit.merkle import HASH_SIZE

__all__ = ["RestoreRecord", "open_restore", "parse_restore", "sign_restore"]

KIND = "restore"


@dataclass(frozen=True)
class RestoreRecord:
    """What a restore did to the audit log (sizes are entry counts)."""

    origin: str
    restored_at: str  # ISO 8601, UTC, seconds ("...Z")
    before_size: int  # the newest witnessed checkpoint's size before the restore
    before_root: bytes | None
    restored_size: int  # the restored log's size, before the restore's own entry
    restored_root: bytes
    backup: str | None  # "sha256:<hex>" of the backup's manifest, when restored from one

    @property
    def lost(self) -> tuple[int, int] | None:
        """The witnessed entries (first index, last index) the restored log lacks, if any."""
        if self.before_size > self.restored_size:
            return self.restored_size, self.before_size - 1
        return None

    def to_text(self) -> str:
        def root(r: bytes | None) -> str:
            return "-" if r is None else base64.b64encode(r).decode()

        return (
            f"{self.origin}\n{KIND}\nrestored-at {self.restored_at}\n"
            f"witnessed-before {self.before_size} {root(self.before_root)}\n"
            f"restored {self.restored_size} {root(self.restored_root)}\n"
            f"backup {self.backup or '-'}\n"
        )

    def describe(self) -> str:
        """One line for people: when, and which witnessed entries are gone."""
        lost = self.lost
        where = "from a backup" + (f" ({self.backup[:19]}...)" if self.backup else "")
        if lost is None:
            return f"restored at {self.restored_at} {where}; no witnessed entry was lost"
        return (
            f"restored at {self.restored_at} {where}: entries {lost[0]}..{lost[1]} witnessed "
            f"before the restore are not in this log (cut from {self.before_size} to "
            f"{self.restored_size} entries)"
        )

    def to_dict(self) -> dict[str, object]:
        lost = self.lost
        return {
            "restored_at": self.restored_at, "witnessed_before": self.before_size,
            "restored_size": self.restored_size, "backup": self.backup,
            "lost_entries": None if lost is None else list(lost),
        }


def now_text(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _size(text: str) -> int:
    if not text.isascii() or not text.isdigit() or (text != "0" and text[0] == "0"):
        raise NoteError("restore record: a size must be a decimal number")
    return int(text)


def _root(text: str, optional: bool) -> bytes | None:
    if text == "-" and optional:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise NoteError("restore record: a root is not base64") from None
    if len(raw) != HASH_SIZE:
        raise NoteError("restore record: a root must be 32 bytes")
    return raw


def parse_restore(text: str) -> RestoreRecord:
    """Parse a restore record body; strict, like checkpoints."""
    lines = text[:-1].split("\n") if text.endswith("\n") else []
    if len(lines) != 6 or lines[1] != KIND or not lines[0]:
        raise NoteError("not a restore record")
    fields = {}
    for line, (name, parts) in zip(lines[2:], (("restored-at", 1), ("witnessed-before", 2),
                                               ("restored", 2), ("backup", 1)), strict=True):
        key, _, rest = line.partition(" ")
        values = rest.split(" ")
        if key != name or len(values) != parts or not all(values):
            raise NoteError(f"restore record: bad {name} line")
        fields[name] = values
    at = fields["restored-at"][0]
    try:
        datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise NoteError("restore record: bad restored-at time") from None
    backup = fields["backup"][0]
    return RestoreRecord(
        origin=lines[0], restored_at=at,
        before_size=_size(fields["witnessed-before"][0]),
        before_root=_root(fields["witnessed-before"][1], optional=True),
        restored_size=_size(fields["restored"][0]),
        restored_root=_root(fields["restored"][1], optional=False) or b"",
        backup=None if backup == "-" else backup,
    )


def sign_restore(record: RestoreRecord, signer: AuditSigner) -> str:
    return sign_note(record.to_text(), signer)


def open_restore(note: str, verifier: VerifierKey) -> RestoreRecord:
    """The record in ``note`` once its signature by ``verifier`` checks; ``NoteError`` if not."""
    text, _ = open_note(note, verifier)
    return parse_restore(text)
