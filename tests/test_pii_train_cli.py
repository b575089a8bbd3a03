"""``confida pii train`` and ``confida pii model`` through Typer's CliRunner: a tagger trained
on a user's own labelled file, its card, reproducibility, its use by ``confida scan`` /
``confida redact`` (``CONFIDA_PII_MODEL``), and errors that never quote the training text."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from confida.cli import app
from confida.pii import detect, ner_tagger
from confida.pii.ner_tagger import Tagger

runner = CliRunner()

FIRST = ["Anna", "Lukas", "Marie", "Jonas", "Sofia", "Elias", "Clara", "Felix", "Nora", "Paul",
         "Greta", "Emil"]
LAST = ["Schmidt", "Weber", "Novak", "Dubois", "Jansen", "Moreau", "Kowalski", "Berger",
        "Lindqvist", "Rossi"]
PLACES = ["Berlin", "Hamburg", "Lyon", "Utrecht", "Vienna", "Porto", "Krakow", "Dublin",
          "Leipzig", "Ghent"]
TEMPLATES = ["my name is {p} and I live in {l}", "{p} moved to {l} last year",
             "hello, this is {p} from {l}", "please ask {p} about the meeting in {l}"]

#: A chat line in lower case, with a name that is in none of the training sentences: the rules
#: (capitals, lexicons, cue words) find nothing in it; the trained tagger finds the person.
CHAT = "please ask marta horvath about the meeting in porto\n"
CHAT_NAME = "marta horvath"

#: Written into bad training lines; no error message may contain it.
PLANTED = "Zq7PlantedSecret"


def sentence(i: int) -> dict[str, Any]:
    """The i-th training sentence with its character spans; every third one in lower case."""
    person = f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]}"
    place = PLACES[(i * 3) % len(PLACES)]
    text = TEMPLATES[i % len(TEMPLATES)].format(p=person, l=place)
    if i % 3 == 2:
        text, person, place = text.lower(), person.lower(), place.lower()
    ps, ls = text.index(person), text.index(place)
    return {"text": text, "spans": sorted([[ps, ps + len(person), "PERSON"],
                                           [ls, ls + len(place), "LOCATION"]])}


def write_data(path: Path, n: int = 60) -> Path:
    rows = [sentence(i) for i in range(n)]
    for r in rows:  # the fixture itself is right: every span covers what it says
        for s, e, _ in r["spans"]:
            assert r["text"][s:e].strip() == r["text"][s:e]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def train(data: Path, out: Path, *extra: str) -> Result:
    return runner.invoke(app, ["pii", "train", "--data", str(data), "--no-synthetic",
                               "--iterations", "10", "-o", str(out), "--json", *extra])


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """(data file, model file, card printed by --json) of one training run, shared."""
    d = tmp_path_factory.mktemp("pii-train")
    data = write_data(d / "mine.jsonl")
    model = d / "m.crfsuite"
    res = train(data, model, "--dev", str(data))
    assert res.exit_code == 0, res.output
    return data, model, json.loads(res.stdout)


@pytest.fixture()
def use_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """CONFIDA_PII_MODEL set by the test; the per-process tagger cache is emptied around it, so
    neither the shipped model nor the test's leaks into another test."""
    ner_tagger.default_tagger.cache_clear()
    yield monkeypatch
    monkeypatch.delenv(ner_tagger.MODEL_ENV, raising=False)
    ner_tagger.default_tagger.cache_clear()


# -- training ---------------------------------------------------------------------------------


def test_train_writes_model_and_card(trained: tuple[Path, Path, dict[str, Any]]) -> None:
    data, model, printed = trained
    card_path = model.with_suffix(".json")
    assert model.is_file() and model.stat().st_size > 0
    assert card_path.is_file()
    card = json.loads(card_path.read_text(encoding="utf-8"))
    assert card == printed  # --json prints the card it wrote
    assert card["sha256"] == sha(model)
    assert card["bytes"] == model.stat().st_size
    assert card["model"] == model.name
    assert card["sentences"] == 60
    assert card["config"]["max_iterations"] == 10 and card["config"]["synthetic"] == {}
    scores = card["scores"][data.name]
    assert scores["PERSON"]["support"] == 60 and scores["LOCATION"]["support"] == 60
    assert scores["PERSON"]["f1"] > 0.8
    assert scores["LOCATION"]["f1"] > 0.8
    # the model itself: a name on its own training data
    assert Tagger(model).spans("hello, this is Anna Schmidt from Berlin") == [
        (15, 27, "PERSON"), (33, 39, "LOCATION")]


