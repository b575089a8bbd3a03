"""Benchmark confida.pii against Presidio and DataFog's regex engine on a labelled set.

Usage (from the repository root)::

    pip install -e '.[bench]'        # presidio-analyzer and datafog, for the comparison
    python bench/pii.py [--data PATH] [--limit N] [--repeat R]

Scoring follows shared/data/README.md: a prediction matches a gold span when the labels agree
and the overlap is at least half of the longer span (one-to-one); redaction recall is the
share of gold PII characters covered by any prediction, whatever its label.  Throughput is
measured on the same texts for all engines, detection only, after one warm-up call.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from confida.pii import detect  # noqa: E402

Span = tuple[int, int, str]
Engine = Callable[[str], list[Span]]
LABELS = ("PERSON", "EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "LOCATION",
          "NATIONAL_ID", "URL", "DATE")

PRESIDIO_MAP = {
    "PERSON": "PERSON", "EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD", "IBAN_CODE": "IBAN", "IP_ADDRESS": "IP_ADDRESS",
    "LOCATION": "LOCATION", "GPE": "LOCATION", "URL": "URL", "DATE_TIME": "DATE",
    "US_SSN": "NATIONAL_ID", "UK_NINO": "NATIONAL_ID", "UK_NHS": "NATIONAL_ID",
    "ES_NIF": "NATIONAL_ID", "ES_NIE": "NATIONAL_ID", "IT_FISCAL_CODE": "NATIONAL_ID",
    "PL_PESEL": "NATIONAL_ID", "US_ITIN": "NATIONAL_ID", "US_PASSPORT": "NATIONAL_ID",
    "US_DRIVER_LICENSE": "NATIONAL_ID",
}
DATAFOG_MAP = {
    "EMAIL": "EMAIL", "PHONE": "PHONE", "SSN": "NATIONAL_ID", "CREDIT_CARD": "CREDIT_CARD",
    "IP_ADDRESS": "IP_ADDRESS", "DOB": "DATE", "ZIP": "LOCATION", "DE_VAT_ID": "VAT_ID",
    "DE_IBAN": "IBAN", "DE_TAX_ID": "NATIONAL_ID", "DE_SOCIAL_SECURITY_NUMBER": "NATIONAL_ID",
    "DE_POSTAL_CODE": "LOCATION", "DE_PASSPORT_NUMBER": "NATIONAL_ID",
    "DE_RESIDENCE_PERMIT_NUMBER": "NATIONAL_ID",
}


def confida_engine() -> tuple[Engine, str]:
    """Our detector, as shipped (rules only, no NER backend)."""
    return (lambda t: [(f.start, f.end, f.label) for f in detect(t)]), "rules, no model"


def presidio_engine() -> tuple[Engine, str] | None:
    """Presidio's AnalyzerEngine with its predefined English recognizers.

    No spaCy English pipeline is installed from PyPI by this project (only unofficial
    re-uploads exist there), so Presidio runs on a blank spaCy 'en' pipeline: all its
    pattern/checksum recognizers work, its NER-based PERSON/LOCATION/DATE do not.
    """
    try:
        import spacy
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
    except ImportError:
        return None
    config_note = "blank spaCy 'en' pipeline (no NER model), predefined English recognizers"
    model_dir = Path(tempfile.mkdtemp(prefix="presidio-blank-en-"))
    spacy.blank("en").to_disk(model_dir)
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": str(model_dir)}],
    })
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])

    def run(text: str) -> list[Span]:
        return [(r.start, r.end, PRESIDIO_MAP.get(r.entity_type, r.entity_type))
                for r in engine.analyze(text=text, language="en")]

    return run, config_note


def datafog_engine() -> tuple[Engine, str] | None:
    """DataFog's RegexAnnotator (its regex engine), base labels plus the German ones."""
    try:
        from datafog.processing.text_processing.regex_annotator.regex_annotator import (
            RegexAnnotator,
        )
    except ImportError:
        return None
    ann = RegexAnnotator(locales="de")

    def run(text: str) -> list[Span]:
        _, res = ann.annotate_with_spans(text)
        return [(s.start, s.end, DATAFOG_MAP.get(s.label, s.label)) for s in res.spans]

    return run, "RegexAnnotator(locales='de'): base + German regex labels"


