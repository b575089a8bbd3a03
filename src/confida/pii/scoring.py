"""Span scoring shared by the benchmark, the model's recorded scores and `confida pii train`.

One convention everywhere (shared/data/README.md): a prediction matches a gold span when the
labels agree and the overlap is at least half of the longer of the two, one-to-one; redaction
recall is the share of gold characters covered by any prediction, whatever its label.  Keeping
it in one place means the figures in the model card, the test and the bench cannot drift apart.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Span = tuple[int, int, str]


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1 of one label (or micro over all), with the gold count."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Scores:
    """Per-label and micro figures, plus redaction recall."""

    per_label: dict[str, PRF]
    micro: PRF
    redaction_recall: float


def _prf(tp: int, fp: int, fn: int) -> PRF:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return PRF(p, r, 2 * p * r / (p + r) if p + r else 0.0, tp + fn)


def matches(gold: Span, pred: Span) -> bool:
    """Same label and an overlap of at least half the longer span."""
    if gold[2] != pred[2]:
        return False
    overlap = min(gold[1], pred[1]) - max(gold[0], pred[0])
    return overlap > 0 and overlap * 2 >= max(gold[1] - gold[0], pred[1] - pred[0])


def score(
    gold: Iterable[Sequence[Span]],
    pred: Iterable[Sequence[Span]],
    *,
    labels: Iterable[str] | None = None,
) -> Scores:
    """Score predicted spans against gold spans, text by text.

    ``labels`` restricts both sides to those labels (e.g. PERSON and LOCATION on a corpus that
    also marks organisations); ``None`` keeps every label.
    """
    keep = frozenset(labels) if labels is not None else None
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, int] = defaultdict(int)
    fn: dict[str, int] = defaultdict(int)
    covered = total = 0
    for g_spans, p_spans in zip(gold, pred, strict=True):
        if keep is not None:
            g_spans = [g for g in g_spans if g[2] in keep]
            p_spans = [p for p in p_spans if p[2] in keep]
        used: set[int] = set()
        for g in g_spans:
            hit = next(
                (i for i, p in enumerate(p_spans) if i not in used and matches(g, p)), -1
            )
            if hit >= 0:
                used.add(hit)
                tp[g[2]] += 1
            else:
                fn[g[2]] += 1
            total += g[1] - g[0]
            mask = bytearray(g[1] - g[0])
            for p in p_spans:
                for k in range(max(g[0], p[0]), min(g[1], p[1])):
                    mask[k - g[0]] = 1
            covered += sum(mask)
        for i, p in enumerate(p_spans):
            if i not in used:
                fp[p[2]] += 1
    names = sorted(set(tp) | set(fp) | set(fn) | (keep or set()))
    per = {lab: _prf(tp[lab], fp[lab], fn[lab]) for lab in names}
    micro = _prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    return Scores(per, micro, covered / total if total else 1.0)