def test_training_text_is_not_printed(tmp_path: Path) -> None:
    data = write_data(tmp_path / "mine.jsonl", 12)
    res = runner.invoke(app, ["pii", "train", "--data", str(data), "--no-synthetic",
                              "--iterations", "3", "-o", str(tmp_path / "m.crfsuite")])
    assert res.exit_code == 0, res.output
    assert "trained on 12 sentences" in res.output
    for name in ("Schmidt", "Berlin", "Hamburg", "Weber"):
        assert name not in res.output
    card = (tmp_path / "m.json").read_text(encoding="utf-8")
    assert "Schmidt" not in card and "Berlin" not in card


def test_same_seed_and_data_give_the_same_model(tmp_path: Path) -> None:
    data = write_data(tmp_path / "mine.jsonl")
    a, b = tmp_path / "a" / "m.crfsuite", tmp_path / "b" / "m.crfsuite"
    for out in (a, b):
        res = train(data, out, "--seed", "7")
        assert res.exit_code == 0, res.output
    assert a.read_bytes() == b.read_bytes()
    card_a = json.loads(a.with_suffix(".json").read_text(encoding="utf-8"))
    card_b = json.loads(b.with_suffix(".json").read_text(encoding="utf-8"))
    assert card_a["sha256"] == card_b["sha256"] == sha(a)
    assert card_a["config"] == card_b["config"] and card_a["config"]["seed"] == 7


# -- the trained model in use ----------------------------------------------------------------


