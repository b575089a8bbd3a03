"""The shipped name and place tagger: the committed file is the recorded one, it scores what
its card says, and in the detector it finds names the rules miss in chat text without ever
overriding a validated identifier."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confida.pii import detect
from confida.pii.build_model import CHECK_FILE
from confida.pii.ner_corpus import read_corpus
from confida.pii.ner_features import CENSUS_FILE, FREQUENCY_FILE, tokenize
from confida.pii.ner_tagger import MODEL_PATH, Tagger, default_tagger
from confida.pii.ner_training import dev_sets, evaluate, sha256

CARD = json.loads(MODEL_PATH.with_suffix(".json").read_text(encoding="utf-8"))
SHARED_NER = Path(__file__).resolve().parents[2] / "shared" / "data" / "ner"


def _found(text: str, **kw: object) -> list[tuple[str, str]]:
    return [(text[f.start:f.end], f.label) for f in detect(text, **kw)]  # type: ignore[arg-type]


# --- the artifact ------------------------------------------------------------------------------

def test_committed_model_is_the_recorded_one() -> None:
    assert sha256(MODEL_PATH) == CARD["sha256"]
    assert sha256(FREQUENCY_FILE) == CARD["frequency_table_sha256"]
    assert sha256(CENSUS_FILE) == CARD["census_table_sha256"]
    assert MODEL_PATH.stat().st_size <= 25_000_000


def test_check_sample_scores_as_recorded() -> None:
    """Re-scoring the shipped check sample gives the card's figures exactly: a model file or a
    feature change that alters behaviour cannot land without a new card (``make model``)."""
    sample = list(read_corpus(MODEL_PATH.with_name(CHECK_FILE)))
    assert evaluate(default_tagger().spans, sample) == CARD["scores"]["check sample"]


@pytest.mark.skipif(not SHARED_NER.is_dir(), reason="the shared corpora are not on this machine")
def test_dev_scores_as_recorded() -> None:
    tagger = default_tagger()
    for name, sents in dev_sets(SHARED_NER):
        if "wikiann" in name:
            continue  # 40,000 sentences: checked by `make model`, not on every test run
        assert evaluate(tagger.spans, sents) == CARD["scores"][name], name


_FEATURES_DIGEST = (
    "import hashlib\n"
    "from confida.pii.ner_corpus import read_corpus\n"
    "from confida.pii.ner_features import FeatureCache, sentence_features, tokenize\n"
    "from confida.pii.ner_tagger import MODEL_PATH\n"
    "c = FeatureCache()\n"
    "h = hashlib.sha256()\n"
    "for s in read_corpus(MODEL_PATH.with_name('check.jsonl.gz')):\n"
    "    w = [s.text[a:b] for a, b in tokenize(s.text)]\n"
    "    h.update(repr((sentence_features(w, c), [c.candidate(x) for x in w])).encode())\n"
    "from confida.pii.ner_synth import synthetic\n"
    "h.update(repr(list(synthetic({'it': 60, 'en': 20, 'de': 20}, 14))).encode())\n"
    "print(h.hexdigest())\n"
)


def test_features_do_not_depend_on_the_hash_seed() -> None:
    """Training is reproducible only if a word's features and the synthetic sentences are the
    same in every process: a list built from a set (Faker's Italian towns) breaks that."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    digests = {
        subprocess.run([sys.executable, "-c", _FEATURES_DIGEST], capture_output=True, text=True,
                       env={**env, "PYTHONHASHSEED": seed}, check=True).stdout
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1


def test_loads_fast_and_small_in_a_fresh_process() -> None:
    """The tagger's own cost on first use (after ``import confida.pii``, which a process that
    scans text has paid anyway): model, lexicon tables, first text."""
    code = (
        "import resource, time\n"
        "import confida.pii\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "t = time.perf_counter()\n"
        "from confida.pii.ner_tagger import default_tagger\n"
        "default_tagger().spans('hi im anna')\n"
        "print(time.perf_counter() - t, "
        "(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    seconds, mib = float(out[0]), float(out[1])
    assert seconds < 1.0
    assert mib < 200


# --- chat text ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("hi im anna schmidt and i need help", "anna schmidt"),
    ("HI I'M ANNA SCHMIDT, WHERE IS MY ORDER", "ANNA SCHMIDT"),
    ("thanks @jdoe, tell Maria 🙂 https://example.org", "Maria"),
    ("Best regards,\nKatarzyna Nowak\nSales", "Katarzyna Nowak"),
    ("ask priya if the slides are done", "priya"),
    ("Ich habe mit Jörg Krutschinna telefoniert", "Jörg Krutschinna"),
    ("hallo ich bin jonas weber aus köln", "jonas weber"),
])
def test_finds_names_in_chat_text(text: str, value: str) -> None:
    assert (value, "PERSON") in _found(text)


