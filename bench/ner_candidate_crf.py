"""Candidate A for docs/pii-model.md: a CRF (python-crfsuite) on the tagger's own features.

The same setting as candidate B (``bench/ner_candidate_spacy.py``): trained on
``en-conll2003-train`` only, scored on ``en-conll2003-dev`` and ``en-wnut17-dev``, throughput
one text at a time in process CPU time on conll dev.  Prints JSON.

Usage (from the repository root)::

    python bench/ner_candidate_crf.py [--iterations 60] [--data ../shared/data/ner]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from confida.pii.ner_corpus import read_corpus  # noqa: E402
from confida.pii.ner_tagger import Tagger  # noqa: E402
from confida.pii.ner_training import TrainConfig, evaluate, train  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/ner")
    parser.add_argument("--iterations", type=int, default=60)
    args = parser.parse_args()
    cfg = TrainConfig(max_iterations=args.iterations, lower_share=0.0, upper_share=0.0,
                      noise_share=0.0, synthetic={})
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "a.crfsuite"
        t0 = time.process_time()
        train(read_corpus(args.data / "en-conll2003-train.jsonl.gz"), model, cfg)
        out["train_cpu_s"] = round(time.process_time() - t0, 1)
        out["model_mb"] = round(model.stat().st_size / 1e6, 2)
        t0 = time.perf_counter()
        tagger = Tagger(model)
        tagger.spans("warm up Anna")
        out["load_s"] = round(time.perf_counter() - t0, 3)
        for name in ("en-conll2003-dev", "en-wnut17-dev"):
            out[name] = evaluate(tagger.spans, list(read_corpus(args.data / f"{name}.jsonl.gz")))
        texts = [s.text for s in read_corpus(args.data / "en-conll2003-dev.jsonl.gz")]
        best = float("inf")
        for _ in range(3):
            t0 = time.process_time()
            for t in texts:
                tagger.spans(t)
            best = min(best, time.process_time() - t0)
        out["texts_per_s_one_by_one"] = round(len(texts) / best)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
