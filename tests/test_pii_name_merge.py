"""Merging the tagger's spans with the rule findings (pure function, no model needed)."""

from __future__ import annotations

from confida.pii.name_merge import TAGGER_SCORE, merge, plausible

TEXT = "Kent met Anna Schmidt in Berlin, IBAN DE89 3704 0044 0532 0130 00 x"


def _spans(found: list[tuple[int, int, str, float, str]]) -> set[tuple[str, str]]:
    return {(TEXT[s:e], label) for s, e, label, _score, _kind in found}


def _at(value: str, label: str) -> tuple[int, int, str]:
    s = TEXT.index(value)
    return s, s + len(value), label


def _rule(value: str, label: str, score: float, kind: str) -> tuple[int, int, str, float, str]:
    s, e, _ = _at(value, label)
    return s, e, label, score, kind


def test_identifiers_always_win() -> None:
    iban = _rule("DE89 3704 0044 0532 0130 00", "IBAN", 0.95, "")
    out = merge([iban], [_at("IBAN DE89 3704", "LOCATION")], TEXT)
    assert _spans(out) == {("DE89 3704 0044 0532 0130 00", "IBAN")}


def test_tagger_alone_is_reported_with_its_score() -> None:
    out = merge([], [_at("Berlin", "LOCATION")], TEXT)
    assert out == [(*_at("Berlin", "LOCATION"), TAGGER_SCORE, "model")]


def test_same_label_overlap_becomes_one_span() -> None:
    rules = [_rule("Anna", "PERSON", 0.6, "lexicon")]
    out = merge(rules, [_at("Anna Schmidt", "PERSON")], TEXT)
    assert _spans(out) == {("Anna Schmidt", "PERSON")}
    assert out[0][3] == TAGGER_SCORE


def test_strong_rule_wins_a_label_disagreement() -> None:
    rules = [_rule("Anna Schmidt", "PERSON", 0.9, "context")]
    out = merge(rules, [_at("Anna Schmidt", "LOCATION")], TEXT)
    assert _spans(out) == {("Anna Schmidt", "PERSON")}


def test_weak_rule_gives_way_to_the_tagger() -> None:
    rules = [_rule("Berlin", "PERSON", 0.6, "lexicon")]
    out = merge(rules, [_at("Berlin", "LOCATION")], TEXT)
    assert _spans(out) == {("Berlin", "LOCATION")}


def test_an_organisation_vetoes_a_weak_rule_only() -> None:
    weak = [_rule("Kent", "PERSON", 0.6, "lexicon")]
    assert merge(weak, [_at("Kent", "ORG")], TEXT) == []
    strong = [_rule("Kent", "PERSON", 0.9, "title")]
    assert _spans(merge(strong, [_at("Kent", "ORG")], TEXT)) == {("Kent", "PERSON")}


def test_org_and_misc_are_never_reported() -> None:
    assert merge([], [_at("Kent", "ORG"), _at("Berlin", "MISC")], TEXT) == []


def test_a_weak_rule_covering_two_names_gives_way() -> None:
    text = "Hungary, Poland"
    rules = [(0, 15, "LOCATION", 0.6, "place")]
    out = merge(rules, [(0, 7, "LOCATION"), (9, 15, "LOCATION")], text)
    assert sorted((s, e) for s, e, *_ in out) == [(0, 7), (9, 15)]


def test_implausible_tagger_spans() -> None:
    assert not plausible("IBAN DE89 3704 0044", 0, 19)
    assert not plausible("DOB 1957", 0, 3)
    assert plausible("ANNA, CALL ME BACK", 0, 4)  # a text in capitals: no acronym cue
    assert not plausible("Anna, call DOB", 11, 14)
    assert plausible("Hauptstraße 5, 10115 Berlin", 0, 27)
    assert not plausible("12345", 0, 5)
    assert not plausible("load it in IPython", 11, 18)
    assert plausible("Anna McDonald", 5, 13)


def test_an_address_keeps_its_exact_extent() -> None:
    text = "vivo en Calle Mayor 12, Madrid, 28013 desde ayer"
    rules = [(8, 37, "LOCATION", 0.85, "address")]
    assert [(s, e) for s, e, *_ in merge(rules, [(8, 48, "LOCATION")], text)] == [(8, 37)]
