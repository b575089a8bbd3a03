"""Context words that raise or settle the type of a candidate, in the seven languages.

A nine-digit number is a Dutch BSN, an Italian phone number or an order number depending on
the words before it; a capitalised word after "my name is" is a name and after "moved to" a
place.  Context is looked up in sets, one to four words at a time, in a short window before
the candidate, so the cost per candidate is bounded and small and the scan stays linear.
"""

from __future__ import annotations

import re
from functools import cache

from confida.pii import names

#: How many characters before a candidate are searched for context words.
WINDOW = 48

_TOKEN = re.compile(r"[^\W\d_]+(?:['’.-][^\W\d_]+)*\.?|[:]")

#: Context words (and phrases of up to three words) per kind of value.
_KEYWORDS: dict[str, str] = {
    "PHONE": """
        phone|tel|tel.|telephone|mobile|cell|call|ring|text me|whatsapp|fax|sms|contact|reach
        |phone number|hotline|my number|his number|her number|number is|reach me at
        |mon numéro|son numéro|numéro de téléphone|mi número|su número|número de teléfono
        |il mio numero|suo numero|numero di telefono|mijn nummer|zijn nummer|haar nummer
        |mój numer|numer telefonu|meine nummer|seine nummer|ihre nummer
        |telefon|telefonnummer|handy|anrufen|ruf|rufnummer|mobil|erreichbar|tel.-nr.
        |téléphone|portable|appel|appelle|appelez|appeler|joindre|rappeler|rappelle
        |teléfono|telefono|móvil|movil|llama|llamar|llámame|llamame
        |cellulare|chiama|chiamare|chiamami|richiamami
        |telefoon|telefoonnummer|mobiel|bel|bellen|terugbellen
        |telefonu|telefon|komórka|komorka|zadzwoń|zadzwon|dzwoń
    """,
    "NATIONAL_ID": """
        id|ids|identity|identification|ssn|social security|national insurance|nino|ni number
        |passport|tax id|tin|personal number|id number|id no|id-nummer
        |ausweis|personalausweis|steuer-id|steuerid|steuer-identifikationsnummer|idnr|steuernummer
        |identifikationsnummer|nir|sécurité sociale|securite sociale|sécu|insee|carte vitale
        |dni|nie|nif|documento|identidad|codice fiscale|cf|tessera sanitaria
        |bsn|burgerservicenummer|sofinummer|pesel|dowód|dowod|numer
    """,
    "CREDIT_CARD": """
        card|credit|debit|visa|mastercard|amex|cc|karte|kreditkarte|carte|bancaire|tarjeta
        |carta|kaart|creditcard|karta|kartę|karty|kartą
    """,
    "DATE_BIRTH": """
        born|birth|birthday|dob|d.o.b.|date of birth|aged|age
        |geboren|geburtstag|geburtsdatum|geb.
        |né|née|naissance|anniversaire
        |nacido|nacida|nacimiento|cumpleaños|nací
        |nato|nata|nascita|compleanno
        |geboortedatum|verjaardag
        |urodzony|urodzona|urodzenia|urodziny|urodziłem|urodziłam
    """,
}

#: Words right before a capitalised phrase that make it a place ("I moved to Sevilla").
_PLACE_LEADS = """
    moved to|move to|moving to|relocated to|live in|lives in|living in|live at|lives at
    |is in|are in|was in|were in|based in|located in|located at|stay in|staying in|born in
    |resident of|address is|address :|visit|visiting|trip to|travel to|flight to|fly to
    |wohne in|wohnt in|lebe in|lebt in|umgezogen nach|ziehe nach|zog nach|ist in|sind in
    |findet in|geboren in|adresse :|anschrift :|wohnhaft in|wohne in der|wohne im
    |habite à|habite a|vis à|vit à|déménagé à|demenage a|déménage à|est à|sont à|né à|née à
    |adresse est|habite au|habite en
    |vivo en|vive en|vivimos en|me mudé a|me he mudado a|mudé a|mudado a|está en|es en
    |nací en|dirección :|mi dirección es|resido en
    |abito a|abita a|vivo a|vive a|trasferito a|trasferita a|è a|si trova a|nato a|nata a
    |abito in|indirizzo :|sono a
    |woon in|woont in|wonen in|verhuisd naar|ben in|adres :|woon op|woont op
    |mieszkam w|mieszka w|mieszkamy w|przeprowadziłem się do|przeprowadziłam się do
    |przeprowadzam się do|jest w|urodziłem się w|urodziłam się w|mieszkam przy
"""

