"""The spaCy adapter, with a pipeline built in the test (no model download)."""

from __future__ import annotations

import pytest

spacy = pytest.importorskip("spacy")

from confida.pii import detect  # noqa: E402
from confida.pii.spacy_backend import SpacyBackend  # noqa: E402


def _pipeline():
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([
        {"label": "PERSON", "pattern": "Zorblax Quentworth"},
        {"label": "GPE", "pattern": "Xanadu"},
        {"label": "DATE", "pattern": "tomorrow"},
    ])
    return nlp


def test_adapter_maps_labels_and_offsets() -> None:
    backend = SpacyBackend(_pipeline())
    text = "I saw Zorblax Quentworth. Xanadu was sunny tomorrow, mail z@q.com"
    # names="rules": the shipped tagger would find the name first; this is about the adapter
    got = [(f.label, text[f.start : f.end], f.kind)
           for f in detect(text, backend=backend, names="rules")]
    assert got == [("PERSON", "Zorblax Quentworth", "spacy"), ("LOCATION", "Xanadu", "spacy"),
                   ("EMAIL", "z@q.com", "")]


def test_adapter_loads_by_path(tmp_path) -> None:
    _pipeline().to_disk(tmp_path / "pipe")
    backend = SpacyBackend(tmp_path / "pipe")
    assert [f.label for f in backend.detect("Xanadu")] == ["LOCATION"]
    assert backend.detect("") == []


def test_rules_win_over_backend_on_overlap() -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "PERSON", "pattern": "a@b.co"}])
    text = "mail a@b.co"
    assert [f.label for f in detect(text, backend=SpacyBackend(nlp))] == ["EMAIL"]
