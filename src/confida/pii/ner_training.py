"""Training the name and place tagger: ``make model`` and ``confida pii train``.

Reproducible by construction: the corpora are read in a fixed order, every random choice
(augmentation, the synthetic chat text) comes from one seeded generator, and crfsuite's L-BFGS
is deterministic, so the same data and seed give the same model file, byte for byte.

What goes in, and why:
- the train splits of the public corpora in ``shared/data/ner`` (news, tweets, Wikipedia in
  English, German, French and Dutch); WikiANN's silver labels are noisy, so only part of each
  language is taken;
- two thirds of the GermEval-2014 development split, because there is no German news training
  split here; the other third is held out and is what the German score is measured on;
- casing augmentation: a share of each corpus again in lower case and in capitals, so the model
  learns names without their capital letters ("hi im anna schmidt");
- synthetic chat text (:mod:`confida.pii.ner_synth`);
- a user's own labelled files, for ``confida pii train``.
"""

from __future__ import annotations

import gzip
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confida.export.manifest import sha256_file as sha256
from confida.pii.ner_corpus import Sentence, read_corpus
from confida.pii.ner_features import (
    CENSUS_FILE,
    FREQUENCY_FILE,
    FeatureCache,
    sentence_features,
    tokenize,
)
from confida.pii.scoring import score

#: Corpus label -> tag suffix.  ORG and MISC are learnt so that the model has somewhere to put
#: "Reuters" and "Olympics" other than PERSON or LOCATION.
TAGS = {"PERSON": "PER", "LOCATION": "LOC", "ORG": "ORG", "MISC": "MISC"}

#: (file, share of its sentences taken) — the train splits, in a fixed order.
TRAIN_FILES: tuple[tuple[str, float], ...] = (
    ("en-conll2003-train.jsonl.gz", 1.0),
    ("en-wnut17-train.jsonl.gz", 1.0),
    ("en-btc-train.jsonl.gz", 1.0),
    ("en-wikiann-train.jsonl.gz", 0.35),
    ("de-wikiann-train.jsonl.gz", 0.3),
    ("fr-wikiann-train.jsonl.gz", 0.35),
    ("nl-wikiann-train.jsonl.gz", 0.35),
)

#: Small sets of the kind of text the model is weakest on (German news, social media) are seen
#: more than once (each time with fresh casing augmentation): crfsuite has no sample weights.
REPEAT: dict[str, int] = {"de-germeval14-dev.jsonl.gz": 3, "en-wnut17-train.jsonl.gz": 2}

#: The German news set has only a development split here: a fixed two thirds train the model,
#: the rest is held out for its score (line number modulo 3 == 0 is held out).
GERMEVAL = "de-germeval14-dev.jsonl.gz"

#: The development splits the model is scored on (the recorded scores of the model card).
DEV_FILES: tuple[str, ...] = (
    "en-conll2003-dev.jsonl.gz",
    "en-wnut17-dev.jsonl.gz",
    GERMEVAL,  # held-out third only
    "en-wikiann-dev.jsonl.gz",
    "de-wikiann-dev.jsonl.gz",
    "fr-wikiann-dev.jsonl.gz",
    "nl-wikiann-dev.jsonl.gz",
)

