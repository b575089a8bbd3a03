"""Tokens and features of the name and place tagger.

The tagger is a linear-chain CRF; what it knows about a word is the list of strings built
here.  Training and inference call the same functions, so a feature cannot mean one thing when
the model learns and another when it runs.

Why these features: casing is the strongest cue in edited text and useless in chat ("hi im anna
schmidt"), so every feature that a capital letter drives has a twin that does not: the folded
word, its suffixes, the name and place lexicons (Faker's lists, as the rule detector uses), cue
words on either side, and a flag saying whether the whole text is lower-case or all capitals.
The model learns how far to trust casing from augmented copies of the corpora.

Speed: the features of a word depend only on the word, and those of its neighbours only on the
neighbour, so both are cached per distinct word string; a token's feature list is then a few
list concatenations.  This is what lets the tagger run at thousands of texts a second.
"""

from __future__ import annotations

import gzip
import importlib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from confida.pii import names

_K = TypeVar("_K")
_V = TypeVar("_V")

#: How common each word is in English, German, French and Dutch (wordfreq's Zipf scale, in
#: half steps, the highest of the four), for the words down to about one in 10 million.  A
#: capitalised word that is a common noun ("Baustoff") is rarely a name; a capitalised word no
#: list knows ("Halmich") often is.  Built by ``make model`` (:mod:`confida.pii.ner_training`).
FREQUENCY_FILE = Path(__file__).with_name("model") / "wordfreq.json.gz"

#: A token: a URL, an e-mail address, a @handle or #tag, a word (with inner apostrophes,
#: hyphens and dots, as in "O'Neil", "Hans-Peter", "St.Gallen"), or one other character.
TOKEN = re.compile(
    r"https?://\S+|www\.\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|[@#]\w+"
    r"|\w+(?:['’\-]\w+)*|[^\w\s]",
)

_POSSESSIVE = ("'s", "’s")


def tokenize(text: str) -> list[tuple[int, int]]:
    """Token offsets of ``text``; a possessive "'s" is its own token ("Anna" + "'s")."""
    out: list[tuple[int, int]] = []
    for m in TOKEN.finditer(text):
        s, e = m.span()
        if e - s > 3 and text[e - 2 : e] in _POSSESSIVE:
            out.append((s, e - 2))
            out.append((e - 2, e))
        else:
            out.append((s, e))
    return out


# --- lexicons --------------------------------------------------------------------------------

#: Large places in the languages of the corpora, for the lexicon feature; Faker adds the
#: cities, regions and countries of its eight locales.
_PLACES = """
london paris berlin munich münchen hamburg cologne köln frankfurt stuttgart düsseldorf dresden
leipzig hannover bremen nuremberg nürnberg vienna wien zurich zürich geneva genève bern basel
amsterdam rotterdam utrecht eindhoven groningen brussels bruxelles brussel antwerp antwerpen
ghent gent luxembourg madrid barcelona valencia seville sevilla lisbon lisboa porto rome roma
milan milano naples napoli turin torino florence firenze venice venezia warsaw warszawa krakow
kraków gdansk gdańsk wroclaw wrocław poznan poznań prague praha budapest bucharest sofia athens
copenhagen stockholm oslo helsinki dublin edinburgh glasgow manchester liverpool birmingham
leeds bristol cardiff belfast lyon marseille toulouse nice nantes strasbourg bordeaux lille
new york boston chicago seattle denver atlanta houston dallas miami detroit philadelphia
washington california texas florida ohio toronto montreal vancouver ottawa sydney melbourne
tokyo beijing shanghai delhi mumbai istanbul moscow kyiv kiev cairo lagos nairobi johannesburg
mexico brazil argentina canada australia germany deutschland france frankreich spain spanien
italy italien poland polen netherlands niederlande nederland holland belgium belgië belgique
austria österreich switzerland schweiz suisse england scotland wales ireland britain europe
europa usa america uk russia china india japan africa asia bavaria bayern
""".split()


