"""Benchmark confida.pii against Presidio and DataFog's regex engine on labelled sets.

Usage (from the repository root)::

    pip install -e '.[bench]'        # presidio-analyzer and datafog, for the comparison
    python bench/pii.py [--data PATH] [--limit N] [--repeat R] [--lowercase]
    python bench/pii.py --ner-dev [DIR] [--limit N] [--repeat R]
    python bench/pii.py --presidio-synth PATH [--limit N] [--repeat R]

Engines:

- ``confida``: ``detect(text)`` as shipped, ``names="model"`` -- the trained name and place
  tagger merged with the rules (``CONFIDA_PII_MODEL`` names another model file);
- ``confida-rules``: ``detect(text, names="rules")``, the rules and lexicons alone;
- ``presidio``: Presidio's AnalyzerEngine with its predefined English recognizers.  When spaCy's
  ``en_core_web_sm`` is installed it is Presidio's NLP engine (NER PERSON/LOCATION/DATE);
  otherwise Presidio runs on a blank spaCy ``en`` pipeline (pattern/checksum recognizers only).
  The run prints which.  Its NER-only types without a Confida label (ORGANIZATION, NRP) are
  dropped from its output;
- ``datafog``: DataFog's RegexAnnotator (default run only).

Modes:

- default: ``shared/data/pii-dev.jsonl`` (or ``--data``), all labels, all four engines; the
  summary gives each engine's micro-F1, redaction recall, texts/s and the speed ratio of
  ``confida`` (model) over it.
- ``--ner-dev [DIR]`` (default ``shared/data/ner``): the tagger's development sets
  (``confida.pii.ner_training.dev_sets``, GermEval's held-out third included); PERSON and
  LOCATION only, on both the gold and the predicted side.  Presidio is scored on the English
  sets, and only when it has a spaCy NER model.  Throughput is measured on all dev texts
  together (the first N with ``--limit``; scores always use the full sets).
- ``--presidio-synth PATH``: Presidio's synthetic set (presidio-research
  ``data/synth_dataset_v2.json``: a JSON list of ``{"full_text", "spans": [{"entity_type",
  "start_position", "end_position", ...}]}``; JSON Lines and ``.gz`` are read too).  Entity
  types are mapped onto Confida labels:

      PERSON                                            -> PERSON
      STREET_ADDRESS, GPE, LOCATION, ZIP_CODE           -> LOCATION
      EMAIL_ADDRESS                                     -> EMAIL
      PHONE_NUMBER                                      -> PHONE
      CREDIT_CARD                                       -> CREDIT_CARD
      IBAN_CODE                                         -> IBAN
      IP_ADDRESS                                        -> IP_ADDRESS
      US_SSN, UK_NHS, US_DRIVER_LICENSE, US_PASSPORT,
      US_ITIN                                           -> NATIONAL_ID
      DATE_TIME                                         -> DATE
      URL                                               -> URL

  Every other type (ORGANIZATION, TITLE, AGE, NRP, ...) has no Confida counterpart and is
  dropped; predictions are scored on Confida's labels only, so no engine is charged for a type
  the gold no longer marks.  Gold spans of the same mapped label separated only by whitespace
  and commas are merged into one (an address written as STREET_ADDRESS, GPE and ZIP_CODE spans
  is one LOCATION for Confida, as in pii-dev).  ``--limit`` takes the first N records.

Scoring is :func:`confida.pii.scoring.score` (shared/data/README.md): a prediction matches a
gold span when the labels agree and the overlap is at least half of the longer span
(one-to-one); redaction recall is the share of gold PII characters covered by any prediction,
whatever its label.  Throughput is measured on the same texts for all engines, detection only,
in CPU time (process time), best of interleaved rounds after a warm-up pass.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from confida.pii import detect  # noqa: E402
from confida.pii.scoring import Scores, score  # noqa: E402

Span = tuple[int, int, str]
Engine = Callable[[str], list[Span]]
LABELS = ("PERSON", "EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "LOCATION",
          "NATIONAL_ID", "URL", "DATE")
NER_LABELS = ("PERSON", "LOCATION")
SPACY_MODEL = "en_core_web_sm"

PRESIDIO_MAP = {
    "PERSON": "PERSON", "EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD", "IBAN_CODE": "IBAN", "IP_ADDRESS": "IP_ADDRESS",
    "LOCATION": "LOCATION", "GPE": "LOCATION", "URL": "URL", "DATE_TIME": "DATE",
    "US_SSN": "NATIONAL_ID", "UK_NINO": "NATIONAL_ID", "UK_NHS": "NATIONAL_ID",
    "ES_NIF": "NATIONAL_ID", "ES_NIE": "NATIONAL_ID", "IT_FISCAL_CODE": "NATIONAL_ID",
    "PL_PESEL": "NATIONAL_ID", "US_ITIN": "NATIONAL_ID", "US_PASSPORT": "NATIONAL_ID",
    "US_DRIVER_LICENSE": "NATIONAL_ID",
}
#: Presidio's NER-only types that no Confida label (and no gold set here) corresponds to.
PRESIDIO_IGNORED = frozenset({"ORGANIZATION", "NRP"})
DATAFOG_MAP = {
    "EMAIL": "EMAIL", "PHONE": "PHONE", "SSN": "NATIONAL_ID", "CREDIT_CARD": "CREDIT_CARD",
    "IP_ADDRESS": "IP_ADDRESS", "DOB": "DATE", "ZIP": "LOCATION", "DE_VAT_ID": "VAT_ID",
    "DE_IBAN": "IBAN", "DE_TAX_ID": "NATIONAL_ID", "DE_SOCIAL_SECURITY_NUMBER": "NATIONAL_ID",
    "DE_POSTAL_CODE": "LOCATION", "DE_PASSPORT_NUMBER": "NATIONAL_ID",
    "DE_RESIDENCE_PERMIT_NUMBER": "NATIONAL_ID",
}
#: presidio-research entity types -> Confida labels (the table in the module docstring).
SYNTH_MAP = {
    "PERSON": "PERSON",
    "STREET_ADDRESS": "LOCATION", "GPE": "LOCATION", "LOCATION": "LOCATION",
    "ZIP_CODE": "LOCATION",
    "EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN", "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "NATIONAL_ID", "UK_NHS": "NATIONAL_ID", "US_DRIVER_LICENSE": "NATIONAL_ID",
    "US_PASSPORT": "NATIONAL_ID", "US_ITIN": "NATIONAL_ID",
    "DATE_TIME": "DATE", "URL": "URL",
}


# --------------------------------------------------------------------------- engines


def confida_engine(names: str = "model") -> tuple[Engine, str]:
    """Our detector: ``names="model"`` (the default, tagger + rules) or ``"rules"``."""
    if names == "rules":
        note = "names='rules': rules and lexicons only"
    else:
        try:
            from confida.pii.ner_tagger import model_path

            where = str(model_path())
        except ImportError:
            where = "shipped model"
        note = f"names='model': tagger ({where}) merged with the rules"

    def run(text: str) -> list[Span]:
        return [(f.start, f.end, f.label) for f in detect(text, names=names)]

    return run, note


def confida_engines() -> list[tuple[str, Engine, str]] | None:
    """``confida`` and ``confida-rules``; None (with a message) when the model cannot load."""
    out = []
    for name, mode in (("confida", "model"), ("confida-rules", "rules")):
        run, note = confida_engine(mode)
        try:
            run("Anna Schmidt lives in Berlin.")  # loads the tagger now, not in a timed round
        except Exception as exc:  # a missing or unreadable model file
            print(f"{name}: cannot run ({type(exc).__name__}: {exc}); "
                  "set CONFIDA_PII_MODEL to a model file", file=sys.stderr)
            return None
        out.append((name, run, note))
    return out


def _quiet_presidio_logs() -> None:
    """Presidio's URL recognizer asks tldextract to fetch the public suffix list; there is no
    network here, it falls back to its bundled copy, but logs a traceback first."""
    for name in ("tldextract", "presidio-analyzer", "filelock", "urllib3"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _spacy_ner_model(spacy) -> tuple[str | None, str]:  # type: ignore[no-untyped-def]
    """(what Presidio should load, why) for spaCy's small English pipeline, if installed.

    Presidio loads a model by package name or path (and tries to download a name that is
    not an installed package), so a pipeline that loads but is not a package goes by path.
    """
    try:
        nlp = spacy.load(SPACY_MODEL)
    except Exception as exc:  # OSError E050 when not installed; version mismatches
        return None, f"{SPACY_MODEL} not loadable: {type(exc).__name__}"
    if "ner" not in nlp.pipe_names:
        return None, f"{SPACY_MODEL} has no 'ner' component"
    version = nlp.meta.get("version", "?")
    if spacy.util.is_package(SPACY_MODEL):
        return SPACY_MODEL, version
    model_dir = Path(tempfile.mkdtemp(prefix="presidio-en-sm-"))
    nlp.to_disk(model_dir)
    return str(model_dir), version


def presidio_engine() -> tuple[Engine, str, bool] | None:
    """Presidio's AnalyzerEngine with its predefined English recognizers: (run, note, has_ner).

    No spaCy English pipeline is installed from PyPI by this project (only unofficial
    re-uploads exist there).  If ``en_core_web_sm`` is installed anyway, it is Presidio's NLP
    engine and Presidio has NER PERSON/LOCATION/DATE; otherwise Presidio runs on a blank spaCy
    'en' pipeline: all its pattern/checksum recognizers work, its NER-based types do not.
    """
    try:
        import spacy
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
    except ImportError:
        return None
    _quiet_presidio_logs()
    model, why = _spacy_ner_model(spacy)
    if model is not None:
        has_ner = True
        config_note = (f"spaCy '{SPACY_MODEL}' {why} (NER PERSON/LOCATION), "
                       "predefined English recognizers")
    else:
        has_ner = False
        config_note = ("blank spaCy 'en' pipeline (no NER model), predefined English "
                       f"recognizers [{why}]")
        model_dir = Path(tempfile.mkdtemp(prefix="presidio-blank-en-"))
        spacy.blank("en").to_disk(model_dir)
        model = str(model_dir)
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": model}],
    })
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])

    def run(text: str) -> list[Span]:
        return [(r.start, r.end, PRESIDIO_MAP.get(r.entity_type, r.entity_type))
                for r in engine.analyze(text=text, language="en")
                if r.entity_type not in PRESIDIO_IGNORED]

    return run, config_note, has_ner


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


# --------------------------------------------------------------------------- timing, printing


def timed_runs(engines: list[tuple[str, Engine, str]], texts: list[str],
               repeat: int) -> dict[str, tuple[float, list]]:
    """Best-of-``repeat`` CPU seconds per engine, and each engine's predictions.

    CPU time of this process, not wall time: on a shared machine other jobs stretch wall
    time unevenly, while the CPU an engine spends on the texts is what it costs.

    Rounds are interleaved (A, B, C, A, B, C, ...) so that a shared machine's changing load
    hits all engines alike; every engine is warmed up on the whole set first, so one-time
    costs (compiling patterns, loading metadata) are not timed.  Presidio, far slower, gets
    at most three timed rounds.
    """
    preds: dict[str, list] = {}
    for name, run, _ in engines:
        preds[name] = [run(t) for t in texts]
    best = {name: float("inf") for name, _, _ in engines}
    for r in range(repeat):
        for name, run, _ in engines:
            if name == "presidio" and r >= 3:
                continue
            t0 = time.process_time()
            for t in texts:
                run(t)
            best[name] = min(best[name], time.process_time() - t0)
    return {name: (best[name], preds[name]) for name, _, _ in engines}


def _rate(n: float, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def _ratio(a: float, b: float) -> str:
    """'x3.2': how many times ``a`` is of ``b`` (two decimals below 1)."""
    if not b or b == float("inf"):
        return "n/a"
    r = a / b
    return f"x{r:.2f}" if r < 1 else f"x{r:.1f}"


@dataclass
class Result:
    """One engine's scores and throughput on one set."""

    note: str
    scores: Scores
    tps: float
    mbs: float


