"""Compliance check ``file-permissions``: keys and trusted directories closed to other users.

The same rules that stop every command from starting (``confida.permissions``), run against the
live installation: a key file made readable after the server started shows in the next audit.
Evidence names paths, modes and uids only.
"""

from __future__ import annotations

from pathlib import Path

from confida.compliance.result import CheckResult, Ctx, make_result
from confida.permissions import inspect
from confida.transparency.serving import last_serve_mode


def _served_key(ctx: Ctx) -> list[Path]:
    """The TLS key the server last ran with, when it was not the data dir's own."""
    mode = last_serve_mode(ctx.vault.config) or {}
    key = mode.get("key")
    return [Path(key)] if isinstance(key, str) and key else []


def check_file_permissions(ctx: Ctx) -> CheckResult:
    checks = inspect(ctx.vault.config, extra_secrets=_served_key(ctx))
    problems = [c.line() for c in checks if not c.ok]
    ok = [f"{len(checks)} path(s) checked: directories not writable by group/other, secret "
          "files 0600, all owned by the user running Confida"]
    return make_result("file-permissions", "Keys and data directory closed to other users",
                   "Art. 32(1)(b)", problems, ok,
                   {"paths": [{"path": str(c.path), "kind": c.kind, "mode": f"{c.mode:o}",
                               "uid": c.uid, "ok": c.ok} for c in checks]})
