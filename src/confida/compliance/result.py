"""What a compliance check returns, and the context every check reads from.

Kept apart from the checks themselves so that checks in other modules (``files``) and the
list of checks (``checks``) can both use them without importing each other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from confida.register.models import Register
from confida.vault import Vault

PASS, FAIL, NA = "pass", "fail", "not-applicable"
MAX_IDS = 5  # example record ids per finding; enough to investigate, short enough to read


@dataclass
class CheckResult:
    id: str
    title: str
    article: str
    status: str
    evidence: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True unless the check failed (not-applicable is not a failure, but is reported)."""
        return self.status != FAIL


@dataclass
class Ctx:
    vault: Vault
    conn: Connection
    now: datetime
    # the witnessed checkpoints, read before the snapshot ``conn``; an
    # exception instead when the witness file could not be read
    witness: list[Any] | Exception | None = None

    @property
    def register(self) -> Register:
        return self.vault.register


_SAFE_ID = re.compile(
    r"^(?:[a-z][a-z0-9_]{0,31}:)?(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|[0-9]{1,12})$"
)


def ids_of(ids: Iterable[str]) -> str:
    """Example ids for the evidence; anything that is not id-shaped (a UUID or a number, as
    Confida writes them) is withheld, since a value planted in an id column could be personal."""
    lst = sorted(i if _SAFE_ID.match(str(i)) else "(id withheld)" for i in ids)
    more = f" (+{len(lst) - MAX_IDS} more)" if len(lst) > MAX_IDS else ""
    return ", ".join(lst[:MAX_IDS]) + more


def make_result(id: str, title: str, article: str, problems: list[str], ok: list[str],
            details: dict[str, Any] | None = None) -> CheckResult:
    return CheckResult(id, title, article, FAIL if problems else PASS, problems or ok,
                       details or {})