def _overlap(a: Span, b: Span) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def score(gold: list[list[Span]], pred: list[list[Span]]) -> dict[str, object]:
    """Per-label and micro precision/recall/F1, plus redaction recall."""
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, int] = defaultdict(int)
    fn: dict[str, int] = defaultdict(int)
    covered = total = 0
    for g_spans, p_spans in zip(gold, pred, strict=True):
        used: set[int] = set()
        for g in g_spans:
            hit = -1
            for i, p in enumerate(p_spans):
                if i in used or p[2] != g[2]:
                    continue
                longer = max(g[1] - g[0], p[1] - p[0])
                if _overlap(g, p) * 2 >= longer:
                    hit = i
                    break
            if hit >= 0:
                used.add(hit)
                tp[g[2]] += 1
            else:
                fn[g[2]] += 1
        for i, p in enumerate(p_spans):
            if i not in used:
                fp[p[2]] += 1
        for g in g_spans:
            total += g[1] - g[0]
            mask = [False] * (g[1] - g[0])
            for p in p_spans:
                for k in range(max(g[0], p[0]), min(g[1], p[1])):
                    mask[k - g[0]] = True
            covered += sum(mask)

    def prf(t: int, f_p: int, f_n: int) -> tuple[float, float, float]:
        p = t / (t + f_p) if t + f_p else 0.0
        r = t / (t + f_n) if t + f_n else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    labels = sorted(set(tp) | set(fp) | set(fn), key=lambda x: (x not in LABELS, x))
    per = {lab: (*prf(tp[lab], fp[lab], fn[lab]), tp[lab] + fn[lab]) for lab in labels}
    micro = prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    return {"per": per, "micro": micro, "redaction_recall": covered / total if total else 1.0}


def throughput(engine: Engine, texts: list[str], repeat: int) -> tuple[float, float, list]:
    """Best-of-``repeat`` texts/s and MB/s, and the predictions of the last run."""
    engine(texts[0])
    nbytes = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
    best = float("inf")
    preds: list = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        preds = [engine(t) for t in texts]
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best, nbytes / best / 1e6, preds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/pii-dev.jsonl")
    parser.add_argument("--limit", type=int, default=0, help="only the first N texts")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs (best is kept)")
    args = parser.parse_args()
    if not args.data.exists():
        print(f"data file not found: {args.data} (give --data PATH)", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in args.data.read_text("utf-8").splitlines() if line]
    if args.limit:
        rows = rows[: args.limit]
    texts = [r["text"] for r in rows]
    gold = [[(s, e, lab) for s, e, lab in r["spans"]] for r in rows]
    print(f"data: {args.data} ({len(texts)} texts, "
          f"{sum(len(t.encode()) for t in texts) / 1e3:.1f} kB)")

    engines: list[tuple[str, Engine, str]] = []
    run, note = confida_engine()
    engines.append(("confida", run, note))
    for name, factory in (("presidio", presidio_engine), ("datafog", datafog_engine)):
        made = factory()
        if made is None:
            print(f"{name}: not installed -- pip install -e '.[bench]' to compare")
            continue
        engines.append((name, made[0], made[1]))

    results: dict[str, dict[str, object]] = {}
    for name, run, note in engines:
        tps, mbs, preds = throughput(run, texts, args.repeat if name != "presidio" else 1)
        res = score(gold, preds)
        res.update(tps=tps, mbs=mbs, note=note)
        results[name] = res

    for name, res in results.items():
        print(f"\n== {name}  [{res['note']}]")
        print(f"  {'label':<12} {'prec':>6} {'rec':>6} {'f1':>6} {'gold':>5}")
        for lab, (p, r, f, n) in res["per"].items():  # type: ignore[union-attr]
            print(f"  {lab:<12} {p:6.3f} {r:6.3f} {f:6.3f} {n:5d}")
        mp, mr, mf = res["micro"]  # type: ignore[misc]
        print(f"  micro        {mp:6.3f} {mr:6.3f} {mf:6.3f}")
        print(f"  redaction recall {res['redaction_recall']:.3f}")
        print(f"  throughput {res['tps']:,.0f} texts/s, {res['mbs']:.2f} MB/s")

    ours = results["confida"]
    print("\n== summary")
    print(f"  {'engine':<10} {'micro-F1':>8} {'red.rec':>8} {'texts/s':>10} "
          f"{'confida is faster by':>21}")
    for name, res in results.items():
        ratio = ours["tps"] / res["tps"]  # type: ignore[operator]
        print(f"  {name:<10} {res['micro'][2]:8.3f} {res['redaction_recall']:8.3f} "  # type: ignore[index]
              f"{res['tps']:10,.0f} {f'x{ratio:.1f}' if name != 'confida' else '':>21}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
