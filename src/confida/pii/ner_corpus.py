"""Labelled sentences for the name and place tagger: the public corpora in ``shared/data/ner``
and a user's own labelled text for ``confida pii train``.

One format for both (the one ``shared/data/ner/README.md`` describes): a JSON object per line,
optionally gzipped, with ``text`` and ``spans`` (``[start, end, LABEL]``, character offsets),
and optionally ``tokens``/``tags``/``lang``/``source``.  Files that carry only ``text`` and
``spans`` are tokenised with the tagger's own tokeniser, so a user never has to produce tokens.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sentence:
    """One labelled text: tokens with their character offsets and gold spans."""

    text: str
    spans: tuple[tuple[int, int, str], ...]
    lang: str = "en"
    source: str = ""


class CorpusError(ValueError):
    """A labelled file that cannot be read; the message names the file and line."""


def read_corpus(path: str | Path, *, lang: str | None = None) -> Iterator[Sentence]:
    """Yield the sentences of a ``.jsonl`` or ``.jsonl.gz`` file.

    Spans must lie inside the text and not overlap; a bad line raises :class:`CorpusError`
    naming the line rather than training on something the user did not mean.
    """
    p = Path(path)
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                text = obj["text"]
                spans = tuple(
                    sorted((int(s), int(e), str(lab)) for s, e, lab in obj.get("spans", ()))
                )
            except (ValueError, KeyError, TypeError) as exc:
                # int("...") quotes its argument: say what is wrong, never what was written
                why = (exc if isinstance(exc, json.JSONDecodeError | KeyError | TypeError)
                       else "spans must be [start, end, LABEL] with whole-number offsets")
                raise CorpusError(f"{p.name}:{lineno}: not a labelled sentence ({why})") from None
            if not isinstance(text, str):
                raise CorpusError(f"{p.name}:{lineno}: 'text' must be a string")
            prev_end = 0
            for s, e, _lab in spans:
                if not 0 <= s < e <= len(text) or s < prev_end:
                    raise CorpusError(f"{p.name}:{lineno}: span {s}-{e} is outside the text "
                                      "or overlaps another")
                prev_end = e
            yield Sentence(text, spans, lang or obj.get("lang", "en"), obj.get("source", p.name))
