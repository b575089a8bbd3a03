"""The shipped name and place tagger: a linear-chain CRF (python-crfsuite) over the features
of :mod:`confida.pii.ner_features`.

The model file lives inside the package (``confida/pii/model/``), so it ships in the wheel and
nothing is downloaded at install or run time.  It is loaded on first use: importing
``confida.pii`` stays cheap for the many processes that never scan text.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from confida.pii.ner_features import FeatureCache, sentence_features, tokenize

#: Where the shipped model lives.
MODEL_DIR = Path(__file__).with_name("model")
MODEL_PATH = MODEL_DIR / "ner.crfsuite"

#: Tag suffix -> Confida label.  ORG and MISC are learnt (they keep "Reuters" from being a
#: person) and not reported as personal data; the detector uses them only to overrule a weak
#: rule that took an organisation for a name.
REPORTED = {"PER": "PERSON", "LOC": "LOCATION"}
ALL_LABELS = {**REPORTED, "ORG": "ORG", "MISC": "MISC"}

_SENTENCE_END = frozenset({".", "!", "?", "…"})

#: Texts with more tokens than this in one stretch are tagged in pieces of this size: the
#: CRF's cost is linear, but its feature lists are built for the whole piece at once.
WINDOW = 400

#: Tokens tagged on either side of a possible name: the features look two tokens away, and
#: the label chain settles within a few more.  Windows closer than this are joined.
REACH = 6


def _windows(marks: list[bool], start: int, end: int) -> list[tuple[int, int]]:
    """The stretches of a sentence worth tagging: around each candidate token, ``REACH``
    tokens either side, joined where they meet - so a long message with one rare word costs a
    dozen tokens of tagging, not the whole message."""
    out: list[tuple[int, int]] = []
    for i in range(start, end):
        if marks[i]:
            a, b = max(start, i - REACH), min(end, i + REACH + 1)
            if out and a <= out[-1][1]:
                out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
    return out


#: A stretch of text without whitespace; no token crosses whitespace.
_CHUNK = re.compile(r"\S+")


def _regions(hits: list[int], n: int, margin: int) -> list[tuple[int, int]]:
    """The stretches of whitespace-separated pieces to tokenise and tag: ``margin`` pieces
    either side of each piece holding a candidate, joined where they meet.

    A piece holds at least one token, so a margin of ``REACH + 2`` pieces covers every token
    a window around a candidate can reach, and the token before it that decides whether a
    sentence ends there: each stretch tags exactly as the whole text would, and a 1 KB message
    with one name costs a few dozen tokens instead of two hundred.
    """
    out: list[tuple[int, int]] = []
    for k in hits:
        a, b = max(0, k - margin), min(n, k + margin + 1)
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _ends_sentence(words: list[str], i: int) -> bool:
    """Whether the dot at ``i`` ends a sentence rather than "Mr." or "J." (short words before
    a dot are kept with what follows, so "Mr. Smith" is tagged as one)."""
    return i > 0 and len(words[i - 1]) > 3


class Tagger:
    """A loaded CRF model.  crfsuite's tagger object is not thread-safe, so each thread gets
    its own (cheap: the model file is memory-mapped by crfsuite)."""

    def __init__(self, path: str | Path = MODEL_PATH) -> None:
        import pycrfsuite

        self.path = str(path)
        if not Path(self.path).is_file():
            raise FileNotFoundError(f"no tagger model at {self.path}")
        self._crf = pycrfsuite
        self._local = threading.local()
        self.cache = FeatureCache()
        self._tagger()  # fail now on a corrupt file, not on the first text

    def _tagger(self):  # type: ignore[no-untyped-def]
        t = getattr(self._local, "tagger", None)
        if t is None:
            t = self._crf.Tagger()
            t.open(self.path)
            self._local.tagger = t
        return t

    def tag_words(self, words: Sequence[str]) -> list[str]:
        """BIO tags for a token sequence."""
        if not words:
            return []
        tagger = self._tagger()
        out: list[str] = []
        for i in range(0, len(words), WINDOW):
            chunk = list(words[i : i + WINDOW])
            out.extend(tagger.tag(sentence_features(chunk, self.cache)))
        return out

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """PERSON and LOCATION spans of ``text`` as (start, end, label)."""
        reported = REPORTED.values()
        return [s for s in self.all_spans(text) if s[2] in reported]

    def all_spans(self, text: str) -> list[tuple[int, int, str]]:
        """PERSON, LOCATION, ORG and MISC spans of ``text``.

        The text is tagged sentence by sentence, and only around words that could be names: a
        stretch of common lower-case words that no name or place list knows ("can you explain
        how this works") is left out (:func:`_windows`). Long chat messages are mostly such
        stretches, and the tagger costs about ten microseconds a word. Only the stretches
        around pieces of text holding a candidate are even tokenised (:func:`_regions`).
        """
        has = self.cache.chunk_has_candidate
        if not any(map(has, set(text.split()))):
            return []  # most chat messages: no piece could be a name
        chunks = [m.span() for m in _CHUNK.finditer(text)]
        hits = [k for k, (s, e) in enumerate(chunks) if has(text[s:e])]
        out: list[tuple[int, int, str]] = []
        for a, b in _regions(hits, len(chunks), REACH + 2):
            s0, e0 = chunks[a][0], chunks[b - 1][1]
            out.extend((s + s0, e + s0, label) for s, e, label in self._tag_text(text[s0:e0]))
        return out

    def _tag_text(self, text: str) -> list[tuple[int, int, str]]:
        """All spans of ``text``, tagging the windows around its candidate tokens."""
        offsets = tokenize(text)
        words = [text[s:e] for s, e in offsets]
        candidate = self.cache.candidate
        marks = [candidate(w) for w in words]
        if not any(marks):
            return []
        tags = ["O"] * len(words)
        # a sentence ends at its final punctuation, before a line break, or with the text
        ends = {i for i, w in enumerate(words)
                if w in _SENTENCE_END and (w != "." or _ends_sentence(words, i))}
        if "\n" in text:
            ends |= {i - 1 for i in range(1, len(offsets))
                     if "\n" in text[offsets[i - 1][1]:offsets[i][0]]}
        ends.add(len(words) - 1)
        start = 0
        for end in sorted(ends):
            for a, b in _windows(marks, start, end + 1):
                tags[a:b] = self.tag_words(words[a:b])
            start = end + 1
        return bio_spans(offsets, tags, ALL_LABELS)


def bio_spans(
    offsets: Sequence[tuple[int, int]], tags: Sequence[str], reported: dict[str, str]
) -> list[tuple[int, int, str]]:
    """Character spans from token offsets and BIO tags (an I- without its B- starts a span)."""
    out: list[tuple[int, int, str]] = []
    cur: list[object] | None = None
    for (s, e), tag in zip(offsets, tags, strict=True):
        kind = tag[2:] if len(tag) > 2 else ""
        if tag.startswith("I-") and cur is not None and cur[2] == kind:
            cur[1] = e
            continue
        if cur is not None:
            out.append((cur[0], cur[1], cur[2]))  # type: ignore[arg-type]
            cur = None
        if tag != "O" and kind:
            cur = [s, e, kind]
    if cur is not None:
        out.append((cur[0], cur[1], cur[2]))  # type: ignore[arg-type]
    return [(s, e, reported[k]) for s, e, k in out if k in reported]


#: Environment variable naming a tagger trained with ``confida pii train`` to use instead of the
#: shipped one (for every process that reads it: server, CLI, workers).
MODEL_ENV = "CONFIDA_PII_MODEL"


def model_path() -> Path:
    """The model file the detector uses: ``$CONFIDA_PII_MODEL`` or the shipped one."""
    return Path(os.environ.get(MODEL_ENV) or MODEL_PATH)


@lru_cache(maxsize=1)
def default_tagger() -> Tagger:
    """The detector's tagger, loaded once per process on first use."""
    return Tagger(model_path())
