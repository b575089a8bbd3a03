"""PII detection: one scan, then validation of each candidate, then overlap resolution.

The combined scanner (:mod:`confida.pii.patterns`) proposes candidates by shape; this module
decides what each one is, using checksums (:mod:`confida.pii.validators`), name lexicons
(:mod:`confida.pii.names`) and context words (:mod:`confida.pii.context`).  Every decision
looks at a bounded window, so detection time is linear in the length of the text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from confida.pii import context as ctx
from confida.pii import names
from confida.pii import validators as val
from confida.pii.finding import Finding
from confida.pii.name_merge import merge as merge_names
from confida.pii.patterns import (
    COMPOUND_END,
    MONTHS,
    PREFIX_BEFORE,
    TAIL,
    anchored,
    features,
    scanner,
)

_PEM_END = re.compile(r"-----END[ A-Z]{0,40}PRIVATE[ ]KEY-----")
_PEM_BODY = re.compile(r"[A-Za-z0-9+/=\s:,-]{0,8000}")
_WORD = re.compile(r"[^\s]+")
_PREV_WORD = re.compile(r"((?:[^\W\d_]{1,12}\.-?){0,2}[^\W\d_]{1,12})(\.?)[ ]{1,2}$")
#: Degrees and post-nominals that belong to a name: "Erica Hörle B.A.", "Kuno Wirth MBA".
_POSTNOMINAL = re.compile(
    r",?[ ](?:B\.[ ]?(?:Sc|A|Eng|Ed)|M\.[ ]?(?:Sc|A|Eng|Ed)|MBA|Ph\.?[ ]?D|Jr|Sr|LL\.?[ ]?M"
    r"|Dipl\.-Ing|MD|PhD|DDS|Esq)\.?(?![\w])"
)
#: Words before a house number that belong to the address: "Flat 02, ...", "Studio 88l".
_SECONDARY_BEFORE = re.compile(
    r"(?i:flat|studio|apt\.?|apartment|unit|suite|room|appartement|wohnung)[ ]\Z"
)
_URL_TRAIL = ".,;:!?)]}'\"»"
_ZIP4 = re.compile(r"\d{5}-\d{4}")
_MAX_TAIL_ITEMS = 8
_MAX_SPLIT_TRIES = 4
#: Prefix words that mark a street even without a house number ("rue de la Paix").
_STRONG_PREFIX = frozenset(
    "rue chemin boulevard impasse allée allee quai calle avenida avda paseo pasaje camino "
    "viale piazza piazzale vicolo corso ulica ul aleja al plac rynek osiedle".split()
)
#: English street words unambiguous enough to need no city or postcode after them.
_STRONG_SUFFIX = frozenset(
    "street st road rd avenue ave boulevard blvd lane ln drive court ct place square terrace "
    "way close crescent gardens grove parkway highway mews row motorway plaza alley".split()
)


#: A finding while scanning: (start, end, label, score, kind); Findings are made at the end.
_Raw = tuple[int, int, str, float, str]


class Backend(Protocol):
    """An optional extra detector (e.g. a spaCy NER pipeline) merged into the rule results."""

    def detect(self, text: str) -> list[Finding]:
        """Findings of this backend for ``text``."""
        ...


def _sentence_initial(text: str, start: int) -> bool:
    """True at the start of the text or after sentence punctuation (capitals mean little)."""
    i = start - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    return i < 0 or text[i] in ".!?\n\r:;\"'(«“-*#>"


class _Scan:
    """State of one ``detect`` call: the text, its findings and lazily computed helpers."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.out: list[_Raw] = []
        self._pem_ends: list[int] | None = None
        self._leads: dict[int, list[str]] = {}
        self._phrases: dict[int, tuple[str, ...]] = {}
        self._windows: dict[int, list[str]] = {}

    def _lead_words(self, start: int) -> list[str]:
        """The folded words right before ``start`` (cached: several rules ask for them)."""
        words = self._leads.get(start)
        if words is None:
            words = self._leads[start] = ctx.lead_words(self.text, start)
        return words

    def lead(self, kind: str, start: int) -> bool:
        """Whether the words right before ``start`` are a lead of ``kind`` (phrases cached)."""
        phrases = self._phrases.get(start)
        if phrases is None:
            phrases = self._phrases[start] = ctx.lead_phrases(self._lead_words(start))
        return ctx.phrases_are(kind, phrases)

    def context(self, kind: str, start: int) -> bool:
        """Whether a context word of ``kind`` occurs shortly before ``start`` (words cached)."""
        words = self._windows.get(start)
        if words is None:
            words = self._windows[start] = ctx.window_words(self.text, start)
        return ctx.context_in(kind, words)

    # -- helpers --------------------------------------------------------------------------
    def add(self, start: int, end: int, label: str, score: float, kind: str = "") -> None:
        """Record a finding (spans are never empty)."""
        if end > start:
            self.out.append((start, end, label, score, kind))

    def pem_end(self, after: int) -> int:
        """End of the private-key block opened before ``after`` (bisect on all END lines)."""
        if self._pem_ends is None:
            self._pem_ends = [m.end() for m in _PEM_END.finditer(self.text)]
        i = bisect.bisect_left(self._pem_ends, after)
        if i < len(self._pem_ends) and self._pem_ends[i] - after <= 20000:
            return self._pem_ends[i]
        m = _PEM_BODY.match(self.text, after)
        return m.end() if m else after

    def extend_tail(self, end: int) -> int:
        """Extend an address over the items that follow it (number, postcode, city...)."""
        text = self.text
        for _ in range(_MAX_TAIL_ITEMS):
            m = TAIL.match(text, end)
            if m is None:
                break
            word = m.group().strip(" ,").split(" ")[0]
            if not word.isupper() and names.is_stop(word):
                break
            end = m.end()
        return end

    # -- numbers ----------------------------------------------------------------------------
    def classify_number(self, s: int, e: int, split: bool = True) -> bool:
        """Decide whether digits at [s, e) are an ID, a card or a phone number; record it."""
        if e - s < 6:
            return False
        text = self.text
        raw = text[s:e]
        d = val.digits_of(raw)
        n = len(d)
        if n < 6:
            return False
        intl = raw.startswith("+") or "(" in raw
        ext = any(c in raw for c in "x#") or "ext" in raw
        seps = any(c in raw for c in " .-/")

        def as_id() -> bool:
            if intl or ext or "/" in raw:
                return False
            kind = val.national_id_kind(raw)
            if not kind:
                return False
            if "-" in raw and kind != "us.ssn" and not self.context("NATIONAL_ID", s):
                return False  # "88120-6700" is a ZIP+4; dashed BSN/PESEL/IdNr need a cue
            if kind == "nl.bsn" and not seps and not self.context("NATIONAL_ID", s):
                # Nine bare digits pass the 11-test one time in eleven: need a hint.
                if self.context("PHONE", s):
                    return False
            self.add(s, e, "NATIONAL_ID", 0.85, kind)
            return True

        def as_card() -> bool:
            if intl or ext or "." in raw or "/" in raw or not 12 <= n <= 19:
                return False
            if not val.is_luhn_card(raw):
                return False
            self.add(s, e, "CREDIT_CARD", 0.9 if n >= 14 else 0.7, "luhn")
            return True

        def as_phone() -> bool:
            phone_ctx = self.context("PHONE", s)
            # Without a cue, a formatted 9+ digit number may be a phone, but not a ZIP+4.
            loose = seps and n >= 9 and "/" not in raw and split and not _ZIP4.fullmatch(raw)
            if not (intl or ext or phone_ctx or loose):
                return False
            region, possible = val.check_phone(raw)
            if region:
                self.add(s, e, "PHONE", 0.9 if (intl or phone_ctx) else 0.6, region.lower())
                return True
            # Unassigned ranges (fictional and test numbers) still identify a line when the
            # text says it is a phone number: accept a possible length there.
            if (phone_ctx or intl or ext) and possible:
                self.add(s, e, "PHONE", 0.6, "possible")
                return True
            return False

        order: Sequence[Callable[[], bool]]
        if intl or ext:
            order = (as_phone,)
        elif self.context("PHONE", s):
            order = (as_phone, as_id, as_card)
        elif self.context("CREDIT_CARD", s):
            order = (as_card, as_id, as_phone)
        else:
            order = (as_id, as_card, as_phone)
        for attempt in order:
            if attempt():
                return True
        if split and " " in raw and n >= 12:
            return self._split_number(s, e)
        return False

    def _split_number(self, s: int, e: int) -> bool:
        """Two numbers written side by side: find the longest valid runs, left to right.

        At most ``_MAX_SPLIT_TRIES`` sub-runs are validated per candidate, so an input made
        of endless short digit groups costs a constant per candidate, not a quadratic search.
        """
        text = self.text
        chunks = [(m.start() + s, m.end() + s) for m in _WORD.finditer(text[s:e])]
        tries = 0
        found = False
        i = 0
        while i < len(chunks) and tries < _MAX_SPLIT_TRIES:
            for j in range(len(chunks), i, -1):
                if j - i == len(chunks):
                    continue
                a, b = chunks[i][0], chunks[j - 1][1]
                if not 6 <= sum(c.isdigit() for c in text[a:b]) <= 19:
                    continue
                tries += 1
                if self.classify_number(a, b, split=False):
                    found = True
                    i = j - 1
                    break
                if tries >= _MAX_SPLIT_TRIES:
                    break
            i += 1
        return found

    # -- dates --------------------------------------------------------------------------------
    def date(self, m: re.Match[str], group: str) -> bool:
        """Validate a date candidate and record it; birth context raises the score."""
        raw = m.group(group)
        nums = [int(x) for x in re.findall(r"\d+", raw)]
        ok = False
        if group == "date_iso":
            ok = val.is_real_date(nums[0], nums[1], nums[2])
        elif group == "date_num":
            day, mon, year = nums
            ok = val.is_real_date(year, mon, day) or val.is_real_date(year, day, mon)
        else:
            words = re.findall(r"[^\W\d_]+", raw.lower())
            mon = next((MONTHS[w] for w in words if w in MONTHS), 0)
            big = [x for x in nums if x >= 1000]
            small = [x for x in nums if x < 1000]
            ok = bool(mon and big and small) and val.is_real_date(big[0], mon, small[0])
        if not ok:
            return False
        s, e = m.span(group)
        birth = self.context("DATE_BIRTH", s)
        self.add(s, e, "DATE", 0.9 if birth else 0.7, "birth" if birth else "")
        return True

    # -- names and places -----------------------------------------------------------------------
    def cap(self, s: int, e: int) -> int:
        """Decide whether a capitalised phrase is a person, a place or neither; return end."""
        text = self.text
        phrase = text[s:e]
        flags_of = names.word_flags
        space = phrase.find(" ")
        f0 = flags_of(phrase if space < 0 else phrase[:space])
        after = text[e : e + 3]
        if (
            f0 & (names.MONTH | names.STREET_PRE)
            or (after[:1] in (" ", ".") and any(c.isdigit() for c in after))
            or (s > 2 and text[s - 1] == " " and (text[s - 2].islower() or text[s - 2] == "."))
        ):
            # Only then can a dated or street shape start or end here (cheap test first).
            side = self._side_shapes(s, e, phrase, f0)
            if side >= 0:
                return side
        if " " not in phrase:
            # Fast paths for the commonest cases: acronyms, stop words, and unknown words at
            # the start of a sentence (capitalised by grammar, not because they are names).
            if phrase.isupper():
                return e
            f = f0
            if f & names.STOPWORD and not f & names.TITLE:
                return e
            if not f & (names.FIRST | names.LAST | names.TITLE):
                i = s - 1
                while i >= 0 and text[i] == " ":
                    i -= 1
                if i < 0 or text[i] in "!?\n\r\"(;":
                    return e
                if not f and text[i] not in ".:" and len(phrase) > 1:
                    # One word no lexicon knows, inside a sentence: only a lead word can
                    # make it a place ("in Celle") or a name ("my name is Xyz").
                    return self._unknown_word(s, e, phrase)
        toks = [(m.start() + s, m.end() + s) for m in _WORD.finditer(phrase)]
        words = [text[a:b] for a, b in toks]
        flags = [flags_of(w) for w in words]
        place = self.lead("PLACE_LEAD", s)
        if place or self.lead("WEAK_PLACE", s):
            # "moved to De Hoeve", "meeting them in Lake Samuelview": keep particles, drop
            # trailing stop words, and take what follows the place (postcode, region).
            while words and (flags[-1] & names.STOPWORD or words[-1].isupper()):
                toks, words, flags = toks[:-1], words[:-1], flags[:-1]
            if words and not (flags[0] & (names.STOPWORD | names.TITLE)) and (
                place or not ctx.not_a_place(words)
            ):
                end = self.extend_tail(toks[-1][1])
                self.add(s, end, "LOCATION", 0.75 if place else 0.6, "place")
                return end
        title_start = -1
        pm = None
        before = self._lead_words(s)
        if before and flags_of(before[-1]) & names.TITLE:
            pm = _PREV_WORD.search(text, max(0, s - 16), s)
        if pm and flags_of(pm.group(1)) & names.TITLE and (
            pm.group(2) or pm.group(1).islower() or len(pm.group(1)) > 2
        ):
            title_start = pm.start(1)
        # Leading words that are not names: greetings, sentence-initial verbs, acronyms; and
        # titles inside the phrase ("Hi Mrs Stacey", "Herr", "Frau"): remembered and stripped.
        known_bits = names.FIRST | names.LAST
        while words:
            w, f = words[0], flags[0]
            if f & names.TITLE and len(words) > 1:
                if title_start < 0:
                    title_start = toks[0][0]
                toks, words, flags = toks[1:], words[1:], flags[1:]
                continue
            ambiguous = f & names.AMBIG and not (
                len(words) > 1
                and (flags[1] & known_bits or self.lead("PERSON_LEAD", toks[0][0]))
            )
            if (f & (names.STOPWORD | names.PARTICLE) or ambiguous or w.isupper() or len(w) < 2
                    or (not f & known_bits and title_start < 0
                        and _sentence_initial(text, toks[0][0])
                        and not self.lead("PERSON_STRONG", toks[0][0]))):
                toks, words, flags = toks[1:], words[1:], flags[1:]
                continue
            break
        # "Président Emmanuel Macron", "Kollege Jan Novak": unknown words before a given name
        # are roles or titles, not part of the name.
        k = next((i for i, f in enumerate(flags) if f & names.FIRST), 0)
        if k > 0 and not any(f & (names.FIRST | names.LAST | names.AMBIG) for f in flags[:k]):
            toks, words, flags = toks[k:], words[k:], flags[k:]
        while words and (flags[-1] & (names.STOPWORD | names.PARTICLE) or words[-1].isupper()):
            toks, words, flags = toks[:-1], words[:-1], flags[:-1]
        if not words or (len(words) == 1 and flags[0] & names.TITLE):
            return e
        start, end = toks[0][0], toks[-1][1]
        if text[end - 2 : end] in ("'s", "’s"):
            end -= 2  # "Amber Morales's birthday": the possessive is not part of the name
        post = _POSTNOMINAL.match(text, end)
        if post:
            end = post.end()
        real = [f for w, f in zip(words, flags, strict=True) if not f & names.PARTICLE]
        firsts = [bool(f & names.FIRST) for f in real]
        if len(real) >= 2 and real[0] & names.AMBIG:
            firsts[0] = True  # "Lily Brievingh": an ambiguous word is a name before a name
        lasts = [bool(f & (names.LAST | names.AMBIG)) for f in real]
        if title_start >= 0:
            self.add(title_start, end, "PERSON", 0.9, "title")
        elif self.lead("PERSON_STRONG", start):
            self.add(start, end, "PERSON", 0.9, "context")
        elif len(real) >= 2 and (firsts[0] or (any(firsts) and any(lasts))) and not (
            real[-1] & names.COMMON and not real[-1] & names.LAST
        ):
            # ...but "Claude Code", "Grace Notes": a common word last is a thing's name.
            self.add(start, end, "PERSON", 0.85, "lexicon")
        elif (len(real) >= 2 and (any(firsts) or sum(lasts) >= 2)
              and self.lead("PERSON_LEAD", start)):
            self.add(start, end, "PERSON", 0.7, "context")
        elif (2 <= len(real) <= 3 and not any(f & (names.COMMON | names.STOPWORD) for f in real)
              and self.lead("PERSON_LEAD", start)):
            # Names no lexicon knows ("Priya Raghunathan"): two or three capitalised words,
            # none of them a common word, where a person is expected.
            self.add(start, end, "PERSON", 0.5, "shape")
        elif len(real) == 1 and firsts[0]:
            initial = _sentence_initial(text, start)
            lead = self.lead("PERSON_LEAD", start)
            self.add(start, end, "PERSON", 0.7 if lead else (0.5 if initial else 0.6), "lexicon")
        return e

    def _unknown_word(self, s: int, e: int, phrase: str) -> int:
        """The decision of :meth:`cap` for a single unknown word within a sentence."""
        if self.lead("PLACE_LEAD", s) or (
            self.lead("WEAK_PLACE", s) and not ctx.not_a_place([phrase])
        ):
            end = self.extend_tail(e)
            self.add(s, end, "LOCATION", 0.75 if self.lead("PLACE_LEAD", s) else 0.6, "place")
            return end
        before = self._lead_words(s)
        if before and names.word_flags(before[-1]) & names.TITLE:
            pm = _PREV_WORD.search(self.text, max(0, s - 16), s)
            if pm and names.word_flags(pm.group(1)) & names.TITLE and (
                pm.group(2) or pm.group(1).islower() or len(pm.group(1)) > 2
            ):
                self.add(pm.start(1), e, "PERSON", 0.9, "title")
                return e
        if self.lead("PERSON_STRONG", s):
            self.add(s, e, "PERSON", 0.9, "context")
        return e

    def _side_shapes(self, s: int, e: int, phrase: str, f0: int) -> int:
        """Dates and streets that a capitalised phrase starts or ends; their end, else -1.

        Month-first dates, street prefixes and compound street names are matched here,
        anchored at the word that triggers them, instead of at every word of the scan.
        ``f0`` holds the flags of the phrase's first word.
        """
        text = self.text
        if f0 & names.MONTH:
            m = anchored("date_md").match(text, s)
            if m and self.date(m, "date_md"):
                return m.end()
        if f0 & names.STREET_PRE:
            m = anchored("addr_pre").match(text, s)
            if m:
                end = self.address(m, "addr_pre")
                if end >= 0:
                    return end
        last_start = s + phrase.rfind(" ") + 1
        if text[e : e + 2] in (" 0", " 1", " 2", " 3", " 4", " 5", " 6", " 7", " 8", " 9") or (
            text[e : e + 1] == "." and text[e + 1 : e + 3].lstrip(" ")[:1].isdigit()
        ):
            if COMPOUND_END.search(text, last_start, e):
                m = anchored("addr_cmp").match(text, last_start)
                if m:
                    end = self.address(m, "addr_cmp", start=s)
                    if end >= 0:
                        return end
        if s < 3 or text[s - 1] != " ":
            return -1
        # Cheap test on the previous word first; tokenise only when it may be a prefix.
        j = text.rfind(" ", max(0, s - 20), s - 1)
        prev = text[j + 1 : s - 1].lower().rstrip(".")
        if prev not in names.PARTICLES and not names.word_flags(prev) & names.STREET_PRE:
            return -1
        before = self._lead_words(s)
        i = len(before) - 1
        while i > 0 and before[i] in names.PARTICLES:
            i -= 1
        if i >= 0 and names.word_flags(before[i]) & names.STREET_PRE:
            p = PREFIX_BEFORE.search(text, max(0, s - 32), s)
            if p:
                m = anchored("addr_pre").match(text, p.start())
                if m:
                    end = self.address(m, "addr_pre")
                    if end >= 0:
                        return end
        return -1

    # -- addresses ----------------------------------------------------------------------------
    def address(self, m: re.Match[str], group: str, start: int = -1) -> int:
        """Record a street address and what follows it (postcode, city); return its end.

        ``start`` moves the beginning back over the words before a compound street name
        ("Berliner Straße 12").
        """
        s, e = m.span(group)
        if 0 <= start < s:
            s = start
        sec = _SECONDARY_BEFORE.search(self.text, max(0, s - 12), s)
        if sec:
            s = sec.start()
        lead = self.lead("PLACE_LEAD", s)
        if group == "addr_pre" and m.group("addr_pre_num") is None:
            prefix = m.group(group).split(" ", 1)[0].rstrip(".").lower()
            if prefix not in _STRONG_PREFIX and not lead:
                return -1
        end = self.extend_tail(e)
        if group == "addr_num" and end == e and not lead:
            last = m.group(group).rstrip(".").rsplit(" ", 1)[-1].lower()
            if last not in _STRONG_SUFFIX and last not in _STRONG_PREFIX and "," not in m.group():
                return -1
        self.add(s, end, "LOCATION", 0.85, "address")
        return end