def compare(engines: list[tuple[str, Engine, str]], texts: list[str],
            gold: list[list[Span]], repeat: int,
            labels: Iterable[str] | None = None) -> dict[str, Result]:
    """Time and score every engine on ``texts``."""
    keep = frozenset(labels) if labels is not None else None

    def kept(spans: list[list[Span]]) -> list[list[Span]]:
        # filtered here rather than by score(labels=...), so that the per-label table lists
        # only the labels that occur, not every kept label with zeros
        return spans if keep is None else [[s for s in ss if s[2] in keep] for ss in spans]

    nbytes = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
    timings = timed_runs(engines, texts, repeat)
    results = {}
    for name, _, note in engines:
        seconds, preds = timings[name]
        results[name] = Result(note, score(kept(gold), kept(preds)),
                               _rate(len(texts), seconds), _rate(nbytes, seconds) / 1e6)
    return results


def _label_order(lab: str) -> tuple[bool, str]:
    return lab not in LABELS, lab


def print_results(results: dict[str, Result]) -> None:
    """Per-label table, micro figures, redaction recall and throughput of each engine."""
    for name, res in results.items():
        print(f"\n== {name}  [{res.note}]")
        print(f"  {'label':<12} {'prec':>6} {'rec':>6} {'f1':>6} {'gold':>5}")
        for lab in sorted(res.scores.per_label, key=_label_order):
            v = res.scores.per_label[lab]
            print(f"  {lab:<12} {v.precision:6.3f} {v.recall:6.3f} {v.f1:6.3f} {v.support:5d}")
        m = res.scores.micro
        print(f"  micro        {m.precision:6.3f} {m.recall:6.3f} {m.f1:6.3f}")
        print(f"  redaction recall {res.scores.redaction_recall:.3f}")
        print(f"  throughput {res.tps:,.0f} texts/s, {res.mbs:.2f} MB/s (CPU time)")