@lru_cache(maxsize=1)
def place_words() -> frozenset[str]:
    """Folded words of place names (cities, regions, countries of the Faker locales)."""
    words: set[str] = set(_PLACES)
    for loc in names.LOCALES:
        try:
            prov = importlib.import_module(f"faker.providers.address.{loc}").Provider
        except ImportError:  # pragma: no cover - Faker always ships these locales
            continue
        for attr in ("cities", "countries", "states", "counties", "regions", "departments"):
            values = getattr(prov, attr, None) or ()
            if len(values) > 3000:
                # it_IT lists every village (16,000, in an order that changes from one process
                # to the next): too noisy to help, and it would make training unreproducible
                continue
            for value in values:
                for part in re.split(r"[\s\-/()']+", str(value)):
                    if len(part) > 2:
                        words.add(part.casefold())
    return frozenset(words - names.STOP - names.common_words())


#: US Census given names and surnames (public domain, via the ``names`` package at build time):
#: word -> "F" (given name), "L1"/"L2"/"L3" (surname of rank < 2,000, < 20,000, further), or
#: both ("F L2").  Faker's lists cover the eight locales' common names; these add the long tail
#: of English-language names that social media is full of ("Trish", "Amos", "Jedidiah").
CENSUS_FILE = Path(__file__).with_name("model") / "census-names.json.gz"


def _read_table(path: Path) -> dict[str, object]:
    """A gzipped JSON object (one C-speed parse: both tables load in about 0.1 s)."""
    if not path.is_file():
        return {}
    with gzip.open(path, "rb") as fh:
        table = json.loads(fh.read())
    if not isinstance(table, dict):
        raise ValueError(f"{path.name} is not a word table")
    return table


@lru_cache(maxsize=1)
def census_table() -> dict[str, str]:
    """Folded name -> its census flags, e.g. "F L2" (empty when the file is missing)."""
    return _read_table(CENSUS_FILE)  # type: ignore[return-value]


@lru_cache(maxsize=1)
def frequency_table() -> dict[str, int]:
    """Folded word -> frequency bucket (empty when the file is missing, as in a fresh build
    before ``make model``; a model trained without it is then used as it was trained)."""
    return _read_table(FREQUENCY_FILE)  # type: ignore[return-value]


#: Function words that tell the language of a text apart (only words of one language).
_LANG_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset("the and is are was of you my it this that with have what i'm im".split()),
    "de": frozenset("der die das und ist nicht ich sie mit für auf ein eine dem wir auch".split()),
    "fr": frozenset("le la les et est dans pour une des du que qui pas je vous avec".split()),
    "nl": frozenset("het een niet ik op dat voor zijn met ook wordt naar".split()),
    "es": frozenset("el los las y por una del con para es soy".split()),
    "it": frozenset("il gli è di che per con non sono della".split()),
    "pl": frozenset("w nie na się jest że jak dla jestem".split()),
}


def language(words: list[str]) -> str:
    """The language whose function words the text uses most ("" when none or a tie): lets
    the model learn that a capital letter means less in German, where every noun has one."""
    counts = {lang: 0 for lang in _LANG_WORDS}
    for w in words:
        low = w.casefold()
        for lang, vocab in _LANG_WORDS.items():
            if low in vocab:
                counts[lang] += 1
    best = max(counts.values())
    if best == 0:
        return ""
    winners = [lang for lang, n in counts.items() if n == best]
    return winners[0] if len(winners) == 1 else ""


#: Words just before a name ("my name is", "ich bin", "je suis", "mit", "dear", "@").
NAME_CUES = frozenset(
    """name is im i'm am called call ask tell told met with from dear hi hello hey thanks
    thank cc attn signed regards cheers best von mit bin heiße heisse ich grüße gruß liebe
    lieber hallo je suis appelle m'appelle avec de cher chère merci bonjour salut
    ik ben heet met van beste groeten hoi me llamo soy con de hola mi chiamo sono con ciao
    nazywam się jestem z""".split()
)

#: Words just before a place ("in", "from", "to", "near", "moved to", "lives in").
PLACE_CUES = frozenset(
    """in at from to near live lives living moved move born based visit visiting travel
    travelling traveling nach aus bei wohne wohnt lebe lebt geboren à a au en vers chez près
    habite vis né née naar uit bij woon woont geboren en desde vivo vive nací nato nata abito
    vivo da w we z do mieszkam""".split()
)


