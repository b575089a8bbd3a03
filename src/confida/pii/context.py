"""Context words that raise or settle the type of a candidate, in the seven languages.

A nine-digit number is a Dutch BSN, an Italian phone number or an order number depending on
the words before it; a capitalised word after "my name is" is a name and after "moved to" a
place.  Each set is one compiled regex searched in a short window before the candidate, so
the cost per candidate is bounded and the scan stays linear.
"""

from __future__ import annotations

import re
from functools import cache

#: How many characters before a candidate are searched for context words.
WINDOW = 48

_CONTEXT: dict[str, str] = {
    "PHONE": r"""
        phone|tel|telephone|mobile|cell|call|ring|text\ me|whatsapp|fax|sms|contact|reach
        |telefon|handy|anrufen|ruf|rufnummer|mobil|erreichbar
        |téléphone|telephone|portable|appel|appelle[rz]?|joindre
        |teléfono|telefono|móvil|movil|llama|llamar|llámame|llamame
        |cellulare|chiama|chiamare|chiamami
        |telefoon|mobiel|bel|bellen|nummer
        |telefonu?|komórka|komorka|zadzwoń|zadzwon|dzwoń
    """,
    "NATIONAL_ID": r"""
        id|ids|identity|identification|ssn|social\ security|national\ insurance|nino|ni\ number
        |passport|tax\ id|tin|personal\ number|id\ number|id\ no
        |ausweis|personalausweis|steuer-?id|steuer-?identifikationsnummer|idnr|steuernummer
        |nir|sécurité\ sociale|securite\ sociale|numéro\ de\ sécu|insee|carte\ vitale
        |dni|nie|nif|documento|identidad
        |codice\ fiscale|cf|tessera\ sanitaria
        |bsn|burgerservicenummer|sofinummer
        |pesel|dowód|dowod|numer
    """,
    "CREDIT_CARD": r"""
        card|credit|debit|visa|mastercard|amex|cc|karte|kreditkarte|carte|bancaire|tarjeta
        |carta|kaart|creditcard|karta|kartę|karty
    """,
    "DATE_BIRTH": r"""
        born|birth|birthday|dob|d\.o\.b|date\ of\ birth|aged?
        |geboren|geburtstag|geburtsdatum|geb\.
        |née?|naissance|anniversaire
        |nacid[oa]|nacimiento|cumpleaños
        |nat[oa]|nascita|compleanno
        |geboren|geboortedatum|verjaardag
        |urodzon[ya]|urodzenia|urodziny
    """,
    "PERSON": r"""
        my\ name\ is|name\ is|name:|i\ am|i'm|this\ is|call|called|named|contact|dear|hi
        |hello|hey|with|for|from|ask|tell|meet|met|email|mail|by|and|to|cc|signed
        |mein\ name\ ist|ich\ heiße|ich\ heisse|ich\ bin|heißt|hallo|liebe[r]?|mit|für|von
        |je\ m'appelle|je\ m’appelle|je\ suis|appelle|bonjour|cher|chère|avec|pour|de\ la\ part\ de
        |me\ llamo|mi\ nombre\ es|soy|hola|querid[oa]|con|para|estimad[oa]
        |mi\ chiamo|il\ mio\ nome\ è|sono|ciao|car[oa]|gentile|per
        |mijn\ naam\ is|ik\ ben|ik\ heet|hoi|beste|met|voor|van
        |nazywam\ się|mam\ na\ imię|jestem|cześć|drogi|droga|z|dla|od|do
    """,
    "LOCATION": r"""
        moved\ to|move\ to|moving\ to|live\ in|lives\ in|living\ in|live\ at|lives\ at
        |is\ in|are\ in|was\ in|based\ in|located\ in|located\ at|address\ is|address:|from
        |relocated\ to|stay\ in|staying\ in|born\ in|resident\ of|visit|visiting|near
        |wohne\ in|wohnt\ in|lebe\ in|umgezogen\ nach|ziehe\ nach|nach|adresse|anschrift
        |findet\ in|ist\ in|aus
        |j'habite\ à|j’habite\ à|habite\ à|habite|vis\ à|déménagé\ à|demenage\ a|à|adresse
        |vivo\ en|vive\ en|me\ mudé\ a|mudado\ a|está\ en|dirección|direccion|en
        |abito\ a|abita\ a|vivo\ a|trasferit[oa]\ a|indirizzo|è\ a|si\ trova\ a|a
        |woon\ in|woont\ in|verhuisd\ naar|adres|naar
        |mieszkam\ w|mieszka\ w|przeprowadził[ae]m\ się\ do|przeprowadziłem\ się\ do|adres|w|do
    """,
}


@cache
def context_regex(kind: str) -> re.Pattern[str]:
    """The compiled context regex for ``kind``; matches a whole context word or phrase."""
    body = _CONTEXT[kind]
    return re.compile(rf"(?<![\w])(?:{body})(?![\w])", re.IGNORECASE | re.VERBOSE)