def print_summary(results: dict[str, Result]) -> None:
    """Micro-F1, redaction recall, texts/s and confida's (model) speed ratio over each engine."""
    ours = results["confida"]
    print("\n== summary")
    print(f"  {'engine':<14} {'micro-F1':>8} {'red.rec':>8} {'texts/s':>10} "
          f"{'confida speed / engine':>23}")
    for name, res in results.items():
        ratio = _ratio(ours.tps, res.tps) if name != "confida" else ""
        print(f"  {name:<14} {res.scores.micro.f1:8.3f} {res.scores.redaction_recall:8.3f} "
              f"{res.tps:10,.0f} {ratio:>23}".rstrip())


# --------------------------------------------------------------------------- default: pii-dev


def _lowered(rows: list[dict]) -> list[dict]:
    """The rows in lower case, as chat users often type; gold offsets stay valid only where
    lower-casing keeps the length, so other rows are left out."""
    return [{**r, "text": r["text"].lower()} for r in rows
            if len(r["text"].lower()) == len(r["text"])]


def _add_presidio(engines: list[tuple[str, Engine, str]]) -> None:
    """Presidio as one more engine, or a note saying how to install it."""
    made = presidio_engine()
    if made is None:
        print("presidio: not installed -- pip install -e '.[bench]' to compare")
    else:
        print(f"presidio: {made[1]}")
        engines.append(("presidio", made[0], made[1]))