SYNTHETIC_PER_LANG = {"en": 6000, "de": 2500, "fr": 1500, "nl": 1500, "es": 600, "it": 600,
                      "pl": 600}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the model file; recorded next to it."""

    seed: int = 14
    c1: float = 0.05
    c2: float = 0.01
    max_iterations: int = 150
    lower_share: float = 0.3
    upper_share: float = 0.05
    noise_share: float = 0.15
    synthetic: dict[str, int] = field(default_factory=lambda: dict(SYNTHETIC_PER_LANG))


def germeval_part(path: Path, *, held_out: bool) -> Iterator[Sentence]:
    """The training two thirds or the held-out third of the GermEval development split."""
    for i, s in enumerate(read_corpus(path)):
        if (i % 3 == 0) == held_out:
            yield s


def example(s: Sentence) -> tuple[list[str], list[str]]:
    """Words and BIO tags of a sentence, on the tagger's own tokenisation (so training sees
    exactly the tokens inference will see).  A token is inside a span when it lies within it."""
    offsets = tokenize(s.text)
    tags = ["O"] * len(offsets)
    k = 0
    for a, b, label in s.spans:
        suffix = TAGS.get(label)
        while k < len(offsets) and offsets[k][1] <= a:
            k += 1
        first = True
        j = k
        while j < len(offsets) and offsets[j][0] < b:
            if suffix and offsets[j][0] >= a and offsets[j][1] <= b:
                tags[j] = ("B-" if first else "I-") + suffix
                first = False
            j += 1
    return [s.text[x:y] for x, y in offsets], tags


#: What chat text puts between words that news text does not: emojis, @handles, #tags, links,
#: repeated punctuation and fillers.  Inserted into copies of corpus sentences (outside the
#: names) so the model learns that a name next to "@jdoe 🙂" is still a name.
_NOISE = ("🙂", "😂", "👍", "🙏", "❤️", "!!", "??", ":)", ";-)", "lol", "pls", "...", "xD",
          "@user", "@jdoe_", "#tbt", "#help", "https://t.co/a1b2c3", "www.example.com")


def noisy(s: Sentence, rng: random.Random) -> Sentence:
    """A copy of ``s`` with one or two noise tokens inserted at word boundaries outside its
    spans; the spans are moved with the text."""
    points = [i for i, ch in enumerate(s.text) if ch == " "] + [len(s.text)]
    points = [p for p in points if not any(a < p < b for a, b, _ in s.spans)]
    text, spans = s.text, list(s.spans)
    for p in sorted(rng.sample(points, min(1 + (rng.random() < 0.3), len(points))),
                    reverse=True):
        token = rng.choice(_NOISE)
        if token.startswith("@"):
            token += str(rng.randrange(1000))
        insert = " " + token
        text = text[:p] + insert + text[p:]
        spans = [(a + len(insert) if a >= p else a, b + len(insert) if b > p else b, label)
                 for a, b, label in spans]
    return Sentence(text, tuple(spans), s.lang, s.source)


def _recased(sentences: Iterable[Sentence], cfg: TrainConfig,
             rng: random.Random) -> Iterator[Sentence]:
    """Each sentence, plus a lower-case or all-capitals copy for a share of them, and a copy
    with chat noise for another share.  A casing that changes the length of the text (a few
    letters such as "İ") would move the spans: such sentences get no recased copy."""
    for s in sentences:
        yield s
        r = rng.random()
        if r < cfg.lower_share:
            low = s.text.lower()
            if len(low) == len(s.text):
                yield Sentence(low, s.spans, s.lang, s.source)
        elif r < cfg.lower_share + cfg.upper_share:
            up = s.text.upper()
            if len(up) == len(s.text):
                yield Sentence(up, s.spans, s.lang, s.source)
        if rng.random() < cfg.noise_share:
            yield noisy(s, rng)


def _sample(sentences: Iterable[Sentence], share: float,
            rng: random.Random) -> Iterator[Sentence]:
    for s in sentences:
        if share >= 1.0 or rng.random() < share:
            yield s


def training_sentences(
    data_dir: Path | None, cfg: TrainConfig, extra: Sequence[Path] = ()
) -> Iterator[Sentence]:
    """All training sentences in their fixed order: corpora, GermEval's two thirds, synthetic
    chat text, then the user's files (not augmented: they are taken as the user wrote them)."""
    from confida.pii.ner_synth import synthetic

    rng = random.Random(cfg.seed)
    if data_dir is not None:
        for name, share in TRAIN_FILES:
            for _ in range(REPEAT.get(name, 1)):
                yield from _recased(_sample(read_corpus(data_dir / name), share, rng), cfg, rng)
        for _ in range(REPEAT[GERMEVAL]):
            yield from _recased(germeval_part(data_dir / GERMEVAL, held_out=False), cfg, rng)
    if cfg.synthetic:
        yield from synthetic(cfg.synthetic, cfg.seed)
    for path in extra:
        yield from read_corpus(path)


