"""Warnings about a valid register: what it allows that will not work, or will not pass an audit.

A register without an ``admin`` role is valid, and then every command of the CLI (which acts as
``admin``) is refused with "role 'admin' is not declared". A special category used without an
Art. 9(2) condition is valid too, and ``confida compliance check`` then fails. ``confida
register validate`` (and ``apply``) print these as warnings, each at its path; they do not fail.
"""

from __future__ import annotations

from confida.register.models import ACTIONS, DocPath, Register, special_categories_of

#: The role the command line acts as (``confida.cli.output.State.actor``).
CLI_ROLE = "admin"
#: The action a staff member's role needs to sign in to the console (``confida.request.sign_in``).
CONSOLE_ACTION = "requests"

#: Which commands need each action, to name them in a warning.
COMMANDS: dict[str, str] = {
    "collect": "collect", "read": "records get", "list": "records list",
    "update": "records update", "consent": "consent", "rights": "rights",
    "requests": "requests", "export": "export training", "analytics": "analytics",
    "audit": "audit", "scan": "scan", "register": "register apply", "keys": "keys",
    "compliance": "compliance check", "breach": "breach", "apikey": "apikey",
    "detokenize": "detokenize", "legal_hold": "records legal-hold",
}


def register_warnings(reg: Register) -> list[tuple[DocPath, str]]:
    """(path, warning) for what a valid register lets through but will not work or pass."""
    out: list[tuple[DocPath, str]] = []
    admin = reg.roles.get(CLI_ROLE)
    if admin is None:
        out.append((("roles",), (
            f"role {CLI_ROLE!r} is not declared: the CLI acts as {CLI_ROLE!r}, so every "
            f"command that opens the vault will fail with \"role {CLI_ROLE!r} is not declared "
            "in the register\"; declare it (see the sample register)")))
    else:
        missing = [a for a in ACTIONS if not admin.may(a)]
        if missing:
            cmds = ", ".join(f"`confida {COMMANDS[a]}`" for a in missing)
            out.append((("roles", CLI_ROLE, "actions"), (
                f"role {CLI_ROLE!r} (the CLI's) may not {', '.join(missing)}: {cmds} will be "
                "refused")))
        if "*" not in admin.purposes:
            absent = [p for p in reg.purposes if p not in admin.purposes]
            if absent:
                out.append((("roles", CLI_ROLE, "purposes"), (
                    f"role {CLI_ROLE!r} (the CLI's) may not act for {', '.join(absent)}: CLI "
                    "commands for those purposes will be refused")))
    if not any(r.may(CONSOLE_ACTION) for r in reg.roles.values()):
        out.append((("roles",), (
            f"no role may {CONSOLE_ACTION!r}: nobody can sign in to the staff console "
            "(/console), which admits roles that handle requests")))
    for name, p in reg.purposes.items():
        special = special_categories_of(reg, name)
        if special and p.special_category_condition is None:
            out.append((("purposes", name, "categories"), (
                f"uses the special categor{'y' if len(special) == 1 else 'ies'} "
                f"{', '.join(special)} (Art. 9(1)) but declares no special_category_condition "
                "(Art. 9(2)(a)-(j)): `confida compliance check` fails until it does")))
        elif not special and p.special_category_condition is not None:
            out.append((("purposes", name, "special_category_condition"), (
                "declares an Art. 9(2) condition but uses no special category; remove it or "
                "list the special category in categories")))
    return out
