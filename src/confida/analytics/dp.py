"""Differentially private aggregates over the vault's records, with OpenDP.

Why this shape:

- **Unit of privacy = one subject.** Each subject contributes at most ``max_rows_per_subject``
  rows (the rest are dropped before aggregation), so adding or removing a person changes the
  input by at most that many rows: that bound is the ``d_in`` the OpenDP measurement is built
  for, and its epsilon is what OpenDP says the measurement costs for it.
- **Only public things shape the output.** Group keys come from the register (kinds, purposes),
  from the asked-for date range (days), or from ``categories`` the analyst lists; values seen in
  the data never name a group, since a rare key would otherwise reveal someone. Rows outside the
  listed categories are counted in one ``__other__`` bin.
- **Same rules as any processing.** Only kinds the analytics purpose covers, only fields of its
  categories, only active subjects who have not objected (or who consent, if the purpose needs
  it), only records within retention.
- **Answers carry their accuracy.** Each value comes with the (1 - alpha) confidence interval of
  the noise added, computed from the mechanism's scale by OpenDP's accuracy functions.
- **Budget first.** The epsilon is charged (``budget.charge``) before anything is computed, in
  the transaction of the query's audit entry; a query that would overdraw is refused.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from confida.analytics import budget as budgets
from confida.authz import Resource, authorise
from confida.errors import BadInput, PurposeNotAllowed
from confida.operation import Actor, Operation
from confida.record import decrypt_row, origins_for, purpose_view
from confida.store.schema import record as record_t
from confida.vault import Vault

ANALYTICS_PURPOSE = "analytics"
AGGREGATES = ("count", "sum", "mean", "histogram")
META_DIMENSIONS = ("kind", "purpose", "day")
OTHER = "__other__"
MAX_GROUPS = 10_000
MAX_DAYS = 366


def _dp() -> Any:
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


@dataclass(frozen=True)
class Query:
    aggregate: str  # count | sum | mean | histogram
    epsilon: float
    analyst: str
    dataset: str | None = None  # budget scope; default: the kind, or "all"
    kind: str | None = None
    group_by: tuple[str, ...] = ()
    field: str | None = None  # the measure of sum and mean
    bounds: tuple[float, float] | None = None  # clamp range of the measure
    categories: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    since: datetime | None = None
    until: datetime | None = None
    max_rows_per_subject: int = 10
    alpha: float = 0.05
    purpose: str = ANALYTICS_PURPOSE

    @property
    def budget_dataset(self) -> str:
        return self.dataset or self.kind or "all"


@dataclass(frozen=True)
class Cell:
    group: dict[str, str]
    value: float
    ci: tuple[float, float]


@dataclass(frozen=True)
class Answer:
    aggregate: str
    epsilon: float
    mechanism: str
    scale: float
    accuracy: float  # half-width of the (1 - alpha) interval of one cell
    alpha: float
    max_rows_per_subject: int
    cells: list[Cell]
    budget_left: float
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def value(self) -> float | None:
        return self.cells[0].value if len(self.cells) == 1 and not self.cells[0].group else None


# --- OpenDP measurements -------------------------------------------------------------------------


@dataclass(frozen=True)
class Mechanism:
    """A calibrated OpenDP measurement and what is reported about it."""

    run: Callable[[list[Any]], Any]
    name: str
    scale: float
    epsilon: float  # what OpenDP's privacy map says it costs for d_in
    accuracy: Callable[[float], float]  # alpha -> half-width


def _calibrate(make: Callable[[float], Any], d_in: int, epsilon: float) -> tuple[Any, float]:
    """The smallest noise scale whose measurement costs at most ``epsilon`` for ``d_in``."""
    dp = _dp()
    scale = dp.binary_search_param(make, d_in=d_in, d_out=epsilon, T=float)
    return make(scale), scale


def count_mechanism(d_in: int, epsilon: float) -> Mechanism:
    dp = _dp()
    space = dp.vector_domain(dp.atom_domain(T=str)), dp.symmetric_distance()
    meas, scale = _calibrate(
        lambda s: space >> dp.t.then_count() >> dp.m.then_laplace(scale=s), d_in, epsilon)
    return Mechanism(meas, "discrete laplace", scale, meas.map(d_in),
                     lambda a: dp.discrete_laplacian_scale_to_accuracy(scale, a))


def histogram_mechanism(categories: Sequence[str], d_in: int, epsilon: float) -> Mechanism:
    dp = _dp()
    space = dp.vector_domain(dp.atom_domain(T=str)), dp.symmetric_distance()
    meas, scale = _calibrate(
        lambda s: space >> dp.t.then_count_by_categories(categories=list(categories))
        >> dp.m.then_laplace(scale=s), d_in, epsilon)
    return Mechanism(meas, "discrete laplace", scale, meas.map(d_in),
                     lambda a: dp.discrete_laplacian_scale_to_accuracy(scale, a))


def sum_mechanism(bounds: tuple[float, float], d_in: int, epsilon: float,
                  integer: bool) -> Mechanism:
    dp = _dp()
    lo, hi = bounds
    if integer:
        b: tuple[Any, Any] = (int(math.floor(lo)), int(math.ceil(hi)))
        space = dp.vector_domain(dp.atom_domain(T=int)), dp.symmetric_distance()
        to_acc = dp.discrete_laplacian_scale_to_accuracy
    else:
        b = (float(lo), float(hi))
        space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance()
        to_acc = dp.laplacian_scale_to_accuracy
    meas, scale = _calibrate(
        lambda s: space >> dp.t.then_clamp(bounds=b) >> dp.t.then_sum()
        >> dp.m.then_laplace(scale=s), d_in, epsilon)
    return Mechanism(meas, "discrete laplace" if integer else "laplace", scale, meas.map(d_in),
                     lambda a: to_acc(scale, a))


# --- the data a query may see --------------------------------------------------------------------


def _kinds(vault: Vault, q: Query) -> list[str]:
    p = vault.register.purpose(q.purpose)
    if q.kind is None:
        return list(p.kinds)
    vault.register.kind(q.kind)
    if q.kind not in p.kinds:
        raise PurposeNotAllowed(f"purpose {q.purpose!r} does not cover kind {q.kind!r}")
    return [q.kind]


def _check(vault: Vault, q: Query) -> list[str]:
    """Validate the query against the register; returns the fields that need decryption."""
    if q.aggregate not in AGGREGATES:
        raise BadInput(f"aggregate: choose from {', '.join(AGGREGATES)}")
    budgets._check_epsilon(q.epsilon)
    if not 1 <= q.max_rows_per_subject <= 10_000:
        raise BadInput("--max-rows-per-subject must be between 1 and 10000")
    if not 0 < q.alpha < 1:
        raise BadInput("--alpha must be between 0 and 1")
    if len(set(q.group_by)) != len(q.group_by):
        raise BadInput("--group-by: a dimension is named twice")
    allowed = set(vault.register.purpose(q.purpose).categories)
    fields: list[str] = []
    wanted = [*q.group_by, *([q.field] if q.field else [])]
    for name in wanted:
        if name in META_DIMENSIONS and name != q.field:
            continue
        if q.kind is None:
            raise BadInput(f"{name!r} is a field: give --kind to say whose")
        spec = vault.register.kind(q.kind).fields.get(name)
        if spec is None:
            raise BadInput(f"kind {q.kind!r} has no field {name!r}")
        if spec.category not in allowed:
            raise PurposeNotAllowed(
                f"field {name!r} ({spec.category}) is not usable for purpose {q.purpose!r}")
        if name == q.field and spec.type not in ("integer", "number"):
            raise BadInput(f"field {name!r} is not numeric; sum and mean need a number")
        if name in q.group_by and spec.type not in ("string", "boolean", "integer"):
            raise BadInput(f"field {name!r} cannot be a dimension (type {spec.type})")
        fields.append(name)
    if q.aggregate in ("sum", "mean"):
        if not q.field:
            raise BadInput(f"{q.aggregate} needs --field, a numeric field of the kind")
        if q.bounds is None or not all(math.isfinite(x) for x in q.bounds) \
                or q.bounds[0] >= q.bounds[1]:
            raise BadInput(f"{q.aggregate} needs --lower < --upper: the clamp range of "
                           f"{q.field!r}, chosen without looking at the data")
    if q.aggregate == "histogram" and not q.group_by:
        raise BadInput("histogram needs --group-by")
    return fields


def _days(q: Query) -> list[str]:
    if q.since is None or q.until is None:
        raise BadInput("grouping by day needs --since and --until (the days must be public)")
    start, end = q.since.date(), q.until.date()
    n = (end - start).days
    if n < 1 or n > MAX_DAYS:
        raise BadInput(f"--since/--until: between 1 and {MAX_DAYS} days")
    return [(start + timedelta(days=i)).isoformat() for i in range(n)]


def _categories(vault: Vault, q: Query, kinds: list[str]) -> list[list[str]]:
    """The public list of values of each group-by dimension."""
    out = []
    for dim in q.group_by:
        if dim in q.categories:
            vals = [str(v) for v in dict.fromkeys(q.categories[dim])]
        elif dim == "kind":
            vals = list(kinds)
        elif dim == "purpose":
            vals = list(vault.register.purposes)
        elif dim == "day":
            vals = _days(q)
        else:
            raise BadInput(
                f"--group-by {dim}: list its values with --categories {dim}=a,b,c; values "
                "are never taken from the data, where a rare one would reveal someone")
        if not vals:
            raise BadInput(f"--categories {dim}: give at least one value")
        out.append(vals)
    n = math.prod(len(v) for v in out) if out else 1
    if n > MAX_GROUPS:
        raise BadInput(f"{n} groups; at most {MAX_GROUPS}")
    return out


def _rows(vault: Vault, conn: Any, q: Query, kinds: list[str],
          fields: list[str]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Rows the purpose may use, at most ``max_rows_per_subject`` per subject."""
    from collections import Counter

    from confida.export.training import _eligible_subjects

    now = vault.clock()
    base = (record_t.c.kind.in_(kinds) & (record_t.c.retain_until > now)
            & record_t.c.purpose.in_(origins_for(vault, q.purpose)))
    if q.since:
        base &= record_t.c.created_at >= q.since
    if q.until:
        base &= record_t.c.created_at < q.until
    excluded: Counter[str] = Counter()
    ids = sorted({r.subject_id for r in conn.execute(
        select(record_t.c.subject_id).where(base).distinct())})
    eligible = _eligible_subjects(vault, conn, ids, q.purpose, excluded)
    cols = [record_t.c.id, record_t.c.subject_id, record_t.c.kind, record_t.c.purpose,
            record_t.c.created_at]
    if fields:  # the columns the ciphertext's associated data binds, to open it
        cols += [record_t.c.ciphertext, record_t.c.version, record_t.c.retain_until,
                 record_t.c.legal_hold]
    rows: list[dict[str, Any]] = []
    per: Counter[str] = Counter()
    truncated = 0
    sids = sorted(eligible)
    for i in range(0, len(sids), 500):
        chunk = sids[i : i + 500]
        keys = vault.keys.get_keys(set(chunk)) if fields else {}
        for r in conn.execute(select(*cols).where(base, record_t.c.subject_id.in_(chunk))
                              .order_by(record_t.c.subject_id, record_t.c.created_at,
                                        record_t.c.id)):
            if per[r.subject_id] >= q.max_rows_per_subject:
                truncated += 1
                continue
            per[r.subject_id] += 1
            row: dict[str, Any] = {"kind": r.kind, "purpose": r.purpose,
                                   "day": r.created_at.astimezone(UTC).date().isoformat()}
            if fields:
                key = keys.get(r.subject_id)
                if key is None:
                    continue
                view, _ = purpose_view(vault, r.kind, q.purpose, decrypt_row(vault, r, key))
                row.update({f: view.get(f) for f in fields})
            rows.append(row)
    stats = {"subjects": len(eligible), "rows": len(rows), "truncated_rows": truncated,
             **{f"excluded_{k}": v for k, v in excluded.items()}}
    return rows, stats