def test_trained_model_finds_what_the_rules_miss(
    trained: tuple[Path, Path, dict[str, Any]], tmp_path: Path, use_model: pytest.MonkeyPatch,
) -> None:
    _, model, _ = trained
    start = CHAT.index(CHAT_NAME)
    name_span = (start, start + len(CHAT_NAME))
    # in Python: the rules alone miss the lower-case name; the tagger object finds it
    assert not any(f.label == "PERSON" for f in detect(CHAT, names="rules"))
    found = detect(CHAT, names=Tagger(model))
    assert any((f.start, f.end, f.label) == (*name_span, "PERSON") for f in found)

    # the CLI: CONFIDA_PII_MODEL chooses the tagger of `confida scan` and `confida redact`
    use_model.setenv(ner_tagger.MODEL_ENV, str(model))
    chat = tmp_path / "chat.txt"
    chat.write_text(CHAT, encoding="utf-8")
    res = runner.invoke(app, ["scan", str(chat), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {"start": name_span[0], "end": name_span[1], "label": "PERSON"}.items() <= next(
        f for f in out["findings"] if f["label"] == "PERSON").items()
    assert CHAT_NAME not in res.stdout  # positions, never values
    res = runner.invoke(app, ["scan", str(chat), "--names", "rules", "--json"])
    assert res.exit_code == 0, res.output
    assert "PERSON" not in json.loads(res.stdout)["summary"]

    res = runner.invoke(app, ["redact", str(chat)])
    assert res.exit_code == 0, res.output
    assert "marta" not in res.stdout and "horvath" not in res.stdout
    assert "please ask" in res.stdout


# -- bad input --------------------------------------------------------------------------------


def _bad_file(tmp_path: Path, bad_line: str) -> Path:
    """Two good sentences, then ``bad_line`` as line 3."""
    p = tmp_path / "bad.jsonl"
    good = "".join(json.dumps(sentence(i)) + "\n" for i in range(2))
    p.write_text(good + bad_line + "\n", encoding="utf-8")
    return p


@pytest.mark.parametrize(("bad_line", "why"), [
    # cut off: not JSON
    ('{"text": "' + PLANTED + ' lives here", "spans": [[0, 5, "PERSON"]', "not a labelled"),
    # a span's offsets are not numbers
    (json.dumps({"text": f"hi {PLANTED}", "spans": [[PLANTED, 5, "PERSON"]]}), "not a labelled"),
    # no text
    (json.dumps({"txt": PLANTED, "spans": []}), "not a labelled"),
    # a span past the end of the text
    (json.dumps({"text": f"hi {PLANTED}", "spans": [[3, 400, "PERSON"]]}), "outside the text"),
    # overlapping spans
    (json.dumps({"text": f"hi {PLANTED} x", "spans": [[3, 10, "PERSON"], [5, 12, "PERSON"]]}),
     "overlaps"),
])
def test_bad_line_is_named_not_quoted(tmp_path: Path, bad_line: str, why: str) -> None:
    data = _bad_file(tmp_path, bad_line)
    out = tmp_path / "m.crfsuite"
    res = train(data, out)
    assert res.exit_code == 2, res.output
    error = json.loads(res.stdout)["error"]
    assert "bad.jsonl:3" in error and why in error
    assert PLANTED not in res.output
    assert not out.exists() and not out.with_suffix(".json").exists()
    # the same without --json: on stderr, still without the text
    res = runner.invoke(app, ["pii", "train", "--data", str(data), "--no-synthetic",
                              "--iterations", "3", "-o", str(out)])
    assert res.exit_code == 2
    assert "bad.jsonl:3" in res.stderr
    assert PLANTED not in res.output


def test_bad_dev_file_is_refused(trained: tuple[Path, Path, dict[str, Any]], tmp_path: Path) -> None:
    data, _, _ = trained
    dev = _bad_file(tmp_path, json.dumps({"text": PLANTED, "spans": [[0, 99, "PERSON"]]}))
    res = train(data, tmp_path / "m.crfsuite", "--dev", str(dev))
    assert res.exit_code == 2
    assert "bad.jsonl:3" in json.loads(res.stdout)["error"]
    assert PLANTED not in res.output


def test_gzipped_data_is_read(tmp_path: Path) -> None:
    plain = write_data(tmp_path / "mine.jsonl", 20)
    gz = tmp_path / "mine.jsonl.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    res = train(gz, tmp_path / "m.crfsuite")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["sentences"] == 20


@pytest.mark.parametrize("args", [
    ["--data", "{tmp}/missing.jsonl"],  # no such --data file
    ["--data", "{tmp}/mine.jsonl", "--dev", "{tmp}/missing.jsonl"],  # no such --dev file
    [],  # neither --data nor --corpora
    ["--corpora", "{tmp}"],  # a directory without the corpora
])
def test_missing_input_is_exit_2(tmp_path: Path, args: list[str]) -> None:
    write_data(tmp_path / "mine.jsonl", 5)
    argv = [a.format(tmp=tmp_path) for a in args]
    res = runner.invoke(app, ["pii", "train", *argv, "--no-synthetic", "-o",
                              str(tmp_path / "m.crfsuite"), "--json"])
    assert res.exit_code == 2, res.output
    error = json.loads(res.stdout)["error"]
    assert error
    if "missing.jsonl" in " ".join(argv):
        assert "missing.jsonl" in error
    assert not (tmp_path / "m.crfsuite").exists()


# -- confida pii model ------------------------------------------------------------------------


def test_model_reports_whether_the_file_matches_its_card(
    trained: tuple[Path, Path, dict[str, Any]], tmp_path: Path, use_model: pytest.MonkeyPatch,
) -> None:
    _, model, card = trained
    mine = tmp_path / "mine.crfsuite"
    shutil.copy(model, mine)
    shutil.copy(model.with_suffix(".json"), mine.with_suffix(".json"))
    use_model.setenv(ner_tagger.MODEL_ENV, str(mine))

    res = runner.invoke(app, ["pii", "model", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["path"] == str(mine)
    assert info["sha256"] == card["sha256"] == sha(mine)
    assert info["matches_card"] is True
    assert info["bytes"] == mine.stat().st_size
    assert info["scores"] == card["scores"]
    res = runner.invoke(app, ["pii", "model"])
    assert res.exit_code == 0 and "matches its card: True" in res.stdout

    with mine.open("ab") as fh:  # one byte more: no longer the file the card describes
        fh.write(b"\0")
    res = runner.invoke(app, ["pii", "model", "--json"])
    assert res.exit_code == 1, res.output
    info = json.loads(res.stdout)
    assert info["matches_card"] is False and info["sha256"] == sha(mine) != card["sha256"]
    res = runner.invoke(app, ["pii", "model"])
    assert res.exit_code == 1 and "matches its card: False" in res.stdout


def test_model_without_file_or_card_does_not_match(
    tmp_path: Path, use_model: pytest.MonkeyPatch,
) -> None:
    use_model.setenv(ner_tagger.MODEL_ENV, str(tmp_path / "none.crfsuite"))
    res = runner.invoke(app, ["pii", "model", "--json"])
    assert res.exit_code == 1, res.output
    info = json.loads(res.stdout)
    assert info["sha256"] is None and info["matches_card"] is False
