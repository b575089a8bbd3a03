"""The privacy-budget ledger: how much epsilon each analyst may spend on each dataset.

Differential privacy composes: every answer leaks a little, and the leaks add up. So each query
spends epsilon from a budget per analyst and dataset, in the same transaction as the query's
audit entry (the ledger is part of the audit trail), and a query that would overdraw it is
refused before any answer is computed. Without a budget set, nothing may be spent: deny by
default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select

from confida.authz import authorise
from confida.errors import BadInput, PrivacyBudgetExceeded
from confida.operation import Actor, Operation
from confida.store.conflict import insert_for
from confida.store.schema import privacy_budget, privacy_spend
from confida.vault import Vault

# Float accounting: a query may round up by this much over its nominal epsilon, not more.
TOLERANCE = 1e-9
MAX_NAME = 128


@dataclass(frozen=True)
class Budget:
    analyst: str
    dataset: str
    limit: float
    spent: float
    queries: int

    @property
    def left(self) -> float:
        return max(0.0, self.limit - self.spent)


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise BadInput(f"{what} must be a non-empty name of at most {MAX_NAME} characters")
    return value


def _check_epsilon(eps: float, what: str = "epsilon") -> float:
    if not isinstance(eps, int | float) or not math.isfinite(eps) or eps <= 0:
        raise BadInput(f"{what} must be a positive finite number")
    return float(eps)


def set_budget(
    vault: Vault, analyst: str, dataset: str, epsilon: float, *, actor: Actor,
) -> Budget:
    """Set (or change) the total epsilon ``analyst`` may spend on ``dataset``."""
    with vault.operation(Operation("analytics.budget.set", actor, "analytics")) as (conn, op):
        # budgets are governance, set by whoever oversees compliance, never by the analyst
        authorise(actor, "compliance", register=vault.register, op=op)
        _check_name(analyst, "analyst")
        _check_name(dataset, "dataset")
        _check_epsilon(epsilon, "the budget")
        now = vault.clock()
        # One statement, so two concurrent settings of the same budget never conflict: the
        # later one wins, as it would one after the other.
        stmt = insert_for(conn, privacy_budget).values(
            analyst=analyst, dataset=dataset, epsilon_limit=epsilon, updated_at=now)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=[privacy_budget.c.analyst, privacy_budget.c.dataset],
            set_={"epsilon_limit": stmt.excluded.epsilon_limit,
                  "updated_at": stmt.excluded.updated_at}))
        op.details.update({"analyst": analyst, "dataset": dataset, "epsilon_limit": epsilon})
        return _budget(conn, analyst, dataset)


def _budget(conn: Connection, analyst: str, dataset: str, *, lock: bool = False) -> Budget:
    q = select(privacy_budget.c.epsilon_limit).where(
        privacy_budget.c.analyst == analyst, privacy_budget.c.dataset == dataset)
    if lock:
        q = q.with_for_update()
    limit = conn.execute(q).scalar()
    if limit is None:
        raise PrivacyBudgetExceeded(
            f"analyst {analyst!r} has no privacy budget for dataset {dataset!r}; "
            "a DPO sets one with: confida analytics budget set"
        )
    spent, n = conn.execute(
        select(func.coalesce(func.sum(privacy_spend.c.epsilon), 0.0), func.count())
        .where(privacy_spend.c.analyst == analyst, privacy_spend.c.dataset == dataset)
    ).one()
    return Budget(analyst, dataset, float(limit), float(spent), int(n))


def charge(
    vault: Vault, conn: Connection, analyst: str, dataset: str, query: str, epsilon: float,
) -> Budget:
    """Spend ``epsilon`` inside the caller's transaction, or refuse (nothing is spent then).

    The budget row is locked (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite serialises
    writers), so two concurrent queries cannot both spend the last of a budget.
    """
    _check_name(analyst, "analyst")
    _check_name(dataset, "dataset")
    _check_epsilon(epsilon)
    b = _budget(conn, analyst, dataset, lock=True)
    if b.spent + epsilon > b.limit * (1 + TOLERANCE) + TOLERANCE:
        raise PrivacyBudgetExceeded(
            f"this query needs epsilon {epsilon:g} but analyst {analyst!r} has "
            f"{b.left:g} of {b.limit:g} left on dataset {dataset!r}"
        )
    conn.execute(insert(privacy_spend).values(
        analyst=analyst, dataset=dataset, query=query, epsilon=epsilon, at=vault.clock()))
    return Budget(analyst, dataset, b.limit, b.spent + epsilon, b.queries + 1)


def show(vault: Vault, analyst: str | None = None, *, actor: Actor) -> list[Budget]:
    """Budgets and what is left of them (audited: they say who queried what)."""
    with vault.operation(Operation("analytics.budget.show", actor, "analytics")) as (conn, op):
        authorise(actor, "compliance", register=vault.register, op=op)
        q = select(privacy_budget.c.analyst, privacy_budget.c.dataset)
        if analyst:
            q = q.where(privacy_budget.c.analyst == analyst)
        pairs = conn.execute(q.order_by(privacy_budget.c.analyst,
                                        privacy_budget.c.dataset)).all()
        op.details["count"] = len(pairs)
        return [_budget(conn, a, d) for a, d in pairs]
