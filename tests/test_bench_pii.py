"""bench/pii.py's reader for Presidio's synthetic set: format, label mapping, span merging.

No engine runs here: the file is written to tmp_path and only the loader is exercised.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "pii.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_pii_under_test", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def _span(text: str, value: str, etype: str, nth: int = 0) -> dict:
    start = -1
    for _ in range(nth + 1):
        start = text.index(value, start + 1)
    return {"entity_type": etype, "entity_value": value,
            "start_position": start, "end_position": start + len(value)}


ADDRESS = "Send it to Jane Doe at 12 Main Street, Springfield, 62704 by 2021-03-04."
EMAIL = "Contact jdoe@example.com or call (555) 123-4567, Acme Corp."
TWO = "Dr. Alan Smith and Maria Lopez met in Paris."


def _records() -> list[dict]:
    return [
        {"full_text": ADDRESS, "masked": "...", "template_id": 1, "spans": [
            _span(ADDRESS, "Jane Doe", "PERSON"),
            _span(ADDRESS, "12 Main Street", "STREET_ADDRESS"),
            _span(ADDRESS, "Springfield", "GPE"),
            _span(ADDRESS, "62704", "ZIP_CODE"),
            _span(ADDRESS, "2021-03-04", "DATE_TIME"),
        ]},
        {"full_text": EMAIL, "spans": [
            _span(EMAIL, "jdoe@example.com", "EMAIL_ADDRESS"),
            _span(EMAIL, "(555) 123-4567", "PHONE_NUMBER"),
            _span(EMAIL, "Acme Corp", "ORGANIZATION"),
            {"entity_type": "URL", "start_position": 50, "end_position": 500},  # outside
        ]},
        {"full_text": TWO, "spans": [
            _span(TWO, "Dr.", "TITLE"),
            _span(TWO, "Alan Smith", "PERSON"),
            _span(TWO, "Maria Lopez", "PERSON"),
            _span(TWO, "Paris", "GPE"),
        ]},
    ]


def _at(text: str, value: str, label: str) -> tuple[int, int, str]:
    start = text.index(value)
    return start, start + len(value), label


def test_loader_maps_merges_and_drops(bench, tmp_path: Path) -> None:
    path = tmp_path / "synth_dataset_v2.json"
    path.write_text(json.dumps(_records()), "utf-8")
    synth = bench.load_presidio_synth(path)

    assert synth.texts == [ADDRESS, EMAIL, TWO]
    address = ADDRESS.index("12 Main Street")
    assert synth.gold[0] == [
        _at(ADDRESS, "Jane Doe", "PERSON"),
        (address, ADDRESS.index("62704") + 5, "LOCATION"),  # street, city and ZIP as one
        _at(ADDRESS, "2021-03-04", "DATE"),
    ]
    assert synth.gold[1] == [_at(EMAIL, "jdoe@example.com", "EMAIL"),
                             _at(EMAIL, "(555) 123-4567", "PHONE")]
    # "and" separates the two people: not merged
    assert synth.gold[2] == [_at(TWO, "Alan Smith", "PERSON"), _at(TWO, "Maria Lopez", "PERSON"),
                             _at(TWO, "Paris", "LOCATION")]
    assert synth.dropped == Counter({"ORGANIZATION": 1, "TITLE": 1})
    assert synth.merged == Counter({"LOCATION": 2})
    assert synth.kept["LOCATION"] == 4
    assert synth.bad_spans == 1 and synth.bad_records == 0

    assert len(bench.load_presidio_synth(path, limit=2).texts) == 2


def test_loader_reads_json_lines_and_skips_bad_records(bench, tmp_path: Path) -> None:
    path = tmp_path / "synth.jsonl"
    lines = [json.dumps(r) for r in _records()] + [json.dumps({"spans": []})]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    synth = bench.load_presidio_synth(path)
    assert len(synth.texts) == 3 and synth.bad_records == 1


def test_merge_adjacent_only_across_whitespace_and_commas(bench) -> None:
    text = "A, B  C-D"
    spans = [(0, 1, "LOCATION"), (3, 4, "LOCATION"), (6, 7, "LOCATION"), (8, 9, "LOCATION")]
    assert bench.merge_adjacent(text, spans) == [(0, 7, "LOCATION"), (8, 9, "LOCATION")]
    assert bench.merge_adjacent(text, [(0, 1, "PERSON"), (3, 4, "LOCATION")]) == [
        (0, 1, "PERSON"), (3, 4, "LOCATION")]


def test_mapping_covers_the_documented_types(bench) -> None:
    for etype in ("US_SSN", "UK_NHS", "US_DRIVER_LICENSE", "US_PASSPORT", "US_ITIN"):
        assert bench.SYNTH_MAP[etype] == "NATIONAL_ID"
    assert bench.SYNTH_MAP["IBAN_CODE"] == "IBAN"
    assert set(bench.SYNTH_MAP.values()) <= set(bench.LABELS)
    for etype in ("ORGANIZATION", "TITLE", "AGE", "NRP"):
        assert etype not in bench.SYNTH_MAP