def _resolve(found: list[_Raw]) -> list[Finding]:
    """Sort by start and drop overlaps, keeping the higher score (then the longer span)."""
    found.sort(key=lambda f: (f[0], f[0] - f[1]))
    out: list[_Raw] = []
    for f in found:
        if out and f[0] < out[-1][1]:
            prev = out[-1]
            if (f[3], f[1] - f[0]) > (prev[3], prev[1] - prev[0]):
                out[-1] = f
            continue
        out.append(f)
    return [Finding(*f) for f in out]


class NameTagger(Protocol):
    """A trained name and place tagger (:class:`confida.pii.ner_tagger.Tagger`)."""

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """PERSON and LOCATION spans of ``text``."""
        ...


#: What ``detect(names=...)`` accepts besides a tagger object.
NAME_MODES = ("model", "rules")


def detect(
    text: str, *, backend: Backend | None = None, names: str | NameTagger = "model"
) -> list[Finding]:
    """Find personal data in ``text``; findings are sorted by start and never overlap.

    ``names`` chooses how names and places are found: ``"model"`` (the default) merges the
    shipped tagger's spans with the rules (:mod:`confida.pii.name_merge`); ``"rules"`` uses the
    lexicons and cue words alone, the fastest path for bulk jobs that accept a lower recall; a
    tagger object (e.g. one trained with ``confida pii train``) is used instead of the shipped
    one.  ``backend`` (e.g. :class:`confida.pii.spacy_backend.SpacyBackend`) adds findings
    where nothing else found any; validated findings win on overlap.
    """
    if not text:
        return []
    if isinstance(names, str):
        if names not in NAME_MODES:
            raise ValueError(f"names must be one of {', '.join(NAME_MODES)} or a tagger")
        tagger: NameTagger | None = _shipped_tagger() if names == "model" else None
    else:
        tagger = names
    found = _rule_findings(text)
    if tagger is not None:
        every = getattr(tagger, "all_spans", None)  # ORG/MISC too, to overrule weak rules
        found = merge_names(found, every(text) if every else tagger.spans(text), text)
    if backend is not None:
        for f in backend.detect(text):
            if not any(f.start < g[1] and g[0] < f.end for g in found):
                found.append((f.start, f.end, f.label, f.score, f.kind))
    return _resolve(found)


