"""``confida pii train`` and ``confida pii model``: the name and place tagger.

``train`` builds a tagger from the public corpora (``make model`` runs it to rebuild the shipped
file) and/or from a user's own labelled text, so that a service whose users write in a way no
public corpus does can teach the detector its names.  ``model`` shows what the detector is
using: the file, its hash and the scores recorded when it was trained.  Neither prints any
text from the training data.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from confida.cli.scan import _fail, _global_json
from confida.pii import ner_tagger, ner_training
from confida.pii.ner_corpus import CorpusError, read_corpus

pii_app = typer.Typer(help="The name and place tagger: train one, show the one in use.",
                      no_args_is_help=True)


@pii_app.command("train")
def train(
    ctx: typer.Context,
    data: Annotated[list[Path] | None, typer.Option(
        "--data", help="your labelled JSONL(.gz) file: {text, spans: [[start, end, LABEL]]}; "
        "repeatable")] = None,
    corpora: Annotated[Path | None, typer.Option(
        "--corpora", help="the public corpora directory (shared/data/ner); without it only "
        "--data and the synthetic chat text are used")] = None,
    dev: Annotated[list[Path] | None, typer.Option(
        "--dev", help="labelled file(s) to score the new model on; repeatable")] = None,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="where to write the model; its card goes next to it (.json)")
    ] = Path("ner.crfsuite"),
    iterations: Annotated[int, typer.Option("--iterations", min=1, max=2000,
                                            help="L-BFGS iterations at most")] = 150,
    seed: Annotated[int, typer.Option("--seed", help="seed of every random choice")] = 14,
    no_synthetic: Annotated[bool, typer.Option(
        "--no-synthetic", help="leave out the synthetic chat sentences")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Train a name and place tagger (a CRF) and score it.

    Use it with CONFIDA_PII_MODEL=PATH (server, CLI) or
    detect(text, names=Tagger(PATH)) in Python.
    """
    as_json = as_json or _global_json(ctx)
    err = Console(stderr=True)
    cfg = ner_training.TrainConfig(seed=seed, max_iterations=iterations,
                                   **({"synthetic": {}} if no_synthetic else {}))
    try:
        for p in [*(data or []), *(dev or [])]:
            if not p.is_file():
                raise CorpusError(f"no such file: {p}")
        if corpora is not None and not ner_training.has_corpora(corpora):
            raise CorpusError(f"{corpora} does not hold the corpora "
                              f"(no {ner_training.TRAIN_FILES[0][0]})")
        if corpora is None and not data:
            raise CorpusError("nothing to train on: give --data and/or --corpora")
        started = time.monotonic()
        with err.status("reading the training data") as status:
            n = ner_training.train(
                ner_training.training_sentences(corpora, cfg, data or ()), output, cfg,
                progress=None if as_json else status.update)
        seconds = time.monotonic() - started
        scores = ner_training.dev_scores(
            ner_tagger.Tagger(output).spans, corpora,
            [(p.name, list(read_corpus(p))) for p in dev or []])
    except (CorpusError, ValueError, OSError) as exc:
        raise _fail(exc, as_json) from None
    card = output.with_suffix(".json")
    ner_training.write_card(card, output, cfg, n, seconds, scores,
                            corpora=corpora is not None, extra=data or ())
    if as_json:
        typer.echo(card.read_text(encoding="utf-8"))
        return
    err.print(f"trained on {n} sentences in {seconds:.0f} s: {output} "
              f"({output.stat().st_size / 1e6:.1f} MB), card {card}", highlight=False)
    _print_scores(scores)


def _print_scores(scores: dict[str, object]) -> None:
    from rich.table import Table

    if not scores:
        return
    table = Table("set", "label", "precision", "recall", "F1", "gold")
    for name, per in scores.items():
        for label, v in per.items():  # type: ignore[attr-defined]
            table.add_row(name, label, f"{v['precision']:.3f}", f"{v['recall']:.3f}",
                          f"{v['f1']:.3f}", str(v["support"]))
    Console().print(table)


@pii_app.command("model")
def model(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Show the tagger the detector uses: file, hash, whether the file matches its card, scores."""
    as_json = as_json or _global_json(ctx)
    path = ner_tagger.model_path()
    card_path = path.with_suffix(".json")
    card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
    actual = ner_training.sha256(path) if path.is_file() else None
    info = {"path": str(path), "sha256": actual,
            "matches_card": actual is not None and actual == card.get("sha256"),
            "bytes": path.stat().st_size if path.is_file() else None,
            "scores": card.get("scores", {})}
    if as_json:
        typer.echo(json.dumps(info))
        if not info["matches_card"]:
            raise typer.Exit(1)
        return
    Console().print(f"model: {path}\nsha256: {actual}\nmatches its card: "
                    f"{info['matches_card']}", highlight=False)
    _print_scores(info["scores"])  # type: ignore[arg-type]
    if not info["matches_card"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``pii`` command group to ``app``."""
    app.add_typer(pii_app, name="pii")
