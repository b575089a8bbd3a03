"""``confida audit``: verify the tamper-evident log, sign checkpoints, serve proofs, export.

Exit codes follow the project's convention: 0 success, 1 verification failed, 2 bad input.
Every command takes ``--json`` for machine-readable output.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, NoReturn

import typer

from confida.audit import admin
from confida.audit.checkpoint import KeyFileError, NoteError, VerifierKey
from confida.audit.log import LogCorrupted, verify_export
from confida.audit.verify import VerifyResult
from confida.audit.witness import WitnessedNote, WitnessedRestore, WitnessFile, read_note_file
from confida.cli import audit_support as cli_support
from confida.cli.output import State
from confida.errors import BadInput
from confida.safe_files import OutputDir

app = typer.Typer(
    help="Tamper-evident audit log: verify it, sign checkpoints, prove entries, export it.",
    no_args_is_help=True,
)

JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")
#: Who acts: the operator on the host, as every console command.
ACTOR = State().actor


@app.callback()
def _options(
    ctx: typer.Context,
    data_dir: Path = typer.Option(
        Path("confida-data"), "--data-dir", envvar="CONFIDA_DATA_DIR", help="Data directory."
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", envvar="CONFIDA_DATABASE_URL", help="SQLAlchemy URL."
    ),
    json_out: bool = JsonOpt,
) -> None:
    ctx.meta[cli_support.OPTIONS_KEY] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "json": json_out,
    }
    root = ctx.find_root().obj
    if isinstance(root, State):  # under `confida`: given here, after the root's, it wins
        source = ctx.get_parameter_source("data_dir")
        if source is not None and source.name == "COMMANDLINE":
            root.data_dir, root.data_dir_explicit = str(data_dir), True
        root.json = root.json or json_out


def _json_wanted(ctx: typer.Context, flag: bool) -> bool:
    return flag or bool(cli_support.cli_options(ctx).get("json"))


def _emit(as_json: bool, payload: dict[str, Any], human: str) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str) if as_json else human)


def _bad_input(as_json: bool, message: str) -> NoReturn:
    if as_json:
        typer.echo(json.dumps({"ok": False, "error": message}))
    else:
        typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _load_vkey(path: Path, as_json: bool) -> VerifierKey:
    try:
        return VerifierKey.from_vkey(path.read_text(encoding="utf-8"))
    except OSError as exc:
        _bad_input(as_json, f"cannot read public key {path}: {exc.strerror}")
    except NoteError as exc:
        _bad_input(as_json, f"{path} is not a verifier key ({exc})")


def _report(result: VerifyResult, as_json: bool, notes: list[str]) -> None:
    payload = {**result.to_dict(), "notes": notes}
    if result.ok:
        human = (
            f"OK: {result.size} entries, {result.checkpoints} checkpoints verified, "
            f"signed up to entry {result.verified_size - 1}"
            if result.verified_size
            else f"OK: {result.size} entries"
        )
        if result.witnessed:
            human += (
                f"; the log extends {result.witnessed} witnessed checkpoints, the newest at "
                f"size {result.witnessed_size}"
            )
        if result.restore_message:
            human += f"\n  {result.restore_message}"
    else:
        where = (
            "unknown"
            if result.first_bad_index is None
            else f"{result.first_bad_index}" + ("" if result.exact else " (or a later one)")
        )
        human = f"FAILED: first bad entry: {where}"
    lines = [human, *(f"  error: {e}" for e in result.errors)]
    lines += [f"  note: {n}" for n in notes + result.warnings]
    _emit(as_json, payload, "\n".join(lines))
    raise typer.Exit(0 if result.ok else 1)


def _witnessed(
    files: list[Path], as_json: bool, notes: list[str], default: Path | None = None
) -> list[WitnessedNote | WitnessedRestore]:
    """Notes (and restore records) from the installation's witness file (``default``) and the
    files given."""
    found: list[WitnessedNote | WitnessedRestore] = []
    if default is not None:
        if default.exists():
            try:
                read = WitnessFile(default).read()
            except (OSError, ValueError) as exc:
                _bad_input(as_json, f"cannot read witness file {default}: {exc}")
            found += read.trusted()
            notes += read.warnings
            if not read.notes:
                notes.append(f"the witness file {default} holds no checkpoint yet")
        else:
            notes.append(
                f"no witness file at {default}: nothing outside the database vouches for the "
                "log's length (pass --witness or --checkpoint with notes kept elsewhere)"
            )
    for path in files:
        try:
            read = read_note_file(path)
        except OSError as exc:
            _bad_input(as_json, f"cannot read {path}: {exc.strerror}")
        except ValueError as exc:
            _bad_input(as_json, str(exc))
        if not read.notes:
            _bad_input(as_json, f"{path} holds no signed checkpoint")
        found += read.trusted()
        notes += read.warnings
    return found


@app.command()
def verify(
    ctx: typer.Context,
    from_export: Path | None = typer.Option(
        None, "--from-export", help="Verify an export directory instead of the live database."
    ),
    public_key: Path | None = typer.Option(
        None, "--public-key", help="Verifier key file (<name>+<hash>+<key>)."
    ),
    witness: list[Path] = typer.Option(
        [],
        "--witness",
        help="A witness file (JSON lines, as Confida writes it) kept elsewhere; repeatable. "
        "The installation's own witness file is always read.",
    ),
    checkpoint_file: list[Path] = typer.Option(
        [],
        "--checkpoint",
        help="Signed checkpoints kept by an external witness (one note, or several appended); "
        "repeatable.",
    ),
    json_out: bool = JsonOpt,
) -> None:
    """Recompute the whole tree, check every signed checkpoint, and prove that the log extends
    every witnessed checkpoint (a shorter, forked or wiped log fails)."""
    as_json = _json_wanted(ctx, json_out)
    notes: list[str] = []
    extra = [*witness, *checkpoint_file]
    if from_export is not None:
        if not (from_export / "entries.jsonl").is_file():
            _bad_input(as_json, f"{from_export} is not an audit export (no entries.jsonl)")
        if public_key is None:
            public_key = from_export / "audit.vkey"
            notes.append(
                "the public key was taken from the export itself; pass --public-key with a key "
                "obtained independently to rule out a replaced export"
            )
        key = _load_vkey(public_key, as_json)
        trusted = _witnessed(extra, as_json, notes)
        try:
            result = verify_export(from_export, key, trusted_checkpoints=trusted)
        except (OSError, ValueError) as exc:
            _bad_input(as_json, f"unreadable export: {exc}")
        _report(result, as_json, notes)
    vault = cli_support.open_vault(ctx)
    try:
        key = _load_vkey(public_key, as_json) if public_key else None
        # the witness is read before the log (the core reads it in a snapshot)
        trusted = _witnessed(extra, as_json, notes, vault.config.audit_witness_file)
        try:
            result = admin.verify_log(vault, actor=ACTOR(), key=key, trusted=trusted)
        except (KeyFileError, OSError, NoteError) as exc:
            _bad_input(as_json, str(exc))
    finally:
        vault.close()
    _report(result, as_json, notes)


@app.command()
def checkpoint(ctx: typer.Context, json_out: bool = JsonOpt) -> None:
    """Sign a checkpoint of the log as it is now and append it to the witness file (creates the
    signing key on first use)."""
    as_json = _json_wanted(ctx, json_out)
    vault = cli_support.open_vault(ctx)
    try:
        signed = admin.sign_checkpoint(vault, actor=ACTOR())
    except (KeyFileError, OSError) as exc:
        _bad_input(as_json, str(exc))
    except LogCorrupted as exc:
        _emit(as_json, {"ok": False, "error": str(exc)}, f"REFUSED: {exc}")
        raise typer.Exit(1) from exc
    finally:
        vault.close()
    note, witness_error = signed.note, signed.witness_error
    text = note.split("\n\n", 1)[0].split("\n")
    payload: dict[str, Any] = {
        "ok": witness_error is None,
        "origin": text[0],
        "tree_size": int(text[1]),
        "root": text[2],
        "note": note,
        "witnessed": witness_error is None,
    }
    human = note.rstrip("\n")
    if witness_error is not None:
        payload["error"] = witness_error
        human += f"\nFAILED: checkpoint signed and stored, but NOT witnessed: {witness_error}"
    _emit(as_json, payload, human)
    if witness_error is not None:
        raise typer.Exit(1)


@app.command()
def proof(
    ctx: typer.Context,
    index: int = typer.Argument(..., help="Entry index."),
    size: int | None = typer.Option(
        None, "--size", help="Tree size (default: the latest checkpoint covering the entry)."
    ),
    json_out: bool = JsonOpt,
) -> None:
    """Inclusion proof of entry N, against a signed checkpoint when one covers it."""
    as_json = _json_wanted(ctx, json_out)
    vault = cli_support.open_vault(ctx)
    try:
        found = admin.prove_entry(vault, index, size, actor=ACTOR())
    except BadInput as exc:
        _bad_input(as_json, exc.message)
    finally:
        vault.close()
    size, note = found.tree_size, found.checkpoint
    payload = {
        "ok": True,
        "index": index,
        "tree_size": size,
        "entry": found.entry,
        "leaf_hash": base64.b64encode(found.leaf_hash).decode(),
        "root": base64.b64encode(found.root).decode(),
        "proof": found.proof,
        "checkpoint": note,
    }
    human = [f"entry {index} in tree of size {size}", f"leaf hash: {payload['leaf_hash']}"]
    human += [f"root: {payload['root']}", "proof:", *(f"  {p}" for p in payload["proof"])]
    human.append("signed checkpoint:\n" + note if note else "(no signed checkpoint at this size)")
    _emit(as_json, payload, "\n".join(human))


@app.command()
def export(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Directory to write the export to."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty --out directory."),
    json_out: bool = JsonOpt,
) -> None:
    """Write entries, checkpoints, public key and stored hashes for offline verification."""

    as_json = _json_wanted(ctx, json_out)
    output: OutputDir | None = None
    try:
        output = OutputDir(out, force=force)  # written beside it, renamed into place when whole
        vault = cli_support.open_vault(ctx)
        try:
            size = admin.export_log(vault, output.path, actor=ACTOR())
            output.publish()
        finally:
            vault.close()
    except BadInput as exc:
        _bad_input(as_json, exc.message)
    finally:
        if output is not None:
            output.discard()
    _emit(as_json, {"ok": True, "out": str(out), "size": size}, f"exported {size} entries to {out}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="audit")
