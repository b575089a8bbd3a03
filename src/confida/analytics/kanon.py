"""k-anonymity and l-diversity for tabular exports, over the register's quasi-identifiers.

A table is k-anonymous when every combination of quasi-identifier values (an equivalence class)
is shared by at least k *people* -- counted as distinct subjects, not rows, since one person's
many rows would otherwise make a class look crowded. It is l-diverse when each class also holds
at least l distinct values of the sensitive field, so membership alone does not reveal it.

To reach the requested k (and l), values are generalised one level at a time, always on the
quasi-identifier with the most distinct values (the Datafly heuristic), until the rows still in
too-small classes are few enough to suppress (``max_suppression``); those are then suppressed.
Hierarchies are chosen from the values: dates -> month -> year -> *, numbers -> ranges of
10, 100, 1000 -> *, text -> leading part (``de-DE`` -> ``de``) -> *.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from confida import safe_files
from confida.authz import Resource, authorise
from confida.errors import BadInput, PurposeNotAllowed
from confida.export.training import _eligible_subjects
from confida.operation import Actor, Operation
from confida.record import decrypt_row, origins_for, purpose_view
from confida.store.schema import record as record_t
from confida.vault import Vault

STAR = "*"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
SUBJECT = "_subject"


def generalise(value: Any, level: int) -> Any:
    """``value`` at generalisation ``level`` (0 = as it is; the last level is ``*``)."""
    if level <= 0 or value is None:
        return value
    if isinstance(value, bool):
        return STAR
    if isinstance(value, int | float):
        if level > 3:
            return STAR
        width = 10 ** level
        lo = int(value // width * width)
        return f"{lo}-{lo + width - 1}"
    s = str(value)
    if _DATE.match(s):
        return (s[:7], s[:4], STAR)[min(level, 3) - 1]
    if level == 1:
        head = re.split(r"[-_\s/.,]", s, maxsplit=1)[0]
        return head if head and head != s else s[:2] if len(s) > 2 else STAR
    return STAR


def max_level(values: Sequence[Any]) -> int:
    """How many levels the hierarchy of these values has before everything is ``*``."""
    sample = [v for v in values if v is not None]
    if sample and all(isinstance(v, int | float) and not isinstance(v, bool) for v in sample):
        return 4
    if sample and all(isinstance(v, str) and _DATE.match(v) for v in sample):
        return 3
    return 2


@dataclass(frozen=True)
class ClassStats:
    classes: int
    smallest: int  # fewest distinct subjects in a class
    least_diverse: int | None  # fewest distinct sensitive values in a class


@dataclass(frozen=True)
class Report:
    k: int
    l: int | None  # noqa: E741 -- the l of l-diversity
    quasi_identifiers: list[str]
    sensitive: str | None
    rows_in: int
    rows_out: int
    suppressed: int
    levels: dict[str, int]
    before: ClassStats
    after: ClassStats
    satisfied: bool
    notes: list[str] = field(default_factory=list)


def _subject(row: Mapping[str, Any], i: int) -> Any:
    return row.get(SUBJECT, i)


def _classes(rows: Sequence[Mapping[str, Any]], qis: Sequence[str]) -> dict[tuple, list[int]]:
    out: dict[tuple, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        out[tuple(r.get(q) for q in qis)].append(i)
    return out


def _bad_rows(rows: Sequence[Mapping[str, Any]], qis: Sequence[str], k: int, l: int | None,  # noqa: E741
              sensitive: str | None) -> tuple[list[int], ClassStats]:
    bad: list[int] = []
    smallest, least = None, None
    classes = _classes(rows, qis)
    for idx in classes.values():
        people = len({_subject(rows[i], i) for i in idx})
        div = len({rows[i].get(sensitive) for i in idx}) if sensitive else None
        smallest = people if smallest is None else min(smallest, people)
        if div is not None:
            least = div if least is None else min(least, div)
        if people < k or (l is not None and div is not None and div < l):
            bad.extend(idx)
    return bad, ClassStats(len(classes), smallest or 0, least)


def check(rows: Sequence[Mapping[str, Any]], qis: Sequence[str], k: int,
          l: int | None = None, sensitive: str | None = None) -> ClassStats:  # noqa: E741
    """Equivalence-class statistics of ``rows`` as they are."""
    return _bad_rows(rows, qis, k, l, sensitive)[1]


def anonymise_table(
    rows: Sequence[Mapping[str, Any]], qis: Sequence[str], k: int, *,
    l: int | None = None, sensitive: str | None = None,  # noqa: E741
    max_suppression: float = 0.05,
) -> tuple[list[dict[str, Any]], Report]:
    """Generalise and suppress until ``k`` (and ``l``) hold; rows keep only QIs and sensitive."""
    if k < 1:
        raise BadInput("--k must be at least 1")
    if l is not None and (l < 1 or sensitive is None):
        raise BadInput("--l needs --sensitive FIELD and must be at least 1")
    if not qis:
        raise BadInput("no quasi-identifiers: declare them for the kind in the register")
    if not 0 <= max_suppression <= 1:
        raise BadInput("--max-suppression is a fraction between 0 and 1")
    keep = [*qis, *([sensitive] if sensitive else [])]
    base = [{**{c: r.get(c) for c in keep}, SUBJECT: _subject(r, i)} for i, r in enumerate(rows)]
    levels = dict.fromkeys(qis, 0)
    tops = {q: max_level([r.get(q) for r in base]) for q in qis}
    _, before = _bad_rows(base, qis, k, l, sensitive)

    def view() -> list[dict[str, Any]]:
        return [{**r, **{q: generalise(r[q], levels[q]) for q in qis}} for r in base]

    cur = view()
    bad, stats = _bad_rows(cur, qis, k, l, sensitive)
    while len(bad) > max_suppression * len(cur):
        open_ = [q for q in qis if levels[q] < tops[q]]
        if not open_:
            break
        q = max(open_, key=lambda q: (len({r[q] for r in cur}), -qis.index(q)))
        levels[q] += 1
        cur = view()
        bad, stats = _bad_rows(cur, qis, k, l, sensitive)
    drop = set(bad)
    out = [{c: r[c] for c in keep} for i, r in enumerate(cur) if i not in drop]
    kept = [r for i, r in enumerate(cur) if i not in drop]
    _, after = _bad_rows(kept, qis, k, l, sensitive)
    notes = []
    if len(drop) > max_suppression * len(cur):
        notes.append("every quasi-identifier is fully generalised; the remaining small classes "
                     "were suppressed beyond --max-suppression")
    report = Report(k, l, list(qis), sensitive, len(rows), len(out), len(drop), levels, before,
                    after, satisfied=not out or (after.smallest >= k and (
                        l is None or (after.least_diverse or 0) >= l)), notes=notes)
    return out, report


# --- over the vault ------------------------------------------------------------------------------


def kanon_export(
    vault: Vault, kind: str, k: int, *, l: int | None = None,  # noqa: E741
    sensitive: str | None = None, purpose: str = "analytics", out: str | Path | None = None,
    max_suppression: float = 0.05, actor: Actor, force: bool = False,
) -> tuple[list[dict[str, Any]], Report]:
    """The kind's records as a k-anonymous table for ``purpose``; written to ``out`` if given
    (atomically, 0600; an existing file is replaced only with ``force``).

    Only what the purpose may use is read: active, non-objecting (or consenting) subjects,
    records within retention, fields of the purpose's categories.
    """
    with vault.operation(Operation("analytics.kanon", actor, purpose)) as (conn, op):
        authorise(actor, "analytics", Resource(purpose=purpose), register=vault.register,
                  op=op)
        spec = vault.register.kind(kind)
        p = vault.register.purpose(purpose)
        if kind not in p.kinds:
            raise PurposeNotAllowed(f"purpose {purpose!r} does not cover kind {kind!r}")
        qis = list(spec.quasi_identifiers)
        allowed = set(p.categories)
        for f in [*qis, *([sensitive] if sensitive else [])]:
            if f not in spec.fields:
                raise BadInput(f"kind {kind!r} has no field {f!r}")
            if spec.fields[f].category not in allowed:
                raise PurposeNotAllowed(f"field {f!r} is not usable for purpose {purpose!r}")
        if out is not None:
            safe_files.check_target(out, force=force)
        now = vault.clock()
        excluded: Counter[str] = Counter()
        cond = ((record_t.c.kind == kind) & (record_t.c.retain_until > now)
                & record_t.c.purpose.in_(origins_for(vault, purpose)))
        ids = sorted({r.subject_id for r in conn.execute(
            select(record_t.c.subject_id).where(cond).distinct())})
        eligible = _eligible_subjects(vault, conn, ids, purpose, excluded)
        rows: list[dict[str, Any]] = []
        sids = sorted(eligible)
        for i in range(0, len(sids), 500):
            chunk = sids[i : i + 500]
            keys = vault.keys.get_keys(set(chunk))
            for r in conn.execute(select(record_t).where(cond, record_t.c.subject_id.in_(chunk))
                                  .order_by(record_t.c.subject_id, record_t.c.created_at)):
                if r.subject_id not in keys:
                    continue
                data = decrypt_row(vault, r, keys[r.subject_id])
                view, _ = purpose_view(vault, kind, purpose, data)
                rows.append({**view, SUBJECT: r.subject_id})
        table, report = anonymise_table(rows, qis, k, l=l, sensitive=sensitive,
                                        max_suppression=max_suppression)
        if out is not None:
            _write(Path(out), table, [*qis, *([sensitive] if sensitive else [])], force)
        op.details.update({
            "kind": kind, "k": k, "l": l, "quasi_identifiers": qis, "sensitive": sensitive,
            "rows_in": report.rows_in, "rows_out": report.rows_out,
            "suppressed": report.suppressed, "levels": report.levels,
            "satisfied": report.satisfied, "excluded": dict(excluded),
        })
    return table, report


def _write(path: Path, table: list[dict[str, Any]], columns: list[str],
           force: bool = False) -> None:
    with safe_files.open_output(path, force=force, text=True, newline="") as f:
        if path.suffix == ".csv":
            w = csv.DictWriter(f, fieldnames=columns)
            w.writeheader()
            w.writerows(table)
        else:
            f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in table))