# --- the query -----------------------------------------------------------------------------------


def _key(row: dict[str, Any], dims: Sequence[str]) -> str:
    return "\x1f".join("" if row.get(d) is None else str(row.get(d)) for d in dims)


def _interval(v: float, acc: float) -> tuple[float, float]:
    return (v - acc, v + acc)


def run(vault: Vault, q: Query, *, actor: Actor) -> Answer:
    """Answer ``q`` with differential privacy, spending ``q.epsilon`` of the analyst's budget."""
    with vault.operation(Operation(f"analytics.{q.aggregate}", actor, q.purpose)) as (conn, op):
        authorise(actor, "analytics", Resource(purpose=q.purpose), register=vault.register,
                  op=op)
        fields = _check(vault, q)
        kinds = _kinds(vault, q)
        cats = _categories(vault, q, kinds)
        d_in = q.max_rows_per_subject
        op.details.update({
            "analyst": q.analyst, "dataset": q.budget_dataset, "epsilon": q.epsilon,
            "kinds": kinds, "group_by": list(q.group_by), "field": q.field,
            "max_rows_per_subject": d_in, "alpha": q.alpha,
        })
        spent = budgets.charge(vault, conn, q.analyst, q.budget_dataset, q.aggregate, q.epsilon)
        op.details.update({"budget_spent": spent.spent, "budget_limit": spent.limit})
        rows, stats = _rows(vault, conn, q, kinds, fields)
        op.details.update(stats)
        answer = _compute(q, rows, cats, d_in)
        op.details.update({"mechanism": answer.mechanism, "scale": answer.scale,
                           "epsilon_measured": answer.epsilon, "cells": len(answer.cells)})
    return Answer(**{**answer.__dict__, "budget_left": spent.left})