#: Words right before a capitalised phrase that often introduce a person ("call Anna").
_PERSON_LEADS = """
    my name is|name is|name :|i am|i'm|this is|call|called|named|contact|contact :|dear|hi
    |hello|hey|with|for|from|to|ask|tell|meet|met|meeting|email|e-mail|text|by|and|cc|cc :|signed
    |thank|thanks|remind|invite|congratulate|help|told|said|wife|husband|friend|colleague|boss
    |son|daughter|mother|father|brother|sister|mum|mom|dad|manager|client|customer|patient
    |mein name ist|ich heiße|ich heisse|ich bin|heißt|heisst|hallo|liebe|lieber|mit|für|von
    |an|und|frau|herr
    |je m'appelle|je m’appelle|je suis|appelle|appeler|bonjour|cher|chère|avec|pour|et
    |de la part de
    |me llamo|mi nombre es|soy|hola|querido|querida|con|para|estimado|estimada|llamar a|y
    |mi chiamo|il mio nome è|sono|ciao|caro|cara|gentile|per|chiamare|e
    |mijn naam is|ik ben|ik heet|hoi|beste|met|voor|van|bellen|en
    |nazywam się|mam na imię|jestem|cześć|drogi|droga|dla|od|zadzwonić do|i
"""

#: Strong person cues: after these a capitalised phrase is a name even if no lexicon knows it.
_PERSON_STRONG = """
    my name is|name is|name :|i am called|named|signed|dear|mein name ist|ich heiße
    |ich heisse|je m'appelle|je m’appelle|me llamo|mi nombre es|mi chiamo|il mio nome è
    |mijn naam is|ik heet|nazywam się|mam na imię|contact :
"""


def _phrases(spec: str) -> frozenset[str]:
    """Parse a ``|``-separated list of phrases into a set of normalised phrases."""
    return frozenset(" ".join(p.split()).casefold() for p in spec.split("|") if p.strip())


@cache
def _sets() -> dict[str, frozenset[str]]:
    """All phrase sets, built once on first use."""
    out = {kind: _phrases(spec) for kind, spec in _KEYWORDS.items()}
    out["PLACE_LEAD"] = _phrases(_PLACE_LEADS)
    out["PERSON_LEAD"] = _phrases(_PERSON_LEADS)
    out["PERSON_STRONG"] = _phrases(_PERSON_STRONG)
    return out


def _tokens(text: str, start: int, window: int) -> list[str]:
    """Folded words (and colons) in the ``window`` characters before ``start``."""
    return [t.casefold() for t in _TOKEN.findall(text, max(0, start - window), start)]


def window_words(text: str, start: int, window: int = WINDOW) -> list[str]:
    """The words before ``start`` that :func:`context_in` looks at (compute once, reuse)."""
    return _tokens(text, start, window)


@cache
def _starters(kind: str) -> frozenset[str]:
    """First words of the multi-word context phrases of ``kind`` ("social" of "social
    security"): only after one of these is a two- or three-word phrase built and looked up."""
    return frozenset(k.split(" ", 1)[0] for k in _sets()[kind] if " " in k)


def context_in(kind: str, words: list[str]) -> bool:
    """True when ``words`` contain a context word or phrase (up to three words) of ``kind``."""
    keys = _sets()[kind]
    starters = _starters(kind)
    n = len(words)
    for i in range(n):
        w = words[i]
        if w in keys or (w[-1:] == "." and w[:-1] in keys):
            return True
        if w in starters and i + 1 < n:
            two = f"{w} {words[i + 1]}"
            if two in keys or (i + 2 < n and f"{two} {words[i + 2]}" in keys):
                return True
    return False


def has_context(kind: str, text: str, start: int, window: int = WINDOW) -> bool:
    """True when a context word or phrase of ``kind`` occurs shortly before ``start``."""
    return context_in(kind, _tokens(text, start, window))


#: Characters that end a run of lead words: line breaks, brackets, markup, code, digits.
_LEAD_BREAK = re.compile(r"[\n\r\[\](){}#*|<>\"`=;0-9_/\\]")


