"""``confida backup`` and ``confida restore``: snapshots that a restore cannot turn into a
resurrection of erased people (the erasure journal is replayed before anything serves)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from confida.backup import backup as run_backup
from confida.backup import restore as run_restore
from confida.cli.output import console, emit, guard, state
from confida.errors import BadInput


def register(app: typer.Typer) -> None:
    @app.command()
    def backup(
        ctx: typer.Context,
        out: Annotated[Path, typer.Option("--out", help="New backup directory.")],
        force: Annotated[
            bool, typer.Option("--force", help="Replace a non-empty --out directory.")
        ] = False,
        no_rotate: Annotated[
            bool, typer.Option("--no-rotate", help="Do not rotate the KEK after the snapshot "
                               "(the backup then stays openable until the next rotation's "
                               "old version is retired and destroyed).")
        ] = False,
    ) -> None:
        """Online, consistent backup: record store, key store, erasure journal, audit public
        key, configuration. The KEK is not included (keep it apart). For PostgreSQL, a note
        says to use pg_dump. Then the KEK is rotated, so the backup's key store opens nothing
        once `keys retire` destroys the old version (kek_retire_after, default 30 days)."""
        st = state(ctx)
        with guard(st):
            res = run_backup(st.config(), out, force=force, rotate_kek=not no_rotate)

        def human() -> None:
            console.print(
                f"Backup written to {res['out']} (record store: {res['record_store']}, key "
                f"store: {res['key_store']}, {res['journal_entries']} journaled erasures)"
                + ("; the PostgreSQL store needs pg_dump, see the note in the backup"
                   if "postgresql" in (res["record_store"], res["key_store"]) else ""))
            if res.get("kek_rotated"):
                console.print(f"KEK rotated to {res['kek_rotated']}: this backup's key store "
                              f"opens nothing once the old version is retired "
                              f"({res['backup_key_store_opens_for']} from now)")
            elif res.get("kek_rotation_error"):
                console.print(f"[yellow]warning:[/] the backup is complete but the KEK was not "
                              f"rotated ({res['kek_rotation_error']}); run `confida keys rotate`")

        emit(st, res, human)

    @app.command()
    def restore(
        ctx: typer.Context,
        backup_dir: Annotated[
            Path | None, typer.Argument(help="Backup directory written by `confida backup`.")
        ] = None,
        force: Annotated[
            bool, typer.Option("--force", help="Replace the data dir's existing stores.")
        ] = False,
        replay_only: Annotated[
            bool,
            typer.Option("--replay-only",
                         help="Only replay the erasure journal (required after pg_restore)."),
        ] = False,
    ) -> None:
        """Restore the SQLite stores from a backup, then replay the erasure journal so that no
        erased person comes back. Stop the server first (it is refused while one runs)."""
        st = state(ctx)
        with guard(st):
            if replay_only and backup_dir is not None:
                raise BadInput("--replay-only takes no backup directory")
            res = run_restore(st.config(), backup_dir, force=force, replay_only=replay_only)

        def human() -> None:
            for what in res["restored"]:
                console.print(f"restored the {what.replace('_', ' ')}")
            for line in res["not_restored"]:
                console.print(f"[yellow]not restored:[/] {line}")
            if res.get("audit"):
                console.print(f"audit log: {res['audit']['message']}; the restore is signed in "
                              "the witness file and logged as backup.restore")
            r = res["replay"]
            console.print(
                f"erasure journal replayed. journaled erasures: {r['journaled']}; erased "
                f"again: {r['erasures_completed']}; keys destroyed: {r['keys_destroyed']}; "
                f"requests restored: {r['requests_restored']}; feed notices restored: "
                f"{r['notices_restored']}"
                + (f"; damaged journal lines skipped: {r['damaged_lines']}"
                   if r["damaged_lines"] else "")
            )

        emit(st, res, human)

    _ = backup, restore
