"""Differentially private analytics: mechanism parameters, contribution bounding, the budget
ledger and its refusals (noise values themselves are not asserted)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import opendp.prelude as dp
import pytest
from sqlalchemy import select, update

from confida import record
from confida.analytics import budget
from confida.analytics.dp import (
    OTHER,
    Query,
    count_mechanism,
    histogram_mechanism,
    run,
    sum_mechanism,
)
from confida.audit.entry import AuditEntry
from confida.errors import BadInput, PrivacyBudgetExceeded, PurposeNotAllowed
from confida.store.schema import privacy_spend
from confida.store.schema import subject as subject_t
from confida.vault import Vault
from tests.actors import ADMIN

dp.enable_features("contrib")


class ListSink:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def append(self, conn: Any, entry: Any) -> None:
        AuditEntry.model_validate(dict(entry))  # what the real log accepts
        self.entries.append(dict(entry))


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def av(config, sink):
    v = Vault.open(config, audit=sink)
    yield v
    v.close()


def _events(v: Vault) -> None:
    for i in range(6):
        for j in range(4 if i else 40):  # subject u0 contributes 40 rows, the others 4
            record.collect(v, f"u{i}", "usage_event",
                      {"event": "open", "feature": "chat", "country": "DE" if i % 2 else "FR",
                       "duration_ms": 100 * (j + 1), "ip": "10.0.0.1"}, "analytics", actor=ADMIN)


@pytest.mark.parametrize("d_in,eps", [(1, 1.0), (5, 1.0), (5, 0.5), (10, 2.0)])
def test_count_scale_follows_contribution_bound(d_in: int, eps: float) -> None:
    m = count_mechanism(d_in, eps)
    assert m.epsilon <= eps * (1 + 1e-9)
    assert m.scale == pytest.approx(d_in / eps, rel=1e-3)
    assert m.accuracy(0.05) == pytest.approx(
        dp.discrete_laplacian_scale_to_accuracy(m.scale, 0.05))
    assert m.accuracy(0.01) > m.accuracy(0.05)


def test_sum_and_histogram_scales() -> None:
    s = sum_mechanism((0, 100), 5, 1.0, integer=True)
    assert s.scale == pytest.approx(500, rel=1e-3) and s.epsilon <= 1.0 + 1e-9
    f = sum_mechanism((-2.5, 10.0), 3, 0.5, integer=False)
    assert f.epsilon <= 0.5 * (1 + 1e-9) and f.scale >= 3 * 10.0 / 0.5
    h = histogram_mechanism(["a", "b", "c"], 4, 1.0)
    assert h.scale == pytest.approx(4.0, rel=1e-3)
    assert len(h.run(["a", "b", "z"])) == 4  # three categories and the 'other' bin


def test_budget_denies_by_default_then_spends_and_refuses(av: Vault, sink: ListSink) -> None:
    _events(av)
    q = Query("count", 0.6, "ana", kind="usage_event")
    with pytest.raises(PrivacyBudgetExceeded, match="no privacy budget"):
        run(av, q, actor=ADMIN)
    budget.set_budget(av, "ana", "usage_event", 1.0, actor=ADMIN)
    a = run(av, q, actor=ADMIN)
    assert a.epsilon <= 0.6 and a.budget_left == pytest.approx(0.4)
    assert a.max_rows_per_subject == 10 and a.scale == pytest.approx(10 / 0.6, rel=1e-3)
    lo, hi = a.cells[0].ci
    assert hi - lo == pytest.approx(2 * a.accuracy)
    with pytest.raises(PrivacyBudgetExceeded, match="0.4"):
        run(av, q, actor=ADMIN)
    run(av, Query("count", 0.4, "ana", kind="usage_event"), actor=ADMIN)  # exactly the rest
    with pytest.raises(PrivacyBudgetExceeded):
        run(av, Query("count", 0.01, "ana", kind="usage_event"), actor=ADMIN)
    with pytest.raises(PrivacyBudgetExceeded):  # another analyst has nothing
        run(av, Query("count", 0.1, "bob", kind="usage_event"), actor=ADMIN)
    with av.engine.connect() as conn:
        spends = conn.execute(select(privacy_spend.c.analyst, privacy_spend.c.epsilon)).all()
    assert [tuple(s) for s in spends] == [("ana", 0.6), ("ana", 0.4)]
    outcomes = [(e["action"], e["outcome"]) for e in sink.entries
                if e["action"].startswith("analytics.")]
    assert outcomes == [("analytics.count", "denied"), ("analytics.budget.set", "allowed"),
                        ("analytics.count", "allowed"), ("analytics.count", "denied"),
                        ("analytics.count", "allowed"), ("analytics.count", "denied"),
                        ("analytics.count", "denied")]
    ok = [e for e in sink.entries if e["action"] == "analytics.count"
          and e["outcome"] == "allowed"][0]
    # u0's 40 rows are cut to 10: 10 + 5 * 4
    assert ok["details"]["rows"] == 30 and ok["details"]["truncated_rows"] == 30
    assert ok["details"]["budget_spent"] == pytest.approx(0.6)
    shown = budget.show(av, "ana", actor=ADMIN)
    assert shown[0].spent == pytest.approx(1.0) and shown[0].queries == 2


def test_histogram_sum_mean_and_rules(av: Vault, sink: ListSink) -> None:
    _events(av)
    budget.set_budget(av, "ana", "usage", 10.0, actor=ADMIN)
    with av.engine.begin() as conn:  # a restricted subject is never counted
        conn.execute(update(subject_t).where(subject_t.c.ref == av.subject_ref("u5"))
                     .values(status="restricted"))
    h = run(av, Query("histogram", 1.0, "ana", dataset="usage", kind="usage_event",
                      group_by=("country",), categories={"country": ["DE", "FR"]},
                      max_rows_per_subject=4), actor=ADMIN)
    assert [c.group for c in h.cells] == [{"country": "DE"}, {"country": "FR"},
                                          {"country": OTHER}]
    assert h.scale == pytest.approx(4.0, rel=1e-3)
    entry = sink.entries[-1]
    assert entry["details"]["excluded_subject_restricted"] == 1
    s = run(av, Query("sum", 1.0, "ana", dataset="usage", kind="usage_event",
                      field="duration_ms", bounds=(0, 1000), max_rows_per_subject=2), actor=ADMIN)
    assert s.scale == pytest.approx(2000, rel=1e-3) and s.mechanism == "discrete laplace"
    m = run(av, Query("mean", 2.0, "ana", dataset="usage", kind="usage_event",
                      field="duration_ms", bounds=(0, 1000), group_by=("country",),
                      categories={"country": ["DE", "FR"]}), actor=ADMIN)
    assert len(m.cells) == 2 and "split evenly over 2 groups" in m.notes[0]
    for c in m.cells:
        assert 0 <= c.ci[0] <= c.value <= c.ci[1] <= 1000
    assert m.epsilon <= 2.0 * (1 + 1e-9)
    assert budget.show(av, "ana", actor=ADMIN)[0].spent == pytest.approx(4.0)


def test_queries_checked_against_register(av: Vault) -> None:
    budget.set_budget(av, "ana", "usage_event", 10.0, actor=ADMIN)
    now = datetime.now(UTC)
    cases = [
        (Query("sum", 1.0, "ana", kind="usage_event", field="ip", bounds=(0, 1)),
         PurposeNotAllowed),  # device.ip_address is not an analytics category
        (Query("count", 1.0, "ana", kind="conversation_message"), PurposeNotAllowed),
        (Query("histogram", 1.0, "ana", kind="usage_event", group_by=("country",)), BadInput),
        (Query("sum", 1.0, "ana", kind="usage_event", field="duration_ms"), BadInput),
        (Query("sum", 1.0, "ana", kind="usage_event", field="feature", bounds=(0, 1)),
         BadInput),
        (Query("count", 0.0, "ana", kind="usage_event"), BadInput),
        (Query("count", float("nan"), "ana", kind="usage_event"), BadInput),
        (Query("histogram", 1.0, "ana", kind="usage_event", group_by=("day",)), BadInput),
        (Query("histogram", 1.0, "ana", kind="usage_event", group_by=("day",),
               since=now - timedelta(days=400), until=now), BadInput),
    ]
    for q, err in cases:
        with pytest.raises(err):
            run(av, q, actor=ADMIN)
    assert budget.show(av, "ana", actor=ADMIN)[0].spent == 0.0  # refusals spend nothing
    a = run(av, Query("histogram", 1.0, "ana", kind="usage_event", group_by=("day",),
                      since=now - timedelta(days=3), until=now + timedelta(days=1)), actor=ADMIN)
    assert len(a.cells) == 5


@pytest.mark.parametrize("seed", range(40))
def test_mean_interval_always_within_bounds_and_ordered(seed: int) -> None:
    """Whatever the noise draws, the mean's interval is ordered, clipped and holds the value."""
    from confida.analytics.dp import _compute

    rows = [{"x": v} for v in ([5] * (seed % 7))]
    q = Query("mean", 0.05, "ana", field="x", bounds=(0, 1000))
    a = _compute(q, rows, [], 10)
    c = a.cells[0]
    assert 0 <= c.ci[0] <= c.value <= c.ci[1] <= 1000
