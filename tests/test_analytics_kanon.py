"""k-anonymity / l-diversity: the check, generalisation and suppression, and the vault path."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confida import record
from confida.analytics.kanon import (
    STAR,
    SUBJECT,
    anonymise_table,
    check,
    generalise,
    kanon_export,
)
from confida.errors import BadInput, PurposeNotAllowed
from confida.vault import Vault
from tests.actors import ADMIN


def test_generalisation_hierarchies() -> None:
    assert [generalise("2026-11-03", i) for i in range(4)] == [
        "2026-11-03", "2026-11", "2026", STAR]
    assert [generalise(1234, i) for i in range(5)] == [1234, "1230-1239", "1200-1299",
                                                        "1000-1999", STAR]
    assert [generalise("de-DE", i) for i in range(3)] == ["de-DE", "de", STAR]


def test_counts_people_not_rows() -> None:
    rows = [{"country": "DE", SUBJECT: "s1"}] * 5 + [{"country": "FR", SUBJECT: f"p{i}"}
                                                     for i in range(3)]
    stats = check(rows, ["country"], k=2)
    assert stats.classes == 2 and stats.smallest == 1  # DE is one person with five rows


def test_generalises_then_suppresses_to_reach_k() -> None:
    rows = [{"zip": z, "age": a, "disease": d, SUBJECT: f"s{i}"} for i, (z, a, d) in enumerate([
        ("10115", 31, "flu"), ("10117", 34, "cold"), ("10119", 36, "flu"), ("10115", 38, "hiv"),
        ("20095", 52, "flu"), ("20097", 55, "cold"), ("20099", 57, "flu"), ("99999", 90, "x"),
    ])]
    table, rep = anonymise_table(rows, ["zip", "age"], 3, l=2, sensitive="disease",
                                 max_suppression=0.2)
    assert rep.before.smallest == 1 and rep.satisfied
    assert rep.after.smallest >= 3 and rep.after.least_diverse >= 2
    assert rep.suppressed == 1 and rep.rows_out == 7
    assert set(table[0]) == {"zip", "age", "disease"}  # nothing else leaves, not the subject
    assert sum(rep.levels.values()) >= 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["DE", "FR", "IT", "ES", "de-AT"]),
                          st.integers(0, 120), st.sampled_from(["a", "b", "c"])),
                min_size=0, max_size=60),
       st.integers(1, 6), st.sampled_from([None, 2]))
def test_output_always_satisfies_k(data, k, l) -> None:  # noqa: E741
    rows = [{"c": c, "age": a, "s": s, SUBJECT: i} for i, (c, a, s) in enumerate(data)]
    table, rep = anonymise_table(rows, ["c", "age"], k, l=l, sensitive="s" if l else None)
    assert rep.rows_out + rep.suppressed == len(rows) == rep.rows_in
    if table:
        stats = check(table, ["c", "age"], k, l, "s" if l else None)
        # without the subject column every row is its own person
        assert stats.smallest >= k and rep.satisfied
        if l:
            assert stats.least_diverse >= l


def test_bad_parameters() -> None:
    with pytest.raises(BadInput):
        anonymise_table([], ["a"], 0)
    with pytest.raises(BadInput):
        anonymise_table([], ["a"], 2, l=2)
    with pytest.raises(BadInput):
        anonymise_table([], [], 2)


def test_kanon_over_vault(vault: Vault, tmp_path: Path) -> None:
    for i in range(12):
        record.collect(vault, f"u{i}", "usage_event", {"event": "open", "feature": ["chat", "voice"][i % 2],
                                               "country": ["DE", "FR", "LU"][i % 3 if i else 2]},
                      "analytics", actor=ADMIN)
    table, rep = kanon_export(vault, "usage_event", 3, l=2, sensitive="feature",
                              out=tmp_path / "t.csv", actor=ADMIN)
    assert rep.quasi_identifiers == ["country"] and rep.satisfied
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == "country,feature"
    assert rep.rows_in == 12 and rep.rows_out + rep.suppressed == 12
    with pytest.raises(PurposeNotAllowed):
        kanon_export(vault, "usage_event", 3, sensitive="ip", actor=ADMIN)
    with pytest.raises(PurposeNotAllowed):
        kanon_export(vault, "conversation_message", 3, actor=ADMIN)
