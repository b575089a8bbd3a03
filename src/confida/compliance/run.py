"""Run the compliance checks and log the run (a regular audit is itself an audited act)."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from confida.audit import reads as audit_reads
from confida.authz import authorise
from confida.compliance.checks import CHECKS, FAIL, NA, CheckResult, Ctx
from confida.errors import BadInput
from confida.operation import Actor, Operation
from confida.store.engine import snapshot, sqlite_checkpoint
from confida.vault import Vault


@dataclass
class ComplianceReport:
    ran_at: datetime
    controller: str
    register_version: str
    notice_version: str
    results: list[CheckResult]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[str]:
        return [r.id for r in self.results if r.status == FAIL]

    @property
    def not_applicable(self) -> list[str]:
        return [r.id for r in self.results if r.status == NA]


def _check_known(only: Iterable[str] | None) -> None:
    wanted = set(only) if only else set()
    known = {cid for cid, _ in CHECKS}
    if wanted - known:
        raise BadInput(f"unknown check(s) {', '.join(sorted(wanted - known))}; known: "
                       f"{', '.join(sorted(known))}")


def _run_checks(
    vault: Vault, conn: Connection, now: datetime, witness: Any, only: Iterable[str] | None
) -> list[CheckResult]:
    """Run the checks (all, or those named in ``only``) on the pinned snapshot ``conn``."""
    wanted = set(only) if only else None
    ctx = Ctx(vault, conn, now, witness)
    return [fn(ctx) for cid, fn in CHECKS if wanted is None or cid in wanted]


def run_compliance(
    vault: Vault, *, now: datetime | None = None, actor: Actor,
    only: Iterable[str] | None = None,
) -> ComplianceReport:
    """Run the checks (role action ``compliance``), in two audited steps.

    The decision comes first, logged before any check runs, so a refused caller runs nothing;
    the outcome is the second entry, decided again for the same caller.

    The checks read one snapshot, read only: on SQLite a plain BEGIN, not the write lock, so
    that the API and the CLI keep writing while a long audit runs (they would time out behind
    it). The witnessed checkpoints are read first: each was committed before it was witnessed,
    so all of them are visible in the snapshot taken next (read after it, a checkpoint committed
    in between would look like a log shortened below its witness). The snapshot is pinned before
    the decision is committed, so the run's own entry (and a checkpoint it may cause to be
    signed) is not part of what the checks see.
    """
    with vault.operation(Operation("compliance.check.begin", actor)) as (_conn, op):
        authorise(actor, "compliance", register=vault.register, op=op)
        _check_known(only)
        now = now or vault.clock()
        witness = audit_reads.witnessed(vault.config)
        view = ExitStack()
        conn = view.enter_context(snapshot(vault.engine))
        audit_reads.pin(conn)
    with view:
        # Fold the WAL into the file, so the raw-page scan sees what is really stored (as far
        # as the pinned snapshot reaches: that is all the checks look at).
        sqlite_checkpoint(vault.engine)
        results = _run_checks(vault, conn, now, witness, only)
    report = ComplianceReport(
        ran_at=now,
        controller=vault.register.controller.name,
        register_version=vault.register.content_hash()[:16],
        notice_version=vault.notice_version(),
        results=results,
    )
    with vault.operation(Operation("compliance.check", actor)) as (_conn, op):
        authorise(actor, "compliance", register=vault.register, op=op)
        op.details.update({
            "checks": len(results), "failed": report.failed,
            "not_applicable": report.not_applicable,
        })
    return report


def run_checks(
    vault: Vault, now: datetime | None = None, only: Iterable[str] | None = None, *,
    actor: Actor,
) -> list[CheckResult]:
    """The results of one audited run of the checks named in ``only`` (or all)."""
    return run_compliance(vault, now=now, actor=actor, only=only).results