def _shipped_tagger() -> NameTagger:
    """The tagger in the package (or the one ``CONFIDA_PII_MODEL`` names), loaded on first use."""
    from confida.pii.ner_tagger import default_tagger

    return default_tagger()


def _rule_findings(text: str) -> list[_Raw]:
    """What the rules find: the combined scan, checksums, lexicons and cue words."""
    scan = _Scan(text)
    covered = 0
    for m in scanner(features(text)).finditer(text):
        if m.start() < covered:
            continue
        group = m.lastgroup or ""
        s, e = m.span()
        if group == "cap":
            covered = scan.cap(s, e)
        elif group == "number":
            scan.classify_number(s, e)
        elif group in ("date_iso", "date_num", "date_dm"):
            if not scan.date(m, group) and group != "date_dm":
                scan.classify_number(s, e)
        elif group == "addr_num":
            end = scan.address(m, group)
            if end >= 0:
                covered = end
            else:
                scan.classify_number(s, s + len(m.group().split(" ", 1)[0].rstrip(",")))
        elif group == "email":
            scan.add(s, e, "EMAIL", 0.95)
        elif group == "url":
            raw = m.group()
            trimmed = raw.rstrip(_URL_TRAIL)
            if raw.endswith(")") and "(" in trimmed:
                trimmed = raw[: len(trimmed) + 1]
            scan.add(s, s + len(trimmed), "URL", 0.9)
        elif group in ("ipv4", "ipv6"):
            kind = val.is_ip(m.group())
            if kind:
                scan.add(s, e, "IP_ADDRESS", 0.95, kind)
        elif group == "iban":
            _iban(scan, s, e)
        elif group == "nino":
            _nino(scan, s, e)
        elif group == "alnum":
            _alnum(scan, s, e)
        elif group == "ssn":
            if val.national_id_kind(m.group()) == "us.ssn":
                scan.add(s, e, "NATIONAL_ID", 0.85, "us.ssn")
            else:
                scan.classify_number(s, e)
        elif group == "pem":
            end = scan.pem_end(e)
            scan.add(s, end, "SECRET", 0.99, "private_key")
            covered = end
        elif group in ("kv", "bearer"):
            a, b = m.span(group)
            if group == "bearer" or _plausible_secret(text[a:b]):
                scan.add(a, b, "SECRET", 0.9, "password" if group == "kv" else "bearer")
        elif group == "token":
            scan.add(s, e, "SECRET", 0.95, "api_key")
    return scan.out


