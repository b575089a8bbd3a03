"""``make model``: rebuild the shipped tagger, its frequency table, check sample and card.

    python -m confida.pii.build_model --corpora ../shared/data/ner \
        --output src/confida/pii/model/ner.crfsuite

Steps, each reproducible: the word-frequency table from ``wordfreq``; the CRF from the corpora
with the fixed seed of :class:`confida.pii.ner_training.TrainConfig`; a small check sample
(held-out sentences of the openly licensed sets, shipped beside the model) and the scores on
it and on every development set, written to the card (``ner.json``).  The tests re-score the
check sample with the committed model and compare with the card, so a model file that does not
match its recorded behaviour fails the suite.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from itertools import islice
from pathlib import Path

from confida.pii import ner_training
from confida.pii.ner_corpus import Sentence, read_corpus
from confida.pii.ner_features import CENSUS_FILE, FREQUENCY_FILE
from confida.pii.ner_synth import synthetic
from confida.pii.ner_tagger import Tagger

#: The check sample: openly licensed development sentences (CC BY 4.0: WNUT-17, GermEval-2014;
#: WikiANN from Wikipedia), never used for training, plus synthetic chat text.
CHECK_FILE = "check.jsonl.gz"


def check_sample(corpora: Path) -> list[Sentence]:
    """The sentences of the check sample, in a fixed order."""
    out: list[Sentence] = []
    out += islice(read_corpus(corpora / "en-wnut17-dev.jsonl.gz"), 150)
    out += islice(ner_training.germeval_part(corpora / ner_training.GERMEVAL, held_out=True), 150)
    for lang in ("en", "de", "fr", "nl"):
        out += islice(read_corpus(corpora / f"{lang}-wikiann-dev.jsonl.gz"), 50)
    out += synthetic({"en": 60, "de": 20, "fr": 10, "nl": 10}, seed=99)
    return out


def write_sample(path: Path, sentences: list[Sentence]) -> None:
    """The check sample as gzipped JSONL, byte-reproducible (no timestamp in the gzip header)."""
    lines = "".join(
        json.dumps({"text": s.text, "spans": [list(x) for x in s.spans], "lang": s.lang,
                    "source": s.source}, ensure_ascii=False) + "\n"
        for s in sentences)
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(lines.encode("utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--iterations", type=int, default=ner_training.TrainConfig.max_iterations)
    parser.add_argument("--rescore", action="store_true",
                        help="keep the model; recompute the scores and the card (after a change "
                        "to inference that leaves the weights as they are)")
    args = parser.parse_args(argv)
    if not ner_training.has_corpora(args.corpora):
        print(f"no corpora in {args.corpora}", file=sys.stderr)
        return 2
    cfg = ner_training.TrainConfig(max_iterations=args.iterations)
    if args.rescore:
        old = json.loads(args.output.with_suffix(".json").read_text(encoding="utf-8"))
        n, seconds = old["sentences"], old["train_seconds"]
    else:
        print(f"frequency table: {ner_training.build_frequency_table(FREQUENCY_FILE)} words",
              flush=True)
        print(f"census names: {ner_training.build_census_table(CENSUS_FILE)} words", flush=True)
        started = time.monotonic()
        n = ner_training.train(ner_training.training_sentences(args.corpora, cfg), args.output,
                               cfg, progress=lambda m: print(m, flush=True))
        seconds = time.monotonic() - started
    sample = check_sample(args.corpora)
    write_sample(args.output.with_name(CHECK_FILE), sample)
    scores = ner_training.dev_scores(
        Tagger(args.output).spans, args.corpora, [("check sample", sample)],
        progress=lambda name, result: print(name, json.dumps(result), flush=True))
    ner_training.write_card(args.output.with_suffix(".json"), args.output, cfg, n, seconds,
                            scores)
    print(f"model {args.output} ({args.output.stat().st_size / 1e6:.1f} MB) "
          f"trained on {n} sentences in {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
