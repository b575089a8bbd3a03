"""Candidate B for docs/pii-model.md: a spaCy NER pipeline with our own weights.

Candidate A (python-crfsuite) is measured elsewhere; this script measures the alternative on
the same data so the two can be set side by side in docs/pii-model.md.  Nothing is downloaded:
the pipeline is a blank ``en`` one with a small ``tok2vec`` (HashEmbedCNN, no pretrained
vectors) and an ``ner`` component listening to it, trained here on CPU from
``en-conll2003-train`` only, with a fixed seed and a wall-clock budget.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python bench/ner_candidate_spacy.py [--budget-min 12] [--seed 0]

Steps: build DocBin training data (reference docs carry the corpus tokens and gold spans; the
predicted side is spaCy's own tokenisation of ``text``, aligned by spaCy), train with
``nlp.update`` until the budget is spent, save the model (averaged weights) to a temporary
directory, then report its size on disk, the ``spacy.load`` time, PERSON and LOCATION
precision/recall/F1 on ``en-conll2003-dev`` and ``en-wnut17-dev`` (``confida.pii.scoring``,
character offsets of ``doc.ents`` on ``text`` as given), and throughput on conll dev in texts
per second of process CPU time, both ``nlp.pipe(batch_size=256)`` and ``nlp(text)`` one by one.
The figures are printed as JSON on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import spacy  # noqa: E402
from spacy.tokens import Doc, DocBin  # noqa: E402
from spacy.training import Example  # noqa: E402
from spacy.util import compounding, fix_random_seed, minibatch  # noqa: E402

from confida.pii.scoring import score  # noqa: E402

DATA = Path("/work/shared/data/ner")
LABELS = ("PERSON", "LOCATION", "ORG", "MISC")
SCORED = ("PERSON", "LOCATION")
LABEL_MAP = {"PERSON": "PERSON", "LOCATION": "LOCATION"}
Span = tuple[int, int, str]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def read_jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def to_docbin(nlp: spacy.Language, rows: list[dict]) -> DocBin:
    """Reference docs on the corpus tokens (``text`` is the tokens joined by single spaces)."""
    db = DocBin(attrs=["ORTH", "ENT_IOB", "ENT_TYPE"])
    skipped = 0
    for row in rows:
        words = row["tokens"]
        if not words:
            continue
        doc = Doc(nlp.vocab, words=words, spaces=[True] * (len(words) - 1) + [False])
        assert doc.text == row["text"], row["text"]
        ents = []
        for start, end, label in row["spans"]:
            span = doc.char_span(start, end, label=label, alignment_mode="strict")
            if span is None:
                skipped += 1
            else:
                ents.append(span)
        doc.ents = ents
        db.add(doc)
    if skipped:
        log(f"{skipped} gold spans off token boundaries skipped")
    return db


def build_nlp(width: int, depth: int, embed_size: int) -> spacy.Language:
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "tok2vec",
        config={
            "model": {
                "@architectures": "spacy.Tok2Vec.v2",
                "embed": {
                    "@architectures": "spacy.MultiHashEmbed.v2",
                    "width": width,
                    "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"],
                    "rows": [embed_size, embed_size // 2, embed_size // 2, embed_size // 2],
                    "include_static_vectors": False,
                },
                "encode": {
                    "@architectures": "spacy.MaxoutWindowEncoder.v2",
                    "width": width,
                    "depth": depth,
                    "window_size": 1,
                    "maxout_pieces": 3,
                },
            }
        },
    )
    ner = nlp.add_pipe(
        "ner",
        config={
            "model": {
                "@architectures": "spacy.TransitionBasedParser.v2",
                "state_type": "ner",
                "extra_state_tokens": False,
                "hidden_width": 64,
                "maxout_pieces": 2,
                "use_upper": True,
                "nO": None,
                "tok2vec": {
                    "@architectures": "spacy.Tok2VecListener.v1",
                    "width": width,
                    "upstream": "*",
                },
            }
        },
    )
    for label in LABELS:
        ner.add_label(label)
    return nlp


def train(nlp: spacy.Language, examples: list[Example], budget_s: float, seed: int,
          dropout: float) -> dict:
    rng = random.Random(seed)
    optimizer = nlp.initialize(lambda: examples[:2000])
    start = time.perf_counter()
    cpu_start = time.process_time()
    steps = epochs = words = 0
    stop = False
    while not stop:
        order = examples[:]
        rng.shuffle(order)
        losses: dict[str, float] = {}
        for batch in minibatch(order, size=compounding(8.0, 64.0, 1.001)):
            nlp.update(batch, drop=dropout, sgd=optimizer, losses=losses)
            steps += 1
            words += sum(len(eg.predicted) for eg in batch)
            if time.perf_counter() - start >= budget_s:
                stop = True
                break
        else:
            epochs += 1
        log(f"epoch {epochs}{' (partial)' if stop else ''}: steps {steps}, "
            f"ner loss {losses.get('ner', 0.0):.1f}, "
            f"{time.perf_counter() - start:.0f}s elapsed")
    return {
        "train_wall_s": round(time.perf_counter() - start, 1),
        "train_cpu_s": round(time.process_time() - cpu_start, 1),
        "steps": steps,
        "full_epochs": epochs,
        "words_seen": words,
        "optimizer": optimizer,
    }


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def predict(nlp: spacy.Language, texts: list[str]) -> list[list[Span]]:
    return [
        [(e.start_char, e.end_char, LABEL_MAP[e.label_]) for e in doc.ents
         if e.label_ in LABEL_MAP]
        for doc in nlp.pipe(texts, batch_size=256)
    ]


def evaluate(nlp: spacy.Language, rows: list[dict]) -> dict:
    gold = [[tuple(s) for s in row["spans"]] for row in rows]
    pred = predict(nlp, [row["text"] for row in rows])
    scores = score(gold, pred, labels=SCORED)
    return {
        label: {
            "precision": round(prf.precision, 4),
            "recall": round(prf.recall, 4),
            "f1": round(prf.f1, 4),
            "support": prf.support,
        }
        for label, prf in scores.per_label.items()
        if label in SCORED
    }


def throughput(nlp: spacy.Language, texts: list[str], rounds: int) -> dict:
    list(nlp.pipe(texts[:512], batch_size=256))  # warm-up
    best_pipe = best_single = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for _doc in nlp.pipe(texts, batch_size=256):
            pass
        best_pipe = min(best_pipe, time.process_time() - t0)
        t0 = time.process_time()
        for text in texts:
            nlp(text)
        best_single = min(best_single, time.process_time() - t0)
    return {
        "texts": len(texts),
        "rounds": rounds,
        "pipe_batch256_texts_per_s": round(len(texts) / best_pipe, 1),
        "one_by_one_texts_per_s": round(len(texts) / best_single, 1),
    }


def cold_load_s(model_dir: Path) -> float:
    """``import spacy`` + ``spacy.load`` in a fresh interpreter, wall seconds."""
    code = (
        "import time; t=time.perf_counter(); import spacy; "
        f"spacy.load({str(model_dir)!r}); print(time.perf_counter()-t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget-min", type=float, default=12.0,
                    help="wall-clock training budget in minutes (default 12)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--width", type=int, default=96)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--embed-size", type=int, default=4000)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--rounds", type=int, default=3, help="throughput rounds (best of)")
    ap.add_argument("--keep", type=Path, help="also copy the trained model here")
    args = ap.parse_args()

    fix_random_seed(args.seed)
    nlp = build_nlp(args.width, args.depth, args.embed_size)
    train_rows = read_jsonl(DATA / "en-conll2003-train.jsonl.gz")
    docbin = to_docbin(nlp, train_rows)
    examples = [
        Example(nlp.make_doc(ref.text), ref) for ref in docbin.get_docs(nlp.vocab)
    ]
    log(f"{len(examples)} training examples; budget {args.budget_min} min")
    info = train(nlp, examples, args.budget_min * 60, args.seed, args.dropout)
    optimizer = info.pop("optimizer")

    with tempfile.TemporaryDirectory(prefix="ner-spacy-") as tmp:
        model_dir = Path(tmp) / "model"
        with nlp.use_params(optimizer.averages):
            nlp.to_disk(model_dir)
        if args.keep:
            shutil.copytree(model_dir, args.keep, dirs_exist_ok=True)
        size = dir_size(model_dir)
        t0 = time.perf_counter()
        loaded = spacy.load(model_dir)
        load_s = time.perf_counter() - t0
        cold_s = cold_load_s(model_dir)

        dev = read_jsonl(DATA / "en-conll2003-dev.jsonl.gz")
        wnut = read_jsonl(DATA / "en-wnut17-dev.jsonl.gz")
        log("scoring")
        result = {
            "spacy": spacy.__version__,
            "config": {
                "width": args.width, "depth": args.depth, "embed_size": args.embed_size,
                "dropout": args.dropout, "seed": args.seed, "budget_min": args.budget_min,
                "train": "en-conll2003-train",
            },
            "training": info,
            "model_bytes": size,
            "model_mb": round(size / 1e6, 2),
            "load_s": round(load_s, 3),
            "cold_import_and_load_s": round(cold_s, 3),
            "scores": {
                "en-conll2003-dev": evaluate(loaded, dev),
                "en-wnut17-dev": evaluate(loaded, wnut),
            },
        }
        log("throughput")
        result["throughput_conll_dev"] = throughput(
            loaded, [row["text"] for row in dev], args.rounds
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