#: Values after "password=" that are placeholders, not secrets.
_PLACEHOLDERS = frozenset(
    "none null nil true false empty undefined required optional changeme secret password "
    "token example xxxx xxxxxx xxxxxxxx".split()
)


def _plausible_secret(value: str) -> bool:
    """A value after ``password=``/``token:`` that could be a real secret, not a placeholder
    ("your-api-key", "<token>", "${TOKEN}") or code ("f.encrypt(b", "get_token(")."""
    v = value.strip("\"'`.")
    low = v.casefold()
    if len(v) < 4 or low in _PLACEHOLDERS or set(v) <= set("*x.•<>$-_"):
        return False
    if "(" in v or ")" in v or low.startswith(("your", "my-", "my_", "example", "dummy", "xxx")):
        return False
    return not (v.startswith(("<", "${", "{{", "%")) or v.isalpha() and len(v) < 6)


def _iban(scan: _Scan, s: int, e: int) -> None:
    """Validate an IBAN candidate, trimming trailing characters the greedy scan took."""
    raw = scan.text[s:e]
    pos = [i for i, c in enumerate(raw) if c != " "]
    compact = "".join(raw[i] for i in pos)
    for length in range(len(compact), 14, -1):
        if val.is_iban(compact[:length]):
            scan.add(s, s + pos[length - 1] + 1, "IBAN", 0.95, compact[:2].lower())
            return
    if " " not in raw:
        _alnum(scan, s, e)