def _compute(q: Query, rows: list[dict[str, Any]], cats: list[list[str]], d_in: int) -> Answer:
    dims = list(q.group_by)
    combos = [list(c) for c in itertools.product(*cats)] if dims else [[]]
    keys = ["\x1f".join(c) for c in combos]
    notes: list[str] = []
    if q.aggregate in ("count", "histogram"):
        if not dims:
            m = count_mechanism(d_in, q.epsilon)
            v = float(m.run(["x"] * len(rows)))
            acc = m.accuracy(q.alpha)
            return Answer(q.aggregate, m.epsilon, m.name, m.scale, acc, q.alpha, d_in,
                          [Cell({}, v, _interval(v, acc))], 0.0, notes)
        m = histogram_mechanism(keys, d_in, q.epsilon)
        counts = m.run([_key(r, dims) for r in rows])
        acc = m.accuracy(q.alpha)
        cells = [Cell(dict(zip(dims, c, strict=True)), float(n), _interval(float(n), acc))
                 for c, n in zip(combos, counts, strict=False)]
        other = float(counts[-1])
        cells.append(Cell(dict.fromkeys(dims, OTHER), other, _interval(other, acc)))
        return Answer(q.aggregate, m.epsilon, m.name, m.scale, acc, q.alpha, d_in, cells, 0.0,
                      notes)
    # sum and mean: one measurement per group, the epsilon split evenly (sequential composition)
    assert q.field is not None and q.bounds is not None
    eps_g = q.epsilon / len(combos)
    if len(combos) > 1:
        notes.append(f"epsilon split evenly over {len(combos)} groups ({eps_g:g} each)")
    integer = all(float(b).is_integer() for b in q.bounds) and all(
        isinstance(r.get(q.field), int) or r.get(q.field) is None for r in rows)
    lo, hi = q.bounds
    cells: list[Cell] = []
    mech_name, scale, acc_out, eps_total = "", 0.0, 0.0, 0.0
    for c, k in zip(combos, keys, strict=True):
        grp = [r for r in rows if not dims or _key(r, dims) == k]
        vals = [r[q.field] for r in grp if isinstance(r.get(q.field), int | float)
                and not isinstance(r.get(q.field), bool)]
        vals = [int(v) for v in vals] if integer else [float(v) for v in vals]
        group = dict(zip(dims, c, strict=True))
        if q.aggregate == "sum":
            m = sum_mechanism((lo, hi), d_in, eps_g, integer)
            v = float(m.run(vals))
            a = m.accuracy(q.alpha)
            cells.append(Cell(group, v, _interval(v, a)))
            mech_name, scale, acc_out, eps_total = m.name, m.scale, a, eps_total + m.epsilon
        else:
            ms = sum_mechanism((lo, hi), d_in, eps_g / 2, integer)
            mc = count_mechanism(d_in, eps_g / 2)
            s, n = float(ms.run(vals)), float(mc.run(["x"] * len(vals)))
            a_s, a_c = ms.accuracy(q.alpha / 2), mc.accuracy(q.alpha / 2)
            est = min(hi, max(lo, s / max(n, 1.0)))
            if n - a_c <= 0:  # the count may be zero: the mean could be anything in bounds
                ci = (float(lo), float(hi))
            else:
                ends = [x / y for x in (s - a_s, s + a_s) for y in (n - a_c, n + a_c)]
                ci = (min(hi, max(lo, min(ends))), min(hi, max(lo, max(ends))))
            cells.append(Cell(group, est, ci))
            mech_name, scale = f"{ms.name} (sum) + {mc.name} (count)", ms.scale
            acc_out = (ci[1] - ci[0]) / 2
            eps_total += ms.epsilon + mc.epsilon
    if q.aggregate == "mean":
        notes.append("mean = noisy sum / noisy count, each with half the epsilon; the interval "
                     "combines both (union bound), clipped to the bounds")
    return Answer(q.aggregate, eps_total, mech_name, scale, acc_out, q.alpha, d_in, cells, 0.0,
                  notes)