def _shape(word: str) -> str:
    """Collapsed character classes: "Anna" -> "Xx", "McDonald" -> "XxXx", "2024" -> "d"."""
    out: list[str] = []
    for ch in word:
        c = "X" if ch.isupper() else "x" if ch.islower() else "d" if ch.isdigit() else ch
        if not out or out[-1] != c:
            out.append(c)
        if len(out) > 5:
            break
    return "".join(out)


#: Lexicon bits of :func:`confida.pii.names.word_flags` -> feature names (order is part of the
#: feature definition: the model was trained with these lists).
_LEX_FLAGS: tuple[tuple[int, str], ...] = (
    (names.FIRST, "FIRST"), (names.LAST, "LAST"), (names.TITLE, "TITLE"),
    (names.STOPWORD | names.COMMON, "COMMON"), (names.AMBIG, "AMBIG"),
    (names.PARTICLE, "PARTICLE"), (names.MONTH | names.STREET_PRE, "STREETMONTH"),
)


def _lex(low: str) -> list[str]:
    """Lexicon features of a folded word."""
    flags = names.word_flags(low)
    out = [name for mask, name in _LEX_FLAGS if flags & mask]
    if low in place_words():
        out.append("PLACE")
    if low in NAME_CUES:
        out.append("NCUE")
    if low in PLACE_CUES:
        out.append("PCUE")
    return out


#: Words at least this common (wordfreq bucket: twice the Zipf value, 6 = one in a million)
#: that are written in lower case and no name or place list knows are never the start of a
#: name: a sentence made only of such words is not worth tagging.
COMMON_BUCKET = 6
#: Zipf 5 and up ("in", "will", "so"): never a name on its own in lower case.
VERY_COMMON_BUCKET = 10


def _candidate(word: str) -> bool:
    """Whether ``word`` could be (part of) a name or place; see :data:`COMMON_BUCKET`.

    A lower-case word counts when it is rare, a place, or a given name or title that is not
    also one of the commonest words: the census lists "in" and "will" as given names and
    "works" as a surname, which must not make every sentence worth tagging.
    """
    if any(ch.isupper() for ch in word):
        return True
    low = word.casefold()
    if not any(ch.isalpha() for ch in low):
        return False
    freq = frequency_table().get(low, 0)
    if freq < COMMON_BUCKET or low in place_words():
        return True
    if freq >= VERY_COMMON_BUCKET:
        return False
    return bool(names.word_flags(low) & (names.FIRST | names.TITLE)
                or "F" in census_table().get(low, "").split())


class FeatureCache:
    """Per-word feature lists, cached; bounded so a long-running server cannot grow it
    without limit (it is cleared when full: the common words come back at once).  A word's
    lists take about a kilobyte, so the default bound keeps the caches to tens of megabytes."""

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._local: dict[str, list[str]] = {}
        self._near: dict[tuple[str, int], list[str]] = {}
        self._lang: dict[tuple[str, str], list[str]] = {}
        self._candidate: dict[str, bool] = {}
        self._chunk: dict[str, bool] = {}

    def _store(self, table: dict[_K, _V], key: _K, value: _V) -> _V:
        """Keep ``value`` under ``key``, emptying ``table`` first when it is full.  Each
        method below looks up first and calls this only on a miss, so the common case stays
        one dict look-up."""
        if len(table) >= self.limit:
            table.clear()
        table[key] = value
        return value

    def local(self, word: str) -> list[str]:
        """The features of ``word`` itself."""
        f = self._local.get(word)
        return f if f is not None else self._store(self._local, word, _local_features(word))

    def candidate(self, word: str) -> bool:
        """:func:`_candidate`, cached per word."""
        c = self._candidate.get(word)
        return c if c is not None else self._store(self._candidate, word, _candidate(word))

    def chunk_has_candidate(self, chunk: str) -> bool:
        """Whether a whitespace-free piece of text holds a candidate token, cached per piece.

        No token crosses whitespace, so a text's tokens are its pieces' tokens, and a text
        none of whose pieces holds a candidate needs neither offsets nor tagging. Chat is
        mostly such text, and splitting on whitespace costs a tenth of :func:`tokenize`.
        """
        c = self._chunk.get(chunk)
        if c is not None:
            return c
        found = any(self.candidate(chunk[s:e]) for s, e in tokenize(chunk))
        return self._store(self._chunk, chunk, found)

    def in_language(self, word: str, lang: str) -> list[str]:
        """Features of ``word`` that mean something else in each language (casing, frequency)."""
        f = self._lang.get((word, lang))
        if f is not None:
            return f
        return self._store(self._lang, (word, lang), [
            lang + "|" + x for x in self.local(word)
            if x in ("UP1", "TITLECASE", "ALLCAP") or x[:2] in ("F=", "C=")])

    def mid_capital(self, word: str, lang: str) -> str:
        """The feature of a capitalised word that does not start the text."""
        freq = frequency_table().get(word.casefold())
        return f"MIDUP{lang}|F={freq if freq is not None else 'none'}"

    def near(self, word: str, k: int) -> list[str]:
        """The features ``word`` contributes to a token ``k`` positions away."""
        f = self._near.get((word, k))
        return f if f is not None else self._store(self._near, (word, k), _near_features(word, k))


