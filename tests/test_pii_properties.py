"""Property tests: offsets, validators, operators, round trips, on generated inputs."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.iso7064 import mod_97_10

from confida.pii import (
    InMemoryTokenStore,
    Policy,
    PseudonymScope,
    anonymize,
    deanonymize,
    detect,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Filler words that cannot themselves be PII, to embed generated values in.
filler = st.lists(
    st.sampled_from(["please", "send", "to", "the", "account", "thanks", "and", "now", "ok", "it"]),
    min_size=0, max_size=6,
).map(" ".join)

IBAN_LAYOUT = {"DE": 18, "NL": 14, "FR": 23, "ES": 20, "IT": 23, "PL": 24, "GB": 18}


@st.composite
def ibans(draw: st.DrawFn) -> str:
    """A valid IBAN: country, mod-97 check digits, a numeric account part of the right length."""
    cc = draw(st.sampled_from(sorted(IBAN_LAYOUT)))
    if cc in ("NL", "GB"):
        bank = draw(st.text(string.ascii_uppercase, min_size=4, max_size=4))
        body = bank + draw(st.text(string.digits, min_size=IBAN_LAYOUT[cc] - 4,
                                   max_size=IBAN_LAYOUT[cc] - 4))
    elif cc == "IT":
        body = draw(st.sampled_from("ABCDEFGHIJ")) + draw(
            st.text(string.digits, min_size=22, max_size=22))
    else:
        body = draw(st.text(string.digits, min_size=IBAN_LAYOUT[cc], max_size=IBAN_LAYOUT[cc]))
    check = mod_97_10.calc_check_digits(body + cc)
    return cc + check + body


@st.composite
def cards(draw: st.DrawFn) -> str:
    """A Luhn-valid card number with a Visa/Mastercard prefix, 16 digits."""
    prefix = draw(st.sampled_from(["4", "51", "52", "53", "54", "55"]))
    rest = draw(st.text(string.digits, min_size=15 - len(prefix), max_size=15 - len(prefix)))
    return prefix + rest + luhn.calc_check_digit(prefix + rest)


@SETTINGS
@given(before=filler, after=filler, value=ibans(), spaced=st.booleans())
def test_generated_ibans_found_at_their_offsets(before: str, after: str, value: str,
                                                spaced: bool) -> None:
    if spaced:
        value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    text = f"{before} {value} {after}".strip()
    start = text.index(value)
    hits = [(f.start, f.end) for f in detect(text) if f.label == "IBAN"]
    assert hits == [(start, start + len(value))]


@SETTINGS
@given(before=filler, after=filler, value=cards())
def test_generated_cards_found_at_their_offsets(before: str, after: str, value: str) -> None:
    text = f"{before} card {value} {after}"
    start = text.index(value)
    hits = [(f.start, f.end, f.label) for f in detect(text)]
    assert (start, start + len(value), "CREDIT_CARD") in hits


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_detect_never_crashes_and_offsets_are_in_bounds(text: str) -> None:
    fs = detect(text)
    last = 0
    for f in fs:
        assert 0 <= f.start < f.end <= len(text)
        assert f.start >= last
        last = f.end


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet=string.printable + "äöüßéèàçñłżść€", max_size=200))
def test_anonymize_leaves_no_detected_value(text: str) -> None:
    fs = detect(text)
    res = anonymize(text, Policy(), findings=fs)
    for f in fs:
        value = text[f.start : f.end]
        if len(value) >= 4:
            assert value not in res.text.replace(f"<{f.label}>", "\x00")


@SETTINGS
@given(names=st.lists(st.sampled_from(["Anna Schmidt", "Jürgen Weber", "Camille Lefèvre",
                                       "Krzysztof Nowak"]), min_size=1, max_size=6))
def test_pseudonymize_is_consistent(names: list[str]) -> None:
    text = ". ".join(f"I met {n}" for n in names) + "."
    scope = PseudonymScope()
    res = anonymize(text, Policy.from_dict({"default": "pseudonymize"}), scope=scope)
    by_name: dict[str, set[str]] = {}
    for item, name in zip(res.items, names, strict=True):
        by_name.setdefault(name, set()).add(item.replacement)
    assert all(len(v) == 1 for v in by_name.values())
    assert len({next(iter(v)) for v in by_name.values()}) == len(by_name)


@SETTINGS
@given(before=filler, value=st.one_of(ibans(), cards()), mail=st.emails())
def test_tokenize_deanonymize_round_trip(before: str, value: str, mail: str) -> None:
    text = f"{before} {value} and {mail} ok"
    store = InMemoryTokenStore()
    res = anonymize(text, Policy.from_dict({"default": "tokenize"}), token_store=store)
    assert deanonymize(res.text, store) == text