def _nino(scan: _Scan, s: int, e: int) -> None:
    """UK NINO: strict rules alone, or the placeholder shape with ID context."""
    raw = scan.text[s:e]
    kind = val.national_id_kind(raw)
    if kind:
        scan.add(s, e, "NATIONAL_ID", 0.85, kind)
    elif val.is_nino_like(raw) and scan.context("NATIONAL_ID", s):
        scan.add(s, e, "NATIONAL_ID", 0.6, "gb.nino")


def _alnum(scan: _Scan, s: int, e: int) -> None:
    """Letters and digits mixed: DNI/NIE, codice fiscale, NIR (Corsica), NINO, VAT number."""
    raw = scan.text[s:e]
    kind = val.national_id_kind(raw)
    if kind:
        scan.add(s, e, "NATIONAL_ID", 0.85, kind)
        return
    if len(raw) == 9 and val.is_nino_like(raw):
        _nino(scan, s, e)
        return
    vat = val.vat_kind(raw)
    if vat:
        scan.add(s, e, "VAT_ID", 0.8, vat)


def detect_many(
    texts: Iterable[str], *, backend: Backend | None = None, names: str | NameTagger = "model"
) -> list[list[Finding]]:
    """``detect`` for each text, in order (a convenience for batch jobs and the CLI)."""
    return [detect(t, backend=backend, names=names) for t in texts]
