"""``confida apikey create|revoke|list``: credentials for services and staff."""

from __future__ import annotations

from typing import Annotated

import typer

from confida import credential
from confida.cli.output import console, emit, err_console, guard, new_table, print_table, state
from confida.errors import BadInput
from confida.register.duration import Duration

app = typer.Typer(help="API keys for services and staff (shown once, stored as a hash).",
                  no_args_is_help=True)


@app.command()
def create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", "-r", help="A role declared in the register.")],
    label: Annotated[str | None, typer.Option(help="A note to recognise the key by "
                                                    "(no personal data).")] = None,
    expires_in: Annotated[str | None, typer.Option(
        "--expires-in", help="Lifetime, e.g. 90d, 12h, P1Y (default: no expiry).")] = None,
) -> None:
    """Create a key and print it once: it cannot be shown again."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        expires_at = None
        if expires_in:
            try:
                expires_at = Duration.parse(expires_in).after(v.clock())
            except ValueError as exc:
                raise BadInput(f"--expires-in: {exc}") from None
        new = credential.create(v, role, label=label, expires_at=expires_at, actor=st.actor())
    data = {"id": new.info.id, "role": new.info.role, "label": new.info.label,
            "expires_at": new.info.expires_at, "key": new.key}

    def human() -> None:
        console.print(new.key, soft_wrap=True)
        err_console.print(
            f"key {new.info.id} for role {role!r} created"
            + (f", expires {new.info.expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "")
            + ". Store it now: it is not shown again."
        )

    emit(st, data, human)


@app.command()
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (its prefix).")],
) -> None:
    """Revoke a key; it is refused from the next request on."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        info = credential.revoke(v, key_id, actor=st.actor())
    emit(st, {"id": info.id, "revoked_at": info.revoked_at},
         lambda: console.print(f"revoked {info.id}"))


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Keys with role, label, expiry and status (never the secret)."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        keys = credential.list_keys(v, actor=st.actor())
        now = v.clock()
    rows = [{"id": k.id, "role": k.role, "label": k.label, "created_at": k.created_at,
             "expires_at": k.expires_at, "revoked_at": k.revoked_at, "status": k.status(now)}
            for k in keys]

    def human() -> None:
        t = new_table("id", "role", "label", "created", "expires", "status", ids=["id"])
        for r in rows:
            t.add_row(r["id"], r["role"], r["label"] or "-", f"{r['created_at']:%Y-%m-%d}",
                      f"{r['expires_at']:%Y-%m-%d}" if r["expires_at"] else "never", r["status"])
        print_table(t)

    emit(st, rows, human)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="apikey")