def _trainer(progress: Callable[[str], None] | None, total: int) -> object:
    """A crfsuite trainer that reports its iterations to ``progress`` instead of printing its
    log (crfsuite reports iterations only when verbose).  The class is made here so that
    importing this module does not import crfsuite."""
    import pycrfsuite

    class _Quiet(pycrfsuite.Trainer):  # type: ignore[misc]
        def __init__(self, progress: Callable[[str], None] | None, total: int) -> None:
            super().__init__(verbose=progress is not None)
            self._progress = progress
            self._total = total
            self._started = time.monotonic()

        def on_iteration(self, log: str, info: dict[str, object]) -> None:
            if self._progress:
                self._progress(f"iteration {info.get('num')}/{self._total} "
                               f"({time.monotonic() - self._started:.0f} s)")

        def on_start(self, log: str) -> None: ...
        def on_featgen_progress(self, log: str, percent: float) -> None: ...
        def on_featgen_end(self, log: str) -> None: ...
        def on_prepared(self, log: str) -> None: ...
        def on_prepare_error(self, log: str) -> None: ...
        def on_optimization_end(self, log: str) -> None: ...
        def on_end(self, log: str) -> None: ...

    return _Quiet(progress, total)


def train(
    sentences: Iterable[Sentence],
    output: Path,
    cfg: TrainConfig,
    *,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Train a CRF on ``sentences`` and write it to ``output``; returns the sentence count."""
    cache = FeatureCache(limit=10_000_000)
    trainer: Any = _trainer(progress, cfg.max_iterations)
    n = 0
    for s in sentences:
        words, tags = example(s)
        if words:
            trainer.append(sentence_features(words, cache), tags)
            n += 1
    if n == 0:
        raise ValueError("no training sentences")
    if progress:
        progress(f"{n} sentences; training ({cfg.max_iterations} iterations at most)")
    trainer.set_params({
        "c1": cfg.c1, "c2": cfg.c2, "max_iterations": cfg.max_iterations,
        "feature.possible_transitions": True,
    })
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    trainer.train(str(tmp))
    tmp.replace(output)
    return n


def evaluate(tagger_spans: Callable[[str], list[tuple[int, int, str]]],
             sentences: Sequence[Sentence]) -> dict[str, dict[str, float]]:
    """PERSON and LOCATION precision, recall and F1 of a span function on ``sentences``."""
    preds = [tagger_spans(s.text) for s in sentences]
    sc = score([s.spans for s in sentences], preds, labels=("PERSON", "LOCATION"))
    return {lab: {"precision": round(v.precision, 4), "recall": round(v.recall, 4),
                  "f1": round(v.f1, 4), "support": v.support}
            for lab, v in sc.per_label.items()}


def has_corpora(data_dir: Path) -> bool:
    """Whether ``data_dir`` holds the public corpora (checked before hours of work, not after)."""
    return (data_dir / TRAIN_FILES[0][0]).is_file()


def dev_scores(
    spans: Callable[[str], list[tuple[int, int, str]]],
    corpora: Path | None,
    extra: Sequence[tuple[str, Sequence[Sentence]]] = (),
    *,
    progress: Callable[[str, dict[str, dict[str, float]]], None] | None = None,
) -> dict[str, object]:
    """The scores a model card records: every development set of ``corpora`` (when given),
    then each named set of ``extra`` (a user's ``--dev`` files, the check sample)."""
    sets: list[tuple[str, Sequence[Sentence]]] = []
    if corpora is not None:
        sets += dev_sets(corpora)
    sets += extra
    scores: dict[str, object] = {}
    for name, sents in sets:
        result = evaluate(spans, sents)
        scores[name] = result
        if progress:
            progress(name, result)
    return scores


def dev_sets(data_dir: Path) -> Iterator[tuple[str, list[Sentence]]]:
    """(name, sentences) of every development set the model card reports."""
    for name in DEV_FILES:
        if name == GERMEVAL:
            yield "de-germeval14-dev (held-out third)", list(
                germeval_part(data_dir / name, held_out=True))
        else:
            yield name.removesuffix(".jsonl.gz"), list(read_corpus(data_dir / name))


#: Languages and depth of the frequency table (:data:`confida.pii.ner_features.FREQUENCY_FILE`).
FREQUENCY_LANGS = ("en", "de", "fr", "nl")
FREQUENCY_DEPTH = 80_000


def build_frequency_table(path: Path) -> int:
    """Write the word-frequency table the features read, from the ``wordfreq`` package (a
    build-time dependency only: ``pip install 'confida[model]'``).  Returns the word count."""
    try:
        import wordfreq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("building the frequency table needs wordfreq: "
                           "pip install 'confida[model]'") from exc
    table: dict[str, int] = {}
    for lang in FREQUENCY_LANGS:
        for word in wordfreq.top_n_list(lang, FREQUENCY_DEPTH):
            if not (word.isalpha() or "'" in word or "-" in word):
                continue
            bucket = int(wordfreq.zipf_frequency(word, lang) * 2)
            table[word] = max(table.get(word, 0), bucket)
    _write_table(path, table)  # type: ignore[arg-type]
    return len(table)


def build_census_table(path: Path) -> int:
    """Write the census name table the features read, from the ``names`` package (US Census
    1990 lists; build-time only: ``pip install 'confida[model]'``).  Returns the word count."""
    try:
        import names as census
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("building the name table needs the 'names' package: "
                           "pip install 'confida[model]'") from exc
    src = Path(census.__file__).parent
    table: dict[str, list[str]] = {}
    for fname in ("dist.female.first", "dist.male.first"):
        for line in (src / fname).read_text(encoding="utf-8").splitlines():
            if line.strip():
                table.setdefault(line.split()[0].casefold(), []).append("F")
    for rank, line in enumerate((src / "dist.all.last").read_text(encoding="utf-8").splitlines()):
        if line.strip():
            flag = "L1" if rank < 2000 else "L2" if rank < 20000 else "L3"
            table.setdefault(line.split()[0].casefold(), []).append(flag)
    _write_table(path, {w: " ".join(sorted(set(v))) for w, v in table.items()})
    return len(table)


def _write_table(path: Path, table: dict[str, object]) -> None:
    """A word table as gzipped JSON with sorted keys and no timestamp in the gzip header: the
    same data gives the same bytes, so its recorded hash is reproducible."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    data = json.dumps(table, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    with tmp.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(data.encode("utf-8"))
    tmp.replace(path)


def write_card(path: Path, model: Path, cfg: TrainConfig, n: int, seconds: float,
               scores: dict[str, object], *, corpora: bool = True,
               extra: Sequence[Path] = ()) -> None:
    """The model's record: hash, configuration, data and scores (read by the tests)."""
    card = {
        "model": model.name,
        "sha256": sha256(model),
        "frequency_table_sha256": sha256(FREQUENCY_FILE) if FREQUENCY_FILE.is_file() else None,
        "census_table_sha256": sha256(CENSUS_FILE) if CENSUS_FILE.is_file() else None,
        "bytes": model.stat().st_size,
        "config": {k: v for k, v in cfg.__dict__.items()},
        "train_files": ([f for f, _ in TRAIN_FILES] + [GERMEVAL + " (two thirds)"]
                        if corpora else []) + [p.name for p in extra]
                       + (["synthetic chat text"] if cfg.synthetic else []),
        "sentences": n,
        "train_seconds": round(seconds, 1),
        "scores": scores,
    }
    path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