def test_model_finds_what_the_rules_miss() -> None:
    text = "ask priya if the slides are done"
    assert ("priya", "PERSON") not in _found(text, names="rules")
    assert ("priya", "PERSON") in _found(text)


def test_places_tied_to_a_person() -> None:
    found = _found("i moved from leeds to rotterdam last year")
    assert ("leeds", "LOCATION") in found
    assert ("rotterdam", "LOCATION") in found


def test_ordinary_requests_have_no_names() -> None:
    for text in ("can you summarize this article about climate policy",
                 "write a python function that sorts a list",
                 "wie setze ich mein passwort zurück?"):
        assert _found(text) == []


def test_validated_identifiers_win() -> None:
    text = "Anna Schmidt DE89 3704 0044 0532 0130 00 anna.schmidt@example.org"
    found = _found(text)
    assert ("DE89 3704 0044 0532 0130 00", "IBAN") in found
    assert ("anna.schmidt@example.org", "EMAIL") in found
    assert ("Anna Schmidt", "PERSON") in found


def test_names_modes() -> None:
    assert detect("x", names="rules") == []
    with pytest.raises(ValueError, match="names must be"):
        detect("Anna", names="spacy")


def test_long_text_is_tagged_in_windows() -> None:
    text = "the report is late again . " * 400 + "please call Anna Schmidt tomorrow"
    assert ("Anna Schmidt", "PERSON") in _found(text)


def test_threads_get_the_same_answers() -> None:
    texts = [f"hi im anna schmidt, ticket {i}, i live in berlin" for i in range(200)]
    expected = [detect(t) for t in texts]
    results: list[list[object]] = [[] for _ in range(4)]

    def work(k: int) -> None:
        results[k] = [detect(t) for t in texts]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results)


def test_a_missing_model_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Tagger(tmp_path / "none.crfsuite")


# --- properties --------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_tokens_are_ordered_and_inside_the_text(text: str) -> None:
    prev = 0
    for s, e in tokenize(text):
        assert prev <= s < e <= len(text)
        assert text[s:e].strip() == text[s:e]
        prev = e


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_findings_never_overlap_and_stay_inside(text: str) -> None:
    found = detect(text)
    prev = 0
    for f in found:
        assert prev <= f.start < f.end <= len(text)
        prev = f.end


def test_only_stretches_around_possible_names_are_tagged() -> None:
    from confida.pii.ner_tagger import REACH, _windows

    marks = [False] * 100
    marks[50] = True
    assert _windows(marks, 0, 100) == [(50 - REACH, 51 + REACH)]
    marks[55] = True
    assert _windows(marks, 0, 100) == [(50 - REACH, 56 + REACH)]
    assert _windows([False] * 10, 0, 10) == []
    text = " ".join(["please explain how this works"] * 40) + " and ask priya"
    assert ("priya", "PERSON") in _found(text)


def test_feature_cache_is_bounded() -> None:
    from confida.pii.ner_features import FeatureCache, sentence_features

    cache = FeatureCache(limit=100)
    for i in range(1000):
        sentence_features([f"w{i}x", f"Name{i}"], cache)
    assert len(cache._local) <= 100
    assert len(cache._near) <= 100
    assert len(cache._lang) <= 100


_PIECES = st.sampled_from(["please", "explain", "how", "it", "works", "priya", "Anna", "anna's",
                           "the", "and", "to", "a", "of", "is", "you", "can", "this", "that",
                           "Berlin", "paris", "in", "the", "O'Neil", "x@y.org", "#tag", "@ann",
                           "3", ".", ",", "Mr.", "jan-peter", "zürich", "Ⅻ", "ǅ", "ﬁ"])
_SPACES = st.sampled_from([" ", "  ", "\n", "\t", "\u00a0", "\u2003", "\x1c", ""])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_PIECES, _SPACES), max_size=120) | st.text(max_size=200))
def test_the_quick_no_candidate_check_changes_nothing(parts: object) -> None:
    """Tagging only the stretches around pieces of text that hold a candidate gives what
    tagging the whole text gives: the same spans as a tagger whose pieces all count as
    candidates (one stretch, the whole text)."""
    text = parts if isinstance(parts, str) else "".join(a + b for a, b in parts)  # type: ignore[union-attr]
    fast, slow = Tagger(default_tagger().path), Tagger(default_tagger().path)
    slow.cache.chunk_has_candidate = lambda _chunk: True  # type: ignore[method-assign]
    tagged: dict[str, list[tuple[str, ...]]] = {"fast": [], "slow": []}
    for name, t in (("fast", fast), ("slow", slow)):
        real = t.tag_words

        def spy(words: Any, real: Any = real, name: str = name) -> list[str]:
            tagged[name].append(tuple(words))
            return real(words)  # type: ignore[no-any-return]

        t.tag_words = spy  # type: ignore[method-assign]
    assert fast.all_spans(text) == slow.all_spans(text)
    assert tagged["fast"] == tagged["slow"]  # the very same windows, not only the same answer
