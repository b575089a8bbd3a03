"""Signed checkpoints: C2SP signed-note and tlog-checkpoint text formats, with Ed25519.

A checkpoint commits to the log's root at a tree size; signing it is what turns "the database
says so" into evidence: whoever holds only the public key can later tell a genuine log from a
rewritten one, however self-consistent the rewrite.

Formats (https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint)::

    <origin>\\n
    <tree size, decimal>\\n
    <base64 root hash>\\n
    [extension lines\\n]
    \\n
    — <key name> <base64(4-byte key hash || 64-byte Ed25519 signature)>\\n

The signature covers the text up to and including its last newline, not the blank line. The key
hash is ``SHA-256(key name || 0x0A || 0x01 || public key)[:4]``; a verifier key is shared as the
text ``<name>+<key hash hex>+<base64(0x01 || public key)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from confida.audit.merkle import HASH_SIZE

__all__ = [
    "AuditSigner",
    "Checkpoint",
    "KeyFileError",
    "NoteError",
    "VerifierKey",
    "format_checkpoint",
    "key_hash",
    "open_note",
    "parse_checkpoint",
    "sign_note",
]

ED25519_TYPE = b"\x01"
SIG_PREFIX = "\u2014 "  # em dash, then one space
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 20


class NoteError(ValueError):
    """A note or checkpoint is malformed, or no trusted signature on it verifies."""


class KeyFileError(ValueError):
    """A key file is unsafe (permissions) or unreadable."""


def _check_name(name: str) -> None:
    """Key names are non-empty, with no whitespace and no '+' (the vkey separator)."""
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"invalid key name {name!r}")


def key_hash(name: str, public_key: bytes) -> bytes:
    """The 4-byte key hash that ties a signature line to (name, algorithm, key)."""
    _check_name(name)
    return hashlib.sha256(name.encode() + b"\n" + ED25519_TYPE + public_key).digest()[:4]


def _b64decode(text: str) -> bytes:
    """Strict standard base64: rejects non-alphabet characters and non-canonical padding."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("invalid base64") from exc
    if base64.b64encode(raw).decode() != text:
        raise NoteError("non-canonical base64")
    return raw


@dataclass(frozen=True)
class VerifierKey:
    """A named Ed25519 public key, as a note verifier needs it."""

    name: str
    public_key: bytes  # 32 raw bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != 32:
            raise NoteError("an Ed25519 public key is 32 bytes")

    @property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.public_key)

    def to_vkey(self) -> str:
        """``<name>+<hash hex>+<base64(0x01 || pubkey)>``."""
        enc = base64.b64encode(ED25519_TYPE + self.public_key).decode()
        return f"{self.name}+{self.key_hash.hex()}+{enc}"

    @classmethod
    def from_vkey(cls, text: str) -> VerifierKey:
        """Parse a vkey, checking the embedded hash against name and key."""
        parts = text.strip().split("+", 2)  # the base64 part may itself contain "+"
        if len(parts) != 3 or len(parts[1]) != 8:
            raise NoteError("a verifier key is <name>+<8 hex digits>+<base64 key>")
        name, hash_hex, key_b64 = parts
        raw = _b64decode(key_b64)
        if len(raw) != 33 or raw[:1] != ED25519_TYPE:
            raise NoteError("only Ed25519 verifier keys (type 0x01) are supported")
        vk = cls(name, raw[1:])
        try:
            given = bytes.fromhex(hash_hex)
        except ValueError as exc:
            raise NoteError("key hash is not hex") from exc
        if given != vk.key_hash:
            raise NoteError("verifier key hash does not match its name and key")
        return vk

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