def _local_features(word: str) -> list[str]:
    low = word.casefold()
    shape = _shape(word)
    f = ["b", "w=" + low, "s3=" + low[-3:], "s2=" + low[-2:], "p3=" + low[:3],
         "sh=" + shape, "len=" + str(min(len(word), 8))]
    if len(low) > 5:
        f.append("s4=" + low[-4:])
    freq = frequency_table().get(low)
    f.append("F=" + (str(freq) if freq is not None else "none"))
    f.extend("C=" + x for x in census_table().get(low, "").split())
    if word[:1].isupper():
        f.append("UP1")
        if word[1:].islower():
            f.append("TITLECASE")
    if word.isupper() and len(word) > 1:
        f.append("ALLCAP")
    if word[0] in "@#":
        f.append("HANDLE")
    elif "@" in word or "://" in word or word.startswith("www."):
        f.append("URLMAIL")
    f.extend("L=" + x for x in _lex(low))
    return f


def _near_features(word: str, k: int) -> list[str]:
    p = f"{k:+d}"
    if word == "":
        return [p + "BOS" if k < 0 else p + "EOS"]
    low = word.casefold()
    f = [p + "w=" + low]
    if abs(k) == 1:
        f.append(p + "sh=" + _shape(word))
        f.extend(p + "L=" + x for x in _lex(low))
        f.extend(p + "C=" + x for x in census_table().get(low, "").split())
        if word[0] in "@#":
            f.append(p + "HANDLE")
    return f


def _encodable(word: str) -> str:
    """``word`` with lone surrogates (from undecodable input) replaced: crfsuite takes UTF-8."""
    try:
        word.encode("utf-8")
    except UnicodeEncodeError:
        return word.encode("utf-8", "replace").decode("utf-8")
    return word


def sentence_features(words: list[str], cache: FeatureCache) -> list[list[str]]:
    """The feature lists of every token of one text."""
    words = [w if w.isascii() else _encodable(w) for w in words]
    letters = "".join(w for w in words if w[:1].isalpha())
    case = []
    if letters and letters.islower():
        case = ["CASE=lower"]
    elif letters and letters.isupper() and len(letters) > 3:
        case = ["CASE=upper"]
    lang = language(words)
    if lang:
        case.append("LANG=" + lang)
    n = len(words)
    padded = ["", ""] + words + ["", ""]
    out: list[list[str]] = []
    for i in range(n):
        j = i + 2
        f = cache.local(words[i]) + cache.near(padded[j - 1], -1) + cache.near(padded[j + 1], 1)
        f += cache.near(padded[j - 2], -2) + cache.near(padded[j + 2], 2)
        if i == 0:
            f.append("FIRSTTOK")
        elif words[i][:1].isupper():
            # a capital letter inside the sentence, joined with how common the word is: in
            # German a common capitalised word is a noun, a rare one is often a name
            f.append(cache.mid_capital(words[i], lang))
        if case:
            f += case
        if lang:
            f += cache.in_language(words[i], lang)
        out.append(f)
    return out