def lead_words(text: str, start: int) -> list[str]:
    """The words right before ``start`` on the same line and in the same run of prose.

    None unless a space separates them from ``start``; a line break, bracket, markup or
    digit ends the run, so "in [#606]\n### Fixed" does not make "Fixed" follow "in".
    """
    if start == 0 or text[start - 1] != " ":
        return []
    lo = max(0, start - 40)
    breaks = [m.end() for m in _LEAD_BREAK.finditer(text, lo, start)]
    if breaks:
        lo = breaks[-1]
    return _tokens(text, start, start - lo)


def lead_is(kind: str, words: list[str]) -> bool:
    """True when the last one to four of ``words`` form a lead phrase of ``kind``.

    ``kind`` is ``PLACE_LEAD``, ``PERSON_LEAD`` or ``PERSON_STRONG``.
    """
    keys = _sets()[kind]
    for k in range(1, min(4, len(words)) + 1):
        if " ".join(words[-k:]) in keys:
            return True
    return False


def lead_phrases(words: list[str]) -> tuple[str, ...]:
    """The last one, two, three and four of ``words`` joined: the candidates for a lead."""
    return tuple(" ".join(words[-k:]) for k in range(1, min(4, len(words)) + 1))


def phrases_are(kind: str, phrases: tuple[str, ...]) -> bool:
    """True when one of ``phrases`` (see :func:`lead_phrases`) is a lead of ``kind``.

    ``kind`` is ``PLACE_LEAD``, ``PERSON_LEAD``, ``PERSON_STRONG`` or ``WEAK_PLACE``.
    """
    if kind == "WEAK_PLACE":
        return any(p in _WEAK_PLACE for p in phrases[:2])
    keys = _sets()[kind]
    return any(p in keys for p in phrases)


def place_lead(text: str, start: int) -> bool:
    """True when the words right before ``start`` introduce a place ("moved to ")."""
    return lead_is("PLACE_LEAD", lead_words(text, start))


def person_lead(text: str, start: int) -> bool:
    """True when the words right before ``start`` often introduce a person ("with ")."""
    return lead_is("PERSON_LEAD", lead_words(text, start))


def person_strong(text: str, start: int) -> bool:
    """True when the words right before ``start`` announce a name ("my name is ")."""
    return lead_is("PERSON_STRONG", lead_words(text, start))


#: Bare prepositions before a capitalised phrase that usually make it a place ("in Celle").
_WEAK_PLACE = frozenset({"in", "nach", "naar", "à", "w", "near", "bei", "près de"})

#: Capitalised words that often follow "in" but are not places (languages, tools, brands).
_NOT_PLACES = frozenset(
    """english german french spanish italian dutch polish chinese japanese russian arabic
    deutsch englisch französisch spanisch italienisch niederländisch polnisch
    anglais allemand français espagnol italien néerlandais polonais inglés alemán
    python java javascript typescript rust go excel word powerpoint outlook teams slack
    sql docker kubernetes linux windows android ios markdown json yaml html css latex
    google microsoft apple amazon github gitlab chatgpt openai unicode ascii cython mypy
    pypi numpy pandas django flask react angular vue node npm bash git jira notion figma
    chrome firefox safari edge ubuntu debian macos xcode vscode jupyter colab""".split()
)


def weak_place_in(words: list[str]) -> bool:
    """True when ``words`` end in a bare preposition such as "in" or "nach"."""
    return bool(words) and (words[-1] in _WEAK_PLACE or " ".join(words[-2:]) in _WEAK_PLACE)


def weak_place_lead(text: str, start: int) -> bool:
    """True after a bare preposition such as "in" or "nach" (weaker than "moved to")."""
    return weak_place_in(lead_words(text, start))


def not_a_place(words: list[str]) -> bool:
    """True when a capitalised phrase after a bare "in" is unlikely to be a place.

    Languages, tools and brands ("in Python", "in GitHub", "in PyPI": names with capitals
    inside), and phrases made only of common words ("in Half") are not places; "East" in
    "East Bethany" does not spoil a place name.
    """
    first = words[0]
    if first.casefold() in _NOT_PLACES:
        return True
    if any(any(c.isupper() for c in w[1:]) and "-" not in w for w in words):
        return True
    flags = [names.word_flags(w) for w in words]
    return all(f & (names.COMMON | names.STOPWORD) and not f & (names.FIRST | names.LAST)
               for f in flags)
