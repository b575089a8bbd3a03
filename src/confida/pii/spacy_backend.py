"""Optional NER backend: any installed spaCy pipeline, by name, by path or as an object.

The rules find names through lexicons and context; a trained NER model finds the names that
no lexicon knows.  spaCy is an optional extra (``pip install 'confida[spacy]'``) and is only
imported when a backend is created, so ``confida.pii`` works without it.  Entities are mapped
onto Confida's labels; by default only person and place entities are taken, because a model's
DATE also covers "tomorrow", which is not personal data.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from confida.pii.finding import Finding

#: spaCy entity labels (OntoNotes and WikiNER schemes) -> Confida labels.
DEFAULT_LABEL_MAP: Mapping[str, str] = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
}


class SpacyBackend:
    """Detect entities with a spaCy pipeline; usable as ``detect(text, backend=...)``."""

    def __init__(
        self,
        name_or_path: str | Path | Any,
        *,
        label_map: Mapping[str, str] | None = None,
        score: float = 0.6,
    ) -> None:
        """Load ``name_or_path`` with ``spacy.load`` (a ``Language`` object is used as is)."""
        if isinstance(name_or_path, str | Path):
            try:
                import spacy
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise ImportError(
                    "the spaCy backend needs spaCy: pip install 'confida[spacy]'"
                ) from exc
            self.nlp = spacy.load(name_or_path)
        else:
            self.nlp = name_or_path
        self.label_map = dict(label_map or DEFAULT_LABEL_MAP)
        self.score = score

    def detect(self, text: str) -> list[Finding]:
        """Entities of ``text`` whose label maps onto a Confida label."""
        if not text:
            return []
        doc = self.nlp(text)
        out = []
        for ent in doc.ents:
            label = self.label_map.get(ent.label_)
            if label and ent.end_char > ent.start_char:
                out.append(Finding(ent.start_char, ent.end_char, label, self.score, "spacy"))
        return out