def has_context(kind: str, text: str, start: int, window: int = WINDOW) -> bool:
    """True when a context word of ``kind`` occurs in the ``window`` characters before start."""
    lo = max(0, start - window)
    return context_regex(kind).search(text, lo, start) is not None


#: Words that, right before a capitalised phrase, make it a place.  Checked at the end of
#: the text before the phrase, so "I moved to Sevilla" and "mieszkam w Sosnowcu" are places.
_PLACE_LEAD = re.compile(
    r"""(?:moved\ to|move\ to|moving\ to|relocated\ to|live\ in|lives\ in|living\ in|live\ at
    |lives\ at|is\ in|are\ in|was\ in|were\ in|based\ in|located\ in|located\ at
    |stay\ in|staying\ in
    |born\ in|resident\ of|address\ is|address:|visit|visiting|trip\ to|travel\ to|flight\ to
    |wohne\ in|wohnt\ in|lebe\ in|lebt\ in|umgezogen\ nach|ziehe\ nach|zog\ nach|ist\ in|sind\ in
    |findet\ in|geboren\ in|adresse:|anschrift:|wohnhaft\ in
    |habite\ à|habite\ a|vis\ à|vit\ à|déménagé\ à|demenage\ a|déménage\ à|est\ à|sont\ à
    |né\ à|née\ à
    |adresse\ est|habite\ au|habite\ en
    |vivo\ en|vive\ en|vivimos\ en|me\ mudé\ a|me\ he\ mudado\ a|mudé\ a|mudado\ a|está\ en|es\ en
    |nací\ en|dirección:|mi\ dirección\ es|resido\ en
    |abito\ a|abita\ a|vivo\ a|vive\ a|trasferit[oa]\ a|è\ a|si\ trova\ a|nato\ a|nata\ a|abito\ in
    |indirizzo:|mi\ sono\ trasferit[oa]\ a|sono\ a
    |woon\ in|woont\ in|wonen\ in|verhuisd\ naar|is\ in|ben\ in|adres:|geboren\ in
    |mieszkam\ w|mieszka\ w|mieszkamy\ w|przeprowadził[ae]m\ się\ do|przeprowadziłam\ się\ do
    |przeprowadzam\ się\ do|jest\ w|adres:|urodził[ae]m\ się\ w)[ ]$""",
    re.IGNORECASE | re.VERBOSE,
)

#: Words right before a capitalised phrase that make it a person.
_PERSON_LEAD = re.compile(
    r"""(?:my\ name\ is|name\ is|name:|i\ am|i'm|this\ is|call|called|named|contact:?|dear|hi,?
    |hello,?|hey,?|with|for|from|ask|tell|meet|met|email|e-mail|text|by|and|cc:?|signed
    |thank|thanks|remind|invite|congratulate|help|told|said|wife|husband|friend|colleague|boss
    |son|daughter|mother|father|brother|sister|mum|mom|dad|manager|client|customer|patient
    |mein\ name\ ist|ich\ heiße|ich\ heisse|ich\ bin|heißt|heisst|hallo|liebe[r]?|mit|für|von|an|und
    |je\ m'appelle|je\ m’appelle|je\ suis|appelle|appeler|bonjour|cher|chère|avec|pour|et
    |de\ la\ part\ de
    |me\ llamo|mi\ nombre\ es|soy|hola|querid[oa]|con|para|estimad[oa]|llamar\ a|y
    |mi\ chiamo|il\ mio\ nome\ è|sono|ciao|car[oa]|gentile|per|chiamare|e
    |mijn\ naam\ is|ik\ ben|ik\ heet|hoi|beste|met|voor|van|bellen|en
    |nazywam\ się|mam\ na\ imię|jestem|cześć|drogi|droga|dla|od|zadzwonić\ do|i)[ ]$""",
    re.IGNORECASE | re.VERBOSE,
)

#: Strong person cues: after these a capitalised phrase is a name even if no lexicon knows it.
_PERSON_STRONG = re.compile(
    r"""(?:my\ name\ is|name\ is|name:|i\ am\ called|named|signed|dear|mein\ name\ ist|ich\ heiße
    |ich\ heisse|je\ m'appelle|je\ m’appelle|me\ llamo|mi\ nombre\ es|mi\ chiamo|il\ mio\ nome\ è
    |mijn\ naam\ is|ik\ heet|nazywam\ się|mam\ na\ imię|contact:)[ ]$""",
    re.IGNORECASE | re.VERBOSE,
)


def _tail(text: str, start: int, width: int = 40) -> str:
    """The text just before ``start`` (bounded), for anchored look-behind context checks."""
    return text[max(0, start - width) : start]


def place_lead(text: str, start: int) -> bool:
    """True when the words right before ``start`` introduce a place ("moved to ")."""
    return _PLACE_LEAD.search(_tail(text, start)) is not None


def person_lead(text: str, start: int) -> bool:
    """True when the words right before ``start`` often introduce a person ("with ")."""
    return _PERSON_LEAD.search(_tail(text, start)) is not None


def person_strong(text: str, start: int) -> bool:
    """True when the words right before ``start`` announce a name ("my name is ")."""
    return _PERSON_STRONG.search(_tail(text, start)) is not None