def run_pii_dev(path: Path, limit: int, repeat: int, lowercase: bool = False) -> int:
    """All labels of the chat-message dev set, all engines (``lowercase``: the same texts in
    lower case, a test of names without capitals on text no template of ours wrote)."""
    if not path.exists():
        print(f"data file not found: {path} (give --data PATH)", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
    if limit:
        rows = rows[:limit]
    if lowercase:
        rows = _lowered(rows)
    texts = [r["text"] for r in rows]
    gold = [[(s, e, lab) for s, e, lab in r["spans"]] for r in rows]
    print(f"data: {path}{' in lower case' if lowercase else ''} ({len(texts)} texts, "
          f"{sum(len(t.encode()) for t in texts) / 1e3:.1f} kB)")

    engines = confida_engines()
    if engines is None:
        return 2
    _add_presidio(engines)
    made_df = datafog_engine()
    if made_df is None:
        print("datafog: not installed -- pip install -e '.[bench]' to compare")
    else:
        engines.append(("datafog", made_df[0], made_df[1]))

    results = compare(engines, texts, gold, repeat)
    print_results(results)
    print_summary(results)
    return 0


# --------------------------------------------------------------------------- --ner-dev


def _prf_cells(sc: Scores) -> str:
    cells = []
    for lab in NER_LABELS:
        v = sc.per_label[lab]
        cells.append(f"{v.precision:6.3f} {v.recall:6.3f} {v.f1:6.3f}")
    return "   ".join(cells)


def run_ner_dev(data_dir: Path, limit: int, repeat: int) -> int:
    """PERSON and LOCATION on the tagger's dev sets, and throughput on all their texts."""
    from confida.pii.ner_training import dev_sets

    if not data_dir.is_dir():
        print(f"NER data directory not found: {data_dir} (give --ner-dev DIR)", file=sys.stderr)
        return 2
    try:
        sets = list(dev_sets(data_dir))
    except (OSError, ValueError) as exc:
        print(f"cannot read the dev sets in {data_dir}: {exc}", file=sys.stderr)
        return 2
    all_texts = [s.text for _, sents in sets for s in sents]
    print(f"ner-dev: {data_dir} ({len(sets)} sets, {len(all_texts):,} texts); "
          "PERSON and LOCATION only (gold and predictions)")

    engines = confida_engines()
    if engines is None:
        return 2
    made = presidio_engine()
    presidio_ner = False
    if made is None:
        print("presidio: not installed -- pip install -e '.[bench]' to compare")
    else:
        run, note, presidio_ner = made
        print(f"presidio: {note}")
        engines.append(("presidio", run, note))

    timing_texts = all_texts[:limit] if limit else all_texts
    timings = timed_runs(engines, timing_texts, repeat)

    # Predictions per set: the warm-up pass of timed_runs when it saw every text.
    preds: dict[str, list[list[Span]]] = {}
    for name, run, _ in engines:
        if len(timing_texts) == len(all_texts):
            preds[name] = timings[name][1]
        elif name == "presidio" and not presidio_ner:
            continue
        elif name == "presidio":
            preds[name] = [run(s.text) if all(x.lang == "en" for x in sents) else []
                           for _, sents in sets for s in sents]
        else:
            preds[name] = [run(t) for t in all_texts]

    table: dict[str, dict[str, Scores | str]] = {}
    offset = 0
    for set_name, sents in sets:
        n = len(sents)
        gold = [s.spans for s in sents]
        english = all(s.lang == "en" for s in sents)
        langs = ",".join(sorted({s.lang for s in sents}))
        row: dict[str, Scores | str] = {}
        for name, _, _ in engines:
            if name == "presidio" and not presidio_ner:
                row[name] = "n/a (no spaCy NER model installed)"
            elif name == "presidio" and not english:
                row[name] = "n/a (English pipeline; not scored on this language)"
            else:
                row[name] = score(gold, preds[name][offset:offset + n], labels=NER_LABELS)
        if made is None:
            row["presidio"] = "n/a (not installed)"
        offset += n
        table[set_name] = row

        first = next(v for v in row.values() if isinstance(v, Scores))
        support = ", ".join(f"{lab} {first.per_label[lab].support}" for lab in NER_LABELS)
        print(f"\n== {set_name}  ({n:,} texts, {langs}; gold {support})")
        print(f"  {'engine':<14} {'PER-P':>6} {'PER-R':>6} {'PER-F1':>6}   "
              f"{'LOC-P':>6} {'LOC-R':>6} {'LOC-F1':>6}")
        for name, v in row.items():
            if isinstance(v, Scores):
                print(f"  {name:<14} {_prf_cells(v)}")
            else:
                print(f"  {name}: {v}")

    nbytes = sum(len(t.encode("utf-8", "surrogatepass")) for t in timing_texts)
    rounds = f"best of {repeat} interleaved rounds"
    if made is not None and repeat > 3:
        rounds += " (presidio: 3)"
    print(f"\n== throughput: {len(timing_texts):,} dev texts together "
          f"({nbytes / 1e6:.2f} MB), CPU time, {rounds} after a warm-up pass")
    tps = {}
    for name, _, note in engines:
        seconds = timings[name][0]
        tps[name] = _rate(len(timing_texts), seconds)
        print(f"  {name:<14} {tps[name]:10,.0f} texts/s {_rate(nbytes, seconds) / 1e6:6.2f} MB/s"
              f"  [{note}]")
    for other in ("presidio", "confida-rules"):
        if other in tps:
            print(f"  confida / {other}: {_ratio(tps['confida'], tps[other])} (texts/s)")

    names = ["confida", "confida-rules", "presidio"]
    width = max(len(s) for s in table)
    print("\n== summary: F1, PERSON / LOCATION")
    print((f"  {'set':<{width}}  " + "  ".join(f"{n:<13}" for n in names)).rstrip())
    for set_name, row in table.items():
        cells = []
        for name in names:
            v = row.get(name)
            if isinstance(v, Scores):
                cells.append(f"{v.per_label['PERSON'].f1:.3f} / {v.per_label['LOCATION'].f1:.3f}")
            else:
                cells.append("n/a")
        print((f"  {set_name:<{width}}  " + "  ".join(f"{c:<13}" for c in cells)).rstrip())
    return 0


# --------------------------------------------------------------------------- --presidio-synth


@dataclass
class SynthSet:
    """Presidio's synthetic records mapped onto Confida labels."""

    texts: list[str] = field(default_factory=list)
    gold: list[list[Span]] = field(default_factory=list)
    kept: Counter[str] = field(default_factory=Counter)  # mapped spans per label, pre-merge
    dropped: Counter[str] = field(default_factory=Counter)  # source types with no counterpart
    merged: Counter[str] = field(default_factory=Counter)  # spans absorbed by merging, per label
    bad_spans: int = 0  # spans without usable offsets, or outside their text
    bad_records: int = 0  # records without a text


def read_synth_records(path: str | Path) -> list[dict]:
    """The records of a presidio-research file: a JSON list (the published format), a JSON
    object holding that list, or JSON Lines; optionally gzipped."""
    p = Path(path)
    raw = gzip.open(p, "rt", encoding="utf-8-sig").read() if p.suffix == ".gz" \
        else p.read_text("utf-8-sig")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        data = [json.loads(line) for line in raw.splitlines() if line.strip()]
    if isinstance(data, dict):
        lists = [v for k, v in data.items() if isinstance(v, list) and k != "spans"]
        data = lists[0] if len(lists) == 1 else [data]
    if not isinstance(data, list):
        raise ValueError(f"{p}: expected a JSON list of records")
    return data


def _offset(span: dict, *keys: str) -> int | None:
    for k in keys:
        v = span.get(k)
        if isinstance(v, int | float | str) and not isinstance(v, bool):
            try:
                return int(v)
            except ValueError:
                return None
    return None


def map_synth_record(record: object) -> tuple[str, list[Span], Counter[str], int] | None:
    """(text, mapped spans, dropped types, bad spans) of one record; None without a text."""
    if not isinstance(record, dict):
        return None
    text = record.get("full_text", record.get("text"))
    if not isinstance(text, str):
        return None
    spans: list[Span] = []
    dropped: Counter[str] = Counter()
    bad = 0
    for sp in record.get("spans") or ():
        if not isinstance(sp, dict):
            bad += 1
            continue
        etype = str(sp.get("entity_type", sp.get("label", ""))).strip().upper()
        start = _offset(sp, "start_position", "start")
        end = _offset(sp, "end_position", "end")
        if start is None or end is None or not 0 <= start < end <= len(text):
            bad += 1
            continue
        label = SYNTH_MAP.get(etype)
        if label is None:
            dropped[etype or "?"] += 1
        else:
            spans.append((start, end, label))
    return text, sorted(spans), dropped, bad


def merge_adjacent(text: str, spans: Sequence[Span]) -> list[Span]:
    """Merge spans of the same label that overlap or are separated only by whitespace and
    commas ("12 Main St" + ", " + "Springfield" + " " + "62704" -> one LOCATION)."""
    out: list[Span] = []
    for s, e, lab in sorted(spans):
        if out and out[-1][2] == lab:
            ps, pe, _ = out[-1]
            if s <= pe or all(c.isspace() or c == "," for c in text[pe:s]):
                out[-1] = (ps, max(pe, e), lab)
                continue
        out.append((s, e, lab))
    return out


def load_presidio_synth(path: str | Path, limit: int = 0) -> SynthSet:
    """Read, map and merge Presidio's synthetic set (the first ``limit`` records if given)."""
    records = read_synth_records(path)
    if limit:
        records = records[:limit]
    out = SynthSet()
    for rec in records:
        mapped = map_synth_record(rec)
        if mapped is None:
            out.bad_records += 1
            continue
        text, spans, dropped, bad = mapped
        merged = merge_adjacent(text, spans)
        out.kept.update(lab for _, _, lab in spans)
        out.merged.update(Counter(lab for _, _, lab in spans)
                          - Counter(lab for _, _, lab in merged))
        out.dropped.update(dropped)
        out.bad_spans += bad
        out.texts.append(text)
        out.gold.append(merged)
    return out


def run_presidio_synth(path: Path, limit: int, repeat: int) -> int:
    """Presidio's synthetic set on Confida's labels: confida, confida-rules and Presidio."""
    if not path.exists():
        print(f"file not found: {path} (presidio-research data/synth_dataset_v2.json)",
              file=sys.stderr)
        return 2
    try:
        synth = load_presidio_synth(path, limit)
    except (OSError, ValueError) as exc:
        print(f"cannot read {path}: {exc}", file=sys.stderr)
        return 2
    if not synth.texts:
        print(f"{path}: no records with a text", file=sys.stderr)
        return 2
    n_gold = sum(len(g) for g in synth.gold)
    print(f"presidio-synth: {path} ({len(synth.texts):,} texts, {n_gold:,} gold spans on "
          "Confida labels)")
    print("  entity types mapped onto Confida labels (see the module docstring); kept: "
          + ", ".join(f"{lab} {n}" for lab, n in sorted(synth.kept.items(), key=lambda x:
                                                           _label_order(x[0]))))
    print("  dropped (no Confida counterpart): "
          + (", ".join(f"{t} {n}" for t, n in synth.dropped.most_common()) or "none"))
    merged = sum(synth.merged.values())
    print(f"  merged: gold spans of one label separated only by whitespace/commas count as one "
          f"span ({merged} spans absorbed"
          + (": " + ", ".join(f"{lab} {n}" for lab, n in synth.merged.most_common())
             if merged else "") + ")")
    if synth.bad_spans or synth.bad_records:
        print(f"  skipped: {synth.bad_spans} spans with bad offsets, "
              f"{synth.bad_records} records without a text")
    print("  scored on Confida's labels only (predictions of other labels are ignored)")

    engines = confida_engines()
    if engines is None:
        return 2
    _add_presidio(engines)
    results = compare(engines, synth.texts, synth.gold, repeat, labels=LABELS)
    print_results(results)
    print_summary(results)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/pii-dev.jsonl")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--ner-dev", type=Path, nargs="?", const=ROOT.parent / "shared/data/ner",
                      default=None, metavar="DIR",
                      help="PERSON/LOCATION on the tagger's dev sets (default: %(const)s)")
    mode.add_argument("--presidio-synth", type=Path, default=None, metavar="PATH",
                      help="Presidio's synthetic set (presidio-research synth_dataset_v2.json)")
    parser.add_argument("--limit", type=int, default=0,
                        help="only the first N texts (--ner-dev: of the timed texts)")
    parser.add_argument("--repeat", type=int, default=5, help="timing rounds (best is kept)")
    parser.add_argument("--lowercase", action="store_true",
                        help="default mode: the texts in lower case, as chat users type")
    args = parser.parse_args()
    repeat = max(1, args.repeat)
    if args.ner_dev is not None:
        return run_ner_dev(args.ner_dev, args.limit, repeat)
    if args.presidio_synth is not None:
        return run_presidio_synth(args.presidio_synth, args.limit, repeat)
    return run_pii_dev(args.data, args.limit, repeat, args.lowercase)


if __name__ == "__main__":
    raise SystemExit(main())
