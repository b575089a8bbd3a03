"""Signed notes and checkpoints: interoperability known answers, strict parsing, key files."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from confida.audit.checkpoint import (
    AuditSigner,
    Checkpoint,
    KeyFileError,
    NoteError,
    VerifierKey,
    format_checkpoint,
    key_hash,
    open_note,
    parse_checkpoint,
    sign_note,
)

# Known-answer test from the Go reference implementation's documentation
# (golang.org/x/mod/sumdb/note): key, text and the resulting signed note.
GO_SKEY_B64 = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

pytest_plugins = ["tests.audit_fixtures"]


def go_signer() -> AuditSigner:
    seed = base64.b64decode(GO_SKEY_B64)[1:]
    return AuditSigner(Ed25519PrivateKey.from_private_bytes(seed), "PeterNeumann")


def test_go_known_answer_sign_and_vkey() -> None:
    signer = go_signer()
    assert signer.verifier.to_vkey() == GO_VKEY
    assert sign_note(GO_TEXT, signer) == GO_NOTE


def test_go_known_answer_open() -> None:
    vk = VerifierKey.from_vkey(GO_VKEY)
    text, sigs = open_note(GO_NOTE, vk)
    assert text == GO_TEXT and sigs[0].name == "PeterNeumann"
    with pytest.raises(NoteError):
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), vk)


def test_key_hash_definition() -> None:
    vk = VerifierKey.from_vkey(GO_VKEY)
    assert key_hash("PeterNeumann", vk.public_key) == bytes.fromhex("c74f20a3")


@pytest.mark.parametrize(
    "bad",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong hash
        "PeterNeumanN+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong name
        "PeterNeumann+c74f20a3+AhpC2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong type
        "PeterNeumann+c74f20a3",
        "",
    ],
)
def test_bad_vkeys_rejected(bad: str) -> None:
    with pytest.raises(NoteError):
        VerifierKey.from_vkey(bad)


def test_checkpoint_round_trip(signer: AuditSigner) -> None:
    root = bytes(range(32))
    text = format_checkpoint("example.com/log", 42, root, ("ext line",))
    assert text == f"example.com/log\n42\n{base64.b64encode(root).decode()}\next line\n"
    assert parse_checkpoint(text) == Checkpoint("example.com/log", 42, root, ("ext line",))
    note = sign_note(text, signer)
    assert note.startswith(text + "\n\u2014 " + signer.name + " ")
    assert open_note(note, signer.verifier)[0] == text


@pytest.mark.parametrize(
    "text",
    [
        "o\n042\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # leading zero
        "o\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n1\nAAAA\n",  # short root
        "o\n1\n",  # no root
        "\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # empty origin
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  # no final newline
        "o\n18446744073709551616\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    ],
)
def test_bad_checkpoints_rejected(text: str) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint(text)


def test_note_signed_with_another_key_is_rejected(signer: AuditSigner, tmp_path: Path) -> None:
    other = AuditSigner.generate(tmp_path / "other.pem", signer.name)  # same name, other key
    note = sign_note(format_checkpoint("o", 1, bytes(32)), other)
    with pytest.raises(NoteError, match="not signed by the trusted key"):
        open_note(note, signer.verifier)


def test_cosignature_from_unknown_key_is_ignored(signer: AuditSigner, tmp_path: Path) -> None:
    text = format_checkpoint("o", 1, bytes(32))
    witness = AuditSigner.generate(tmp_path / "w.pem", "witness.example")
    extra = sign_note(text, witness).split("\n\n", 1)[1]
    note = sign_note(text, signer) + extra
    assert open_note(note, signer.verifier)[0] == text


def test_tampered_signature_rejects_whole_note(signer: AuditSigner) -> None:
    note = sign_note(format_checkpoint("o", 1, bytes(32)), signer)
    head, sig = note.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[10] ^= 1
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(head + " " + base64.b64encode(bytes(raw)).decode() + "\n", signer.verifier)


@pytest.mark.parametrize(
    "note",
    ["o\n1\n", "o\n1\n\n- name AAAA\n", "o\n1\n\n\u2014 name\n", "o\n1\n\n\u2014 name !!!!\n"],
)
def test_malformed_notes(note: str, signer: AuditSigner) -> None:
    with pytest.raises(NoteError):
        open_note(note, signer.verifier)


def test_key_file_is_0600_and_reloads(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit.pem"
    s1 = AuditSigner.generate(path, "n")
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert AuditSigner.load(path, "n").verifier == s1.verifier
    with pytest.raises(FileExistsError):
        AuditSigner.generate(path, "n")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o666])
def test_key_file_with_wider_mode_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "audit.pem"
    AuditSigner.generate(path, "n")
    os.chmod(path, mode)
    with pytest.raises(KeyFileError, match="0600"):
        AuditSigner.load(path, "n")


def test_vkey_whose_base64_contains_plus() -> None:
    # Verifier key from transparency-dev/formats tests; its base64 part contains '+'.
    vkey = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
    vk = VerifierKey.from_vkey(vkey)
    assert vk.name == "TEST" and vk.to_vkey() == vkey
