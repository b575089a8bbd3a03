"""Lexicons for names and places, built from the Faker package at first use.

No model and no download: Faker (already a dependency, MIT licensed) ships first names,
last names and street vocabularies for every supported locale.  They are read once, lazily,
and cached; the result is immutable (frozensets), so there is no module-level mutable state.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

#: Locales whose name and address vocabularies are loaded.
LOCALES: tuple[str, ...] = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL")

#: Honorifics and titles, lower-cased and without the final dot, in the seven languages.
TITLES: frozenset[str] = frozenset(
    """mr mrs ms miss mx dr prof univ sir madam lady lord herr frau fräulein dipl ing
    m mme mlle mm monsieur madame mademoiselle me
    sr sra srta don doña dña señor señora señorita
    sig sigra signor signora signorina dott dottssa ing avv
    pan pani panna państwo dhr mevr mw heer mevrouw""".split()
)

#: Words that are never part of a personal name: pronouns, function words, months, weekdays,
#: greetings and sentence-initial verbs of the seven languages.
STOP: frozenset[str] = frozenset(
    """i a an the this that these those it we you he she they my your our his her their
    hi hello hey dear thanks thank please yes no ok okay sorry also and or but so if when
    what why how who where which can could would should will may might must shall do does
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday
    english french german spanish italian dutch polish
    hallo bitte danke ja nein heute morgen gestern und oder aber sie ihr wir er es das der die
    bonjour merci oui non aujourd hui demain hier et ou mais le la les un une des
    hola gracias sí si no hoy mañana ayer y o pero el los las una
    ciao grazie oggi domani ieri e ma il lo gli
    hoi dank ja nee vandaag morgen gisteren en of maar het een
    cześć dziękuję tak nie dzisiaj jutro wczoraj i lub ale
    google apple amazon microsoft python java excel word linux windows android iphone
    translate write explain give fix send summarize summarise contact order version note
    meeting subject from to""".split()
)

#: Given names that are, in running text, far more often ordinary words: a name only when
#: another name stands next to them ("Frank" in "Monique Frank", not in "to be frank").
AMBIGUOUS: frozenset[str] = frozenset(
    """mark bill will grace hope faith joy rose summer autumn winter spring dawn art guy
    sunny crystal amber ruby pearl jade iris lily daisy holly ivy violet hazel olive
    christian china paris virginia georgia carolina florence jordan austin dallas chase
    hunter mason cash king lane rich lucky major sky star river brook forest sage storm
    august june april may norman max page case bay bell frank earl dean royal miles price gay
    bank rain honor honour patience justice harmony melody destiny""".split()
)

NOT_NAMES: frozenset[str] = STOP | AMBIGUOUS

#: Lower-case particles that may stand inside a personal or place name.
PARTICLES: tuple[str, ...] = (
    "van", "der", "den", "de", "di", "da", "del", "della", "dos", "das", "du", "des",
    "la", "le", "von", "zu", "ter", "te", "y", "e", "sur", "sous", "am", "im", "an",
)


def _fold(word: str) -> str:
    """Normalise a word for lexicon look-ups (case and the typographic apostrophe)."""
    return word.casefold().replace("’", "'")


def _provider(kind: str, locale: str) -> type | None:
    """The Faker provider class of ``kind`` ('person', 'address') for ``locale``, if any."""
    try:
        return importlib.import_module(f"faker.providers.{kind}.{locale}").Provider
    except ImportError:
        return None


def _words(values: object) -> set[str]:
    """Fold an iterable (or the keys of a mapping) of names into single-word entries."""
    out: set[str] = set()
    if not values:
        return out
    for value in values:  # type: ignore[attr-defined]
        for part in str(value).replace("-", " ").split():
            if len(part) > 1:
                out.add(_fold(part))
    return out


@lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    """Folded first names of all supported locales, minus ambiguous common words."""
    names: set[str] = set()
    for loc in LOCALES:
        prov = _provider("person", loc)
        if prov is None:
            continue
        for attr in ("first_names", "first_names_male", "first_names_female"):
            names |= _words(getattr(prov, attr, None))
    return frozenset(names - NOT_NAMES)


@lru_cache(maxsize=1)
def last_names() -> frozenset[str]:
    """Folded family names of all supported locales, minus ambiguous common words."""
    names: set[str] = set()
    for loc in LOCALES:
        prov = _provider("person", loc)
        if prov is None:
            continue
        for attr in ("last_names", "last_names_male", "last_names_female"):
            names |= _words(getattr(prov, attr, None))
    return frozenset(names - NOT_NAMES)


def is_first_name(word: str) -> bool:
    """True when ``word`` is a known given name in one of the supported languages."""
    return _fold(word) in first_names()


def is_last_name(word: str) -> bool:
    """True when ``word`` is a known family name in one of the supported languages."""
    return _fold(word) in last_names()


def is_title(word: str) -> bool:
    """True for an honorific such as ``Mr.``, ``Frau``, ``Mme``, ``Sra.``, ``pan``, ``dhr.``."""
    return _fold(word.rstrip(".")) in TITLES


def is_stop(word: str) -> bool:
    """True for words that are never part of a personal name (pronouns, months, greetings)."""
    return _fold(word) in STOP


def is_not_name(word: str) -> bool:
    """True for capitalised words that must never count as a name on their own."""
    return _fold(word) in NOT_NAMES


# --- one look-up per word ---------------------------------------------------------------------

FIRST, LAST, TITLE, STOPWORD, AMBIG, PARTICLE = 1, 2, 4, 8, 16, 32


@lru_cache(maxsize=1)
def _flag_table() -> dict[str, int]:
    """Folded word -> bit flags (FIRST, LAST, TITLE, STOPWORD, AMBIG, PARTICLE), built once.

    The detector asks several questions about each capitalised word; one dict look-up that
    answers all of them is what keeps name detection cheap.
    """
    table: dict[str, int] = {}
    for bit, words in (
        (FIRST, first_names()), (LAST, last_names()), (TITLE, TITLES), (STOPWORD, STOP),
        (AMBIG, AMBIGUOUS), (PARTICLE, frozenset(PARTICLES)),
    ):
        for w in words:
            table[w] = table.get(w, 0) | bit
    return table


def word_flags(word: str) -> int:
    """The flags of ``word`` (0 when no lexicon knows it).

    A final dot and a possessive "'s" are ignored; a hyphenated word ("Hans-Gerhard",
    "Connor-Hardy") is a first name when all its parts are, a last name when any part is.
    """
    table = _flag_table()
    w = _fold(word).rstrip(".")
    if w.endswith("'s"):
        w = w[:-2]
    f = table.get(w, 0)
    if f or "-" not in w:
        return f
    parts = [table.get(p, 0) for p in w.split("-") if p]
    if parts and all(p & FIRST for p in parts):
        f |= FIRST
    if any(p & (LAST | FIRST) for p in parts):
        f |= LAST
    return f