class AuditSigner:
    """The log's Ed25519 signing key, kept in a PEM file readable by its owner only.

    A key file that others can read is a key others may have copied, and a copied key can sign a
    forged history; so loading refuses any mode wider than 0600 instead of warning.
    """

    def __init__(self, private_key: Ed25519PrivateKey, name: str) -> None:
        _check_name(name)
        self._key = private_key
        self.name = name
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.verifier = VerifierKey(name, raw)

    @classmethod
    def generate(cls, path: str | os.PathLike[str], name: str) -> AuditSigner:
        """Create a new key at ``path`` (mode 0600, never overwriting an existing file)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        return cls(key, name)

    @classmethod
    def load(cls, path: str | os.PathLike[str], name: str) -> AuditSigner:
        """Load the key at ``path``; refuse a file whose mode grants group or other access."""
        p = Path(path)
        try:
            st = p.stat()
        except OSError as exc:
            raise KeyFileError(f"cannot read signing key {p}: {exc.strerror}") from exc
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise KeyFileError(
                f"signing key {p} has mode {mode:04o}; it must be 0600 or stricter "
                f"(run: chmod 600 {p})"
            )
        key = serialization.load_pem_private_key(p.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"{p} does not hold an Ed25519 private key")
        return cls(key, name)

    @classmethod
    def load_or_generate(cls, path: str | os.PathLike[str], name: str) -> AuditSigner:
        if Path(path).exists():
            return cls.load(path, name)
        return cls.generate(path, name)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if "\n\n" in text:
        raise NoteError("note text must not contain a blank line")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("note text must not contain control characters")


def sign_note(text: str, signer: AuditSigner) -> str:
    """Sign ``text`` and return the complete note."""
    _check_text(text)
    sig = signer.sign(text.encode())
    blob = base64.b64encode(signer.verifier.key_hash + sig).decode()
    return f"{text}\n{SIG_PREFIX}{signer.name} {blob}\n"


@dataclass(frozen=True)
class Signature:
    name: str
    key_hash: bytes
    signature: bytes


def open_note(note: str | bytes, verifier: VerifierKey) -> tuple[str, list[Signature]]:
    """Verify ``note`` against ``verifier`` and return its text and all its signature lines.

    Lines from other keys are ignored (a note may carry cosignatures), but a line that claims to
    be from ``verifier`` and does not verify rejects the whole note, as the spec requires.
    """
    if isinstance(note, str):
        note = note.encode()
    if len(note) > MAX_NOTE_BYTES:
        raise NoteError("note is too large")
    try:
        decoded = note.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteError("note is not UTF-8") from exc
    split = decoded.rfind("\n\n")
    if split < 0 or not decoded.endswith("\n"):
        raise NoteError("note has no signature block")
    text = decoded[: split + 1]
    _check_text(text)
    sig_lines = decoded[split + 2 : -1].split("\n")
    if len(sig_lines) > MAX_SIGNATURES:
        raise NoteError("too many signatures")
    sigs: list[Signature] = []
    verified = False
    for line in sig_lines:
        if not line.startswith(SIG_PREFIX):
            raise NoteError("malformed signature line")
        name, sep, blob = line[len(SIG_PREFIX) :].partition(" ")
        if not sep or " " in blob:
            raise NoteError("malformed signature line")
        _check_name(name)
        raw = _b64decode(blob)
        if len(raw) < 5:
            raise NoteError("signature too short")
        sig = Signature(name, raw[:4], raw[4:])
        sigs.append(sig)
        if name == verifier.name and sig.key_hash == verifier.key_hash:
            if not verifier.verify(text.encode(), sig.signature):
                raise NoteError(f"invalid signature by {name}")
            verified = True
    if not verified:
        raise NoteError(f"note is not signed by the trusted key {verifier.name}")
    return text, sigs


@dataclass(frozen=True)
class Checkpoint:
    """The body of a tlog checkpoint: a commitment to ``root`` at ``size`` for ``origin``."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = field(default=())

    def to_text(self) -> str:
        return format_checkpoint(self.origin, self.size, self.root, self.extensions)


def format_checkpoint(
    origin: str, size: int, root: bytes, extensions: tuple[str, ...] = ()
) -> str:
    """The checkpoint body text (what gets signed)."""
    if not origin or "\n" in origin:
        raise NoteError("origin must be one non-empty line")
    if size < 0 or size >= 1 << 64:
        raise NoteError("tree size out of range")
    if len(root) != HASH_SIZE:
        raise NoteError("root hash must be 32 bytes")
    lines = [origin, str(size), base64.b64encode(root).decode(), *extensions]
    if any(not line or "\n" in line for line in lines[3:]):
        raise NoteError("extension lines must be non-empty single lines")
    text = "\n".join(lines) + "\n"
    _check_text(text)
    return text


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint body; strict, so two different texts never mean the same checkpoint."""
    _check_text(text)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("a checkpoint has at least origin, size and root lines")
    origin, size_s, root_s, *ext = lines
    if not origin:
        raise NoteError("empty origin")
    if not size_s.isdigit() or not size_s.isascii() or (size_s != "0" and size_s[0] == "0"):
        raise NoteError("tree size must be a decimal number without leading zeros")
    size = int(size_s)
    if size >= 1 << 64:
        raise NoteError("tree size out of range")
    root = _b64decode(root_s)
    if len(root) != HASH_SIZE:
        raise NoteError("root hash must be 32 bytes")
    return Checkpoint(origin, size, root, tuple(ext))
