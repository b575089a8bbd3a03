"""Training-data transformations keep the gold spans on the same words (property tests)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from confida.pii.ner_corpus import Sentence
from confida.pii.ner_training import example, noisy

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzÄÖÜäöüéß", min_size=1, max_size=8)


@st.composite
def sentences(draw: st.DrawFn) -> Sentence:
    words = draw(st.lists(WORD, min_size=1, max_size=12))
    text = " ".join(words)
    spans = []
    pos = 0
    for w in words:
        if draw(st.booleans()):
            spans.append((pos, pos + len(w), draw(st.sampled_from(["PERSON", "LOCATION"]))))
        pos += len(w) + 1
    return Sentence(text, tuple(spans))


@settings(max_examples=200, deadline=None)
@given(sentences(), st.integers(0, 2**32))
def test_noise_moves_spans_with_their_words(s: Sentence, seed: int) -> None:
    n = noisy(s, random.Random(seed))
    assert len(n.text) > len(s.text)
    assert [n.text[a:b] for a, b, _ in n.spans] == [s.text[a:b] for a, b, _ in s.spans]
    assert [lab for *_, lab in n.spans] == [lab for *_, lab in s.spans]


@settings(max_examples=200, deadline=None)
@given(sentences())
def test_bio_tags_cover_exactly_the_span_words(s: Sentence) -> None:
    words, tags = example(s)
    tagged = [w for w, t in zip(words, tags, strict=True) if t != "O"]
    assert tagged == [s.text[a:b] for a, b, _ in s.spans]
    assert all(t.startswith("B-") for t in tags if t != "O")  # one word per span here
