"""One detector: the tagger's PERSON/LOCATION spans merged with the rule findings.

The rules are precise where they fire (titles, cue words, lexicons, street addresses with a
postcode) and the tagger finds the names no lexicon knows.  Merging them:

- a checksummed or shape-validated identifier (e-mail, IBAN, card, phone, ID, URL, date,
  secret) always wins: a tagger span that touches one is dropped;
- a tagger span and a weak rule span of the same label that overlap become one span covering
  both; a strong rule (below) keeps its own extent, which is exact: a title such as "Frau"
  that the corpora leave out of the name, a street address with its postcode, "call Kevin"
  without the "later" a tagger may add;
- when they disagree on the label, a strong rule (a title, a cue word such as "my name is" or
  "call", a full address, a known given name with a known surname) wins, otherwise the
  tagger's reading of the context does -- also when the tagger reads an organisation or a
  title of a work ("Kent" the cricket team, "Real Madrid"): a weak rule span there is dropped;
- a weak rule span that covers two tagger spans ("Hungary, Poland") gives way to them, and one
  that rests on capitalisation alone counts only where the tagger sees a name or place too;
- a tagger span alone is reported with a score of 0.7, a rule span alone as the rule scored it;
- a tagger span that is mostly digits ("IBAN DE89 3704 ...", an invalid number the rules
  rejected), a lone acronym ("DOB", "NHS", in a text not written in capitals) or initials glued
  to a word ("IPython") is not a name or place of a person: dropped.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

_Raw = tuple[int, int, str, float, str]

NAME_LABELS = frozenset({"PERSON", "LOCATION"})

#: The score of a name or place that only the tagger found.
TAGGER_SCORE = 0.7

_PRODUCT_CASE = re.compile(r"[A-Z]{2,}[a-z]+\Z")

#: Rule kinds that win a label disagreement with the tagger: they rest on a cue the tagger
#: may not weigh as much (a title, "my name is", a street address with a postcode).
STRONG_KINDS = frozenset({"title", "context", "address"})

#: Rule kinds that rest on capitalisation alone (a capitalised word after "in", an unknown
#: capitalised pair): with the tagger at hand they count only where it sees a name too, since
#: in German every noun is capitalised ("in Sicherheit", "von Amt zu Amt").
NEEDS_AGREEMENT = frozenset({"place", "shape"})


def _strong(rule: Sequence[object]) -> bool:
    """A rule that wins a disagreement: a strong kind, or a lexicon name with a cue word before
    it ("call Chad") or with both a known given name and a known surname (scored 0.7+)."""
    return rule[4] in STRONG_KINDS or (rule[4] == "lexicon" and rule[3] >= 0.7)  # type: ignore[operator]


def plausible(text: str, s: int, e: int) -> bool:
    """Whether a tagger span can be a name or a place at all (see the module docstring)."""
    value = text[s:e]
    digits = sum(ch.isdigit() for ch in value)
    letters = sum(ch.isalpha() for ch in value)
    if letters == 0 or digits * 5 > (digits + letters) * 2:
        return False
    if _PRODUCT_CASE.match(value):
        return False  # "IPython", "TVs": initials glued to a word are products, not people
    if not (value.isalpha() and value.isupper() and len(value) <= 4):
        return True
    # an acronym stands out only where the rest of the text is not in capitals too ("HI IM
    # ANNA"); "DOB 1957" has no other words to tell
    rest = text[:s] + text[e:]
    return not any(ch.islower() for ch in text) and sum(ch.isalpha() for ch in rest) >= 6


class _Index:
    """Spans sorted by start, for "which of them overlap [s, e)" in logarithmic time plus the
    answer: a text with thousands of findings must not cost thousands squared (the detector is
    linear in the length of its input, and the tests hold it to that)."""

    def __init__(self, spans: Sequence[Sequence[object]], slack: int = 0) -> None:
        self.spans = sorted(spans, key=lambda x: x[0])  # type: ignore[arg-type,return-value]
        self.starts = [x[0] for x in self.spans]
        longest = max((x[1] - x[0] for x in self.spans), default=0)  # type: ignore[operator]
        self.reach = longest + slack  # how far left a span that overlaps [s, e) can start

    def overlapping(self, s: int, e: int) -> list[Sequence[object]]:
        lo = bisect.bisect_left(self.starts, s - self.reach)
        hi = bisect.bisect_left(self.starts, e)
        return [x for x in self.spans[lo:hi] if x[1] > s]  # type: ignore[operator]


def merge(rules: list[_Raw], tagged: Sequence[tuple[int, int, str]], text: str) -> list[_Raw]:
    """Rule findings plus tagger spans, merged as the module docstring says (unsorted).

    ``tagged`` may hold ORG and MISC spans besides PERSON and LOCATION; they only veto.
    """
    tagged = [t for t in tagged if plausible(text, t[0], t[1])]
    fixed = [r for r in rules if r[2] not in NAME_LABELS]
    names = sorted(t for t in tagged if t[2] in NAME_LABELS)
    others = _Index([t for t in tagged if t[2] not in NAME_LABELS])
    name_index = _Index(names)
    # [start, end, label, score, kind, alive]
    named = [[*r, True] for r in rules if r[2] in NAME_LABELS]
    for r in named:  # weak rule spans that the tagger reads as something else, or as several
        if _strong(r):
            continue
        tagged_here = name_index.overlapping(r[0], r[1])
        if (others.overlapping(r[0], r[1]) or len(tagged_here) > 1
                or (r[4] in NEEDS_AGREEMENT and not tagged_here)):
            r[5] = False
    longest_tag = max((e - s for s, e, _ in names), default=0)
    named_index = _Index(named, slack=longest_tag)  # a rule span may grow by a tagger span
    fixed_index = _Index(fixed)
    extra: list[_Raw] = []
    for s, e, label in names:
        if fixed_index.overlapping(s, e):
            continue
        hits = [r for r in named_index.overlapping(s, e) if r[5] and r[0] < e]
        if not hits:
            extra.append((s, e, label, TAGGER_SCORE, "model"))
            continue
        same = [r for r in hits if r[2] == label]
        other = [r for r in hits if r[2] != label]
        if any(_strong(r) for r in other):
            continue  # a strong rule says otherwise: keep the rule
        for r in other:
            r[5] = False
        if same:
            r = same[0]
            if not _strong(r):  # a strong rule's extent is exact ("call Kevin", an address)
                r[0] = min(r[0], s, *(x[0] for x in same))
                r[1] = max(r[1], e, *(x[1] for x in same))
            r[3] = max(r[3], TAGGER_SCORE)
            for x in same[1:]:
                x[5] = False
        else:
            extra.append((s, e, label, TAGGER_SCORE, "model"))
    return fixed + [tuple(r[:5]) for r in named if r[5]] + extra  # type: ignore[misc]
