"""Shared set-up for the API tests: a data dir, one API key per register role, a client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from confida import credential
from confida.config import Config
from confida.vault import Vault
from tests.actors import ADMIN
from tests.conftest import make_config


def setup(tmp: Path, url: str, **kw: Any) -> tuple[Config, dict[str, str]]:
    cfg = make_config(tmp / "data", url, **kw)
    with Vault.open(cfg) as v:
        keys = {role: credential.create(v, role, label=f"test-{role}", actor=ADMIN).key
                for role in v.register.roles}
    return cfg, keys


def auth(key: str, purpose: str | None = None) -> dict[str, str]:
    h = {"Authorization": f"Bearer {key}"}
    if purpose:
        h["Confida-Purpose"] = purpose
    return h


class RecordingSink:
    """The audit sink's interface, keeping entries in memory so tests can read decisions."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def append(self, conn: Any, entry: Any) -> None:
        self.entries.append(dict(entry))
